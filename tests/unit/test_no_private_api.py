"""`bot/` uses its libraries through their public API only (SQLAlchemy has no upper bound).

Why an AST walk rather than a grep for the private names we know: a grep finds only
`_result_columns` and the others that `driver_sql.py` once used, while the next private name
would slip through. Types are unknown to an AST, so the rule is by name: an attribute or a
keyword argument whose name starts with `_` must be one that code in `bot/` defines (our own
`self._rows`); any other is a library's private name. Dunders (`__table__`, `__name__`) are
public by convention, and a few underscored names are public API, named so to stay clear of
column and field names.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

from tests.support.paths import ROOT

BOT = ROOT / "bot"
# Documented public API: SQLAlchemy's Row (`row._mapping`, `row._fields` …) and namedtuple's.
PUBLIC_UNDERSCORED = frozenset({"_mapping", "_fields", "_asdict", "_tuple", "_t", "_replace"})
# What bot/store/driver_sql.py read from SQLAlchemy's compiler and types until issue 13.
ONCE_USED = ("_result_columns", "_bind_processors", "_cached_result_processor")


def modules() -> list[tuple[Path, ast.Module]]:
    return [(path, ast.parse(path.read_text(), str(path))) for path in sorted(BOT.rglob("*.py"))]


def defined_names(tree: ast.Module) -> Iterator[str]:
    """Every name a module binds: functions, classes, arguments, variables, attributes, imports."""
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            yield node.name
        elif isinstance(node, ast.arg):
            yield node.arg
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            yield node.id
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
            yield node.attr
        elif isinstance(node, ast.alias):
            yield node.asname or node.name.split(".")[0]


def is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def underscored(node: ast.AST) -> Iterator[str]:
    """A private attribute read (`.name`) or keyword argument passed (`name=`) at this node."""
    if isinstance(node, ast.Attribute) and is_private(node.attr):
        yield f".{node.attr}"
    elif isinstance(node, ast.keyword) and node.arg is not None and is_private(node.arg):
        yield f"{node.arg}="


def test_no_module_reads_a_librarys_private_attribute_or_argument() -> None:
    parsed = modules()
    ours = {name for _path, tree in parsed for name in defined_names(tree)} | PUBLIC_UNDERSCORED
    foreign = [
        f"{path.relative_to(BOT.parent)}:{node.lineno}: {name}"
        for path, tree in parsed
        for node in ast.walk(tree)
        for name in underscored(node)
        if name.lstrip(".=") not in ours
    ]
    assert foreign == [], "private attributes of a library (use its public API):\n" + "\n".join(
        foreign
    )


def test_no_module_imports_a_librarys_private_module_or_name() -> None:
    imports = [
        f"{path.relative_to(BOT.parent)}:{node.lineno}: {node.module}"
        for path, tree in modules()
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom)
        and node.module
        and node.module.split(".")[0] not in {"bot", "__future__"}
        and (
            any(is_private(part) for part in node.module.split("."))
            or any(is_private(alias.name) for alias in node.names)
        )
    ]
    assert imports == []


def test_the_private_names_once_read_appear_nowhere() -> None:
    """Not even as strings, as getattr would spell them."""
    found = [
        f"{path.relative_to(BOT.parent)}: {name}"
        for path in sorted(BOT.rglob("*.py"))
        for name in ONCE_USED
        if name in path.read_text()
    ]
    assert found == []

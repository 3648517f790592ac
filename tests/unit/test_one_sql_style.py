"""One SQL style: Core over the tables `bot/store/tables.py` names; SQLModel only declares them.

An AST walk, so that a module opening an ORM session, or taking a table from a module that
merely imported it, fails here rather than in review.
"""

from __future__ import annotations

import ast
from pathlib import Path

from sqlalchemy import Table

import bot.store.tables
from tests.support.paths import ROOT

BOT = ROOT / "bot"
MODELS = BOT / "store" / "models.py"  # SQLModel declares the tables here, and only here
TABLES_MODULE = "bot.store.tables"
TABLE_NAMES = frozenset(
    name for name, value in vars(bot.store.tables).items() if isinstance(value, Table)
)
ORM_SESSION_NAMES = frozenset({"Session", "sessionmaker", "scoped_session"})
ORM_SESSION_MODULES = ("sqlmodel", "sqlalchemy.orm")  # and their submodules


def _python_files(*folders: str) -> list[Path]:
    return sorted(path for folder in folders for path in (ROOT / folder).rglob("*.py"))


def _shown(path: Path) -> str:
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else path.name


def _is_within(module: str, packages: tuple[str, ...]) -> bool:
    return any(module == package or module.startswith(f"{package}.") for package in packages)


def orm_uses(path: Path) -> list[str]:
    """SQLModel imported, an ORM session imported or named, or SQLModel's `session.exec`."""
    tree = ast.parse(path.read_text(), filename=str(path))
    where = _shown(path)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            if _is_within(node.module, ("sqlmodel",)):
                found.append(f"{where}:{node.lineno}: imports from {node.module}")
            elif _is_within(node.module, ORM_SESSION_MODULES):
                found.extend(
                    f"{where}:{node.lineno}: imports {node.module}.{alias.name}"
                    for alias in node.names
                    if alias.name in ORM_SESSION_NAMES
                )
        elif isinstance(node, ast.Import):
            found.extend(
                f"{where}:{node.lineno}: imports {alias.name}"
                for alias in node.names
                if _is_within(alias.name, ("sqlmodel",))
            )
        elif isinstance(node, ast.Attribute) and node.attr in ORM_SESSION_NAMES:
            found.append(f"{where}:{node.lineno}: uses {ast.unparse(node)}")
        elif isinstance(node, ast.Attribute) and node.attr == "exec":
            found.append(f"{where}:{node.lineno}: calls {ast.unparse(node)}")
    return found


def borrowed_tables(path: Path) -> list[str]:
    """A table name imported from a module other than bot.store.tables, or bound anew."""
    tree = ast.parse(path.read_text(), filename=str(path))
    where = _shown(path)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module != TABLES_MODULE:
            found.extend(
                f"{where}:{node.lineno}: imports {alias.name} from {node.module}"
                for alias in node.names
                if alias.name in TABLE_NAMES
            )
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            found.extend(
                f"{where}:{node.lineno}: binds {target.id} itself"
                for target in targets
                if isinstance(target, ast.Name) and target.id in TABLE_NAMES
            )
    return found


def test_only_the_models_use_sqlmodel_and_no_module_opens_an_orm_session() -> None:
    found = [line for path in _python_files("bot") if path != MODELS for line in orm_uses(path)]
    assert found == [], "use Core (connection.execute over bot.store.tables):\n" + "\n".join(found)


def test_every_module_takes_its_tables_from_the_tables_module() -> None:
    tables_file = BOT / "store" / "tables.py"
    found = [
        line
        for path in _python_files("bot", "tests", "bench")
        if path != tables_file
        for line in borrowed_tables(path)
    ]
    assert found == [], f"import table names from {TABLES_MODULE}:\n" + "\n".join(found)


def test_the_checks_see_what_they_look_for(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text(
        "import sqlmodel\n"
        "from sqlalchemy.orm import Mapper, Session\n"
        "from bot.store.subscribers import SUBSCRIBERS\n"
        "from bot.store.tables import MESSAGES\n"
        "ANSWERS = Answer.__table__\n"
        "with sqlmodel.Session(db) as session:\n"
        "    session.exec(select(MESSAGES))\n"
    )
    assert orm_uses(sample) == [
        "sample.py:1: imports sqlmodel",
        "sample.py:2: imports sqlalchemy.orm.Session",
        "sample.py:6: uses sqlmodel.Session",
        "sample.py:7: calls session.exec",
    ]
    assert borrowed_tables(sample) == [
        "sample.py:3: imports SUBSCRIBERS from bot.store.subscribers",
        "sample.py:5: binds ANSWERS itself",
    ]

"""A module's `_private` names are its own: no other module in bot/ imports or reaches for them."""

from __future__ import annotations

import ast
from pathlib import Path

BOT = Path(__file__).resolve().parents[2] / "bot"


def _is_private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def reaches_into(path: Path) -> list[str]:
    """`from bot.x import _y` and `x._y` where `x` is a bot module this file imported."""
    tree = ast.parse(path.read_text(), filename=str(path))
    bot_modules: set[str] = set()
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("bot"):
            for alias in node.names:
                if _is_private(alias.name):
                    found.append(f"{path.name}:{node.lineno}: imports {node.module}.{alias.name}")
                bot_modules.add(alias.asname or alias.name)
        elif isinstance(node, ast.Import):
            bot_modules.update(
                alias.asname or alias.name for alias in node.names if alias.name.startswith("bot")
            )
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id in bot_modules
            and _is_private(node.attr)
        ):
            found.append(f"{path.name}:{node.lineno}: uses {node.value.id}.{node.attr}")
    return found


def test_no_module_uses_another_modules_private_names() -> None:
    assert [line for path in sorted(BOT.rglob("*.py")) for line in reaches_into(path)] == []


def test_the_check_sees_both_ways_in(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text(
        "from bot.web import inbox\nfrom bot.campaigns.preview import _start\ninbox._here()\n"
    )
    assert reaches_into(sample) == [
        "sample.py:2: imports bot.campaigns.preview._start",
        "sample.py:3: uses inbox._here",
    ]

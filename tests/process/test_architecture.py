"""docs/architecture.md is the map a newcomer reads: every room is on it, and its rules hold."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.support.paths import ROOT

MAP = (ROOT / "docs" / "architecture.md").read_text()


def test_every_room_is_on_the_map() -> None:
    rooms = sorted(
        f"`bot/{folder.name}/`"
        for folder in (ROOT / "bot").iterdir()
        if (folder / "__init__.py").exists()
    )
    assert [room for room in rooms if room not in MAP] == []


def test_top_level_keeps_only_its_entry_modules() -> None:
    # The rooms hold the work; bot/ itself only wires it together.
    modules = sorted(path.name for path in (ROOT / "bot").glob("*.py"))
    assert modules == ["__init__.py", "__main__.py", "app.py", "services.py", "settings.py"]


def test_the_house_rules_hold() -> None:
    # import-linter: the engine and the domain import no infrastructure; rooms depend downwards.
    checked = subprocess.run(
        [str(Path(sys.executable).with_name("lint-imports")), "--no-cache"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert checked.returncode == 0, checked.stdout[-3000:]


def test_a_worker_a_clock_or_bot_text_imports_no_web_framework() -> None:
    # Only web processes need Flask: importing it cost every `bot worker` and clock ~0.1 s at
    # start (75 modules), and `bot text`, which signs its request as Twilio does, 0.04 s.
    loaded = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, bot.cli, bot.services, bot.cli.running, bot.cli.texting, bot.twilio.phone;"
            " print(sorted({m.split('.')[0] for m in sys.modules} & {'flask', 'jinja2'}))",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    assert loaded.stdout.strip() == "[]"

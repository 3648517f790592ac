"""The `bot` command, run as a user runs it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.cli import main
from bot.testing.processes import HUNG_AFTER
from tests.support.paths import SHIPPED_FLOWS

BOT = str(Path(sys.executable).with_name("bot"))


@pytest.fixture
def runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path}/bot.db")
    monkeypatch.setenv("BRAND_NAME", "Acme")
    return CliRunner()


def test_db_upgrade_then_chat(runner: CliRunner) -> None:
    upgraded = runner.invoke(main, ["db", "upgrade"])
    assert upgraded.exit_code == 0, upgraded.output
    assert "is at revision" in upgraded.output
    chat = runner.invoke(main, ["chat", "--phone", "(415) 555-0100"], input="HELP\nJOIN\nY\nSTOP\n")
    assert chat.exit_code == 0, chat.output
    lines = [line for line in chat.output.splitlines() if line.startswith("bot> ")]
    assert len(lines) == 4
    assert "Msg & data rates may apply" in lines[0]
    assert "Reply Y" in lines[1]
    assert "You are subscribed" in lines[2]
    assert "unsubscribed" in lines[3]


def test_db_upgrade_twice_is_harmless(runner: CliRunner) -> None:
    assert runner.invoke(main, ["db", "upgrade"]).exit_code == 0
    assert runner.invoke(main, ["db", "upgrade"]).exit_code == 0


def test_chat_on_an_unmigrated_database_says_what_to_do(runner: CliRunner) -> None:
    result = runner.invoke(main, ["chat", "--phone", "+14155550100"], input="HELP\n")
    assert result.exit_code == 1
    assert "run `bot db upgrade` first" in result.output


def test_chat_with_a_bad_phone_names_the_option(runner: CliRunner) -> None:
    runner.invoke(main, ["db", "upgrade"])
    result = runner.invoke(main, ["chat", "--phone", "banana"])
    assert result.exit_code == 2 and "--phone" in result.output


def test_a_bad_setting_is_one_line_and_no_traceback(tmp_path: Path) -> None:
    environment = {**os.environ, "PORT": "abc", "DATABASE_URL": f"sqlite:///{tmp_path}/x.db"}
    result = subprocess.run(
        [BOT, "serve"],
        env=environment,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=HUNG_AFTER,
    )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "Error: Bad configuration: PORT (got 'abc'): "
        "Input should be a valid integer, unable to parse string as an integer"
    ]


REMINDER_FLOW = """\
flow: reminder
triggers:
  events: [reminder_due]
steps:
  - id: an_hour
    wait: 1h
  - end: "Your appointment is tomorrow at {event.time|noon}."
"""


def test_chat_walks_through_a_flow_with_time_and_events(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    flows = tmp_path / "flows"
    flows.mkdir()
    (flows / "reminder.yaml").write_text(REMINDER_FLOW, encoding="utf-8")
    (flows / "nps.yaml").write_text((SHIPPED_FLOWS / "nps.yaml").read_text(encoding="utf-8"))
    monkeypatch.setenv("FLOWS_DIR", str(flows))
    assert runner.invoke(main, ["db", "upgrade"]).exit_code == 0
    typed = [
        "SURVEY",
        "9",
        "the staff",
        '/event reminder_due {"time": "9:30"}',
        "/wait 30m",
        "/wait 30m",
        "/wait 2d",
        "/event",
        "/event reminder_due [1]",
        "/wait soon",
    ]
    chat = runner.invoke(main, ["chat", "--phone", "+14155550100"], input="\n".join(typed) + "\n")
    assert chat.exit_code == 0, chat.output
    assert chat.output.splitlines()[2:] == [
        "bot> Acme: How likely are you to recommend us to a friend? Reply 0 (not at all) to 10"
        " (extremely).",
        "bot> Thank you! What do you love most about Acme?",
        "bot> Thank you for your feedback!",
        "(event reminder_due posted)",
        "(30m later)",
        "(30m later)",
        "bot> Your appointment is tomorrow at 9:30.",
        "(2d later)",
        "(/event needs a type, e.g. /event cart_abandoned)",
        "(/event: the data must be a JSON object)",
        "(/wait: cannot read 'soon' as a duration; write it like 30s, 15m, 2h, 1d, 1w, 1d 12h"
        " or 90 minutes)",
    ]


@pytest.mark.parametrize("module", ["bot.twilio.fake_server", "bot.testing.fake_twilio"])
def test_the_fake_twilio_server_starts_by_its_name_and_by_its_old_one(module: str) -> None:
    # The README named `bot.testing.fake_twilio` before the move into rooms: it still works.
    run = subprocess.run(
        [sys.executable, "-m", module, "--help"], capture_output=True, text=True, timeout=HUNG_AFTER
    )
    assert run.returncode == 0, run.stderr
    assert "--port" in run.stdout

"""A warm-started command (tests/support/warm_start.py) behaves as the same command started cold:
what it prints, where, and how it ends, signals included."""

from __future__ import annotations

import importlib
import importlib.util
import os
import signal
import subprocess
from pathlib import Path

import pytest

from bot.testing.processes import BIN, HUNG_AFTER, ROOT, free_port, wait_until
from tests.support.warm_start import FREEZES_PRELOADS, PRELOADED, WarmProcess, warm_run

BOT = str(BIN / "bot")


def cold_run(command: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command, env=env, cwd=ROOT, capture_output=True, text=True, timeout=HUNG_AFTER
    )


@pytest.mark.parametrize(
    ("arguments", "exit_status", "stream"),
    [
        (["--help"], 0, "stdout"),
        (["worker", "--no-such-option"], 2, "stderr"),  # click's usage error
        (["text", "+14155550100", "HELP"], 1, "stderr"),  # the bad SEND_RATE below: one line
    ],
)
def test_a_warm_command_prints_and_exits_as_a_cold_one(
    arguments: list[str], exit_status: int, stream: str, tmp_path: Path
) -> None:
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path}/x.db", "SEND_RATE": "fast"}
    cold = cold_run([BOT, *arguments], env)
    warm = warm_run([BOT, *arguments], env, HUNG_AFTER)
    assert (warm.returncode, warm.stdout, warm.stderr) == (
        cold.returncode,
        cold.stdout,
        cold.stderr,
    )
    assert cold.returncode == exit_status and getattr(cold, stream)  # each case is the one named


def test_a_warm_command_reads_the_environment_it_was_given(tmp_path: Path) -> None:
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path}/given.db"}
    warm_run([BOT, "db", "upgrade"], env, HUNG_AFTER).check_returncode()
    assert (tmp_path / "given.db").exists()


def test_a_web_process_whose_app_cannot_start_stops_as_a_cold_one_does(tmp_path: Path) -> None:
    """Without --bind, gunicorn listens on PORT from the environment it was started in, read
    when gunicorn is imported: a warm start must import it afresh, not inherit it."""
    port = str(free_port())
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path}/x.db", "SEND_RATE": "fast"}
    env["PORT"] = port
    command = [str(BIN / "gunicorn"), "webhook:app"]
    said = "parley: Bad configuration: SEND_RATE (got 'fast')"
    listening = f"Listening at: http://0.0.0.0:{port} "
    for run in (cold_run(command, env), warm_run(command, env, HUNG_AFTER)):
        assert run.returncode == 3, run.stderr  # gunicorn's "worker failed to boot"
        assert said in run.stderr and listening in run.stderr


def test_a_killed_or_stopped_warm_process_reports_the_signal_as_popen_does(tmp_path: Path) -> None:
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path}/bot.db", "PYTHONUNBUFFERED": "1"}
    warm_run([BOT, "db", "upgrade"], env, HUNG_AFTER).check_returncode()
    log = tmp_path / "worker.log"
    for stop, ends_with in ((signal.SIGTERM, 0), (signal.SIGKILL, -signal.SIGKILL)):
        log.write_text("")
        worker = WarmProcess([BOT, "worker"], env, stdout=log, stderr=subprocess.STDOUT)
        # Logged once its signal handlers are in place.
        wait_until(lambda: "sending through" in log.read_text(), [worker], what="the worker")
        worker.send_signal(stop)
        assert worker.wait(timeout=HUNG_AFTER) == ends_with, log.read_text()


def test_every_module_the_fork_server_preloads_exists() -> None:
    """The fork server skips a preload it cannot import without a word: a renamed module would
    leave every warm start cold, and slow, but passing."""
    for name in PRELOADED:
        importlib.import_module(name)
    # Found, not imported: importing it would freeze this test process.
    assert importlib.util.find_spec(FREEZES_PRELOADS) is not None


def test_only_bot_and_gunicorn_commands_start_warm() -> None:
    with pytest.raises(ValueError, match="only `bot` and gunicorn"):
        WarmProcess(["python", "-c", "pass"], {})

"""The clock: one per deployment, and timers that came due while it was down fire once."""

from __future__ import annotations

import os
import queue
import subprocess
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlmodel import Session, select

from bot.app import create_app, services_of
from bot.clock import ClockBusy, ClockLock
from bot.db import make_engine
from bot.gateways.fake import FakeGateway
from bot.models import Conversation
from bot.testing.clock import FakeClock
from tests.conftest import SHIPPED_FLOWS, make_settings
from tests.processes import BIN
from tests.sms import reply_to

START = datetime(2026, 1, 5, 18, 0, tzinfo=UTC)


def test_a_second_lock_is_refused_until_the_first_is_released(database_url: str) -> None:
    engine = make_engine(database_url)
    first, second = ClockLock(engine), ClockLock(engine)
    first.acquire(wait=False)
    with pytest.raises(ClockBusy):
        second.acquire(wait=False)
    first.release()
    second.acquire(wait=False)
    second.release()
    engine.dispose()


def test_timers_that_came_due_while_down_fire_once_on_start(database_url: str) -> None:
    settings = make_settings(database_url, FLOWS_DIR=SHIPPED_FLOWS)
    before = create_app(settings, gateway=FakeGateway(), clock=FakeClock(START))
    reply_to(before.test_client(), "SURVEY")
    services_of(before).engine.dispose()  # the process stops; two days pass

    gateway = FakeGateway()
    after = create_app(settings, gateway=gateway, clock=FakeClock(START + timedelta(days=2)))
    services = services_of(after)
    for _ in range(3):  # the clock's first tick, and the ones after it
        services.dispatcher.send(services.conversations.fire_due_timers())
    assert [text.body.split("?")[0] for text in gateway.outbox] == ["Acme: Got a second"]
    with Session(services.engine) as session:
        [conversation] = session.scalars(select(Conversation))
    assert (conversation.step, conversation.wakes_at) == ("nudge", None)  # fired, moved on


class ClockProcess:
    """`bot clock` as a subprocess, with its output read line by line."""

    def __init__(self, database_url: str, *args: str) -> None:
        env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "FLOWS_DIR": str(SHIPPED_FLOWS),
            "PYTHONUNBUFFERED": "1",
        }
        self.process = subprocess.Popen(
            [str(BIN / "bot"), "clock", *args],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line)

    def wait_for(self, words: str, timeout: float = 120) -> str:
        deadline = time.monotonic() + timeout
        seen = []
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.2)
            except queue.Empty:
                continue
            seen.append(line)
            if words in line:
                return line
        raise AssertionError(f"{words!r} never appeared in:\n{''.join(seen)}")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def migrated(database_url: str) -> str:
    env = {**os.environ, "DATABASE_URL": database_url}
    subprocess.run([str(BIN / "bot"), "db", "upgrade"], env=env, check=True, capture_output=True)
    return database_url


def test_only_one_clock_runs_and_a_waiting_one_takes_over(
    database_url: str, tmp_path: Path
) -> None:
    url = migrated(database_url)
    first = ClockProcess(url)
    waiting: ClockProcess | None = None
    try:
        first.wait_for("Clock running")
        refused = subprocess.run(
            [str(BIN / "bot"), "clock", "--no-wait"],
            env={**os.environ, "DATABASE_URL": url, "FLOWS_DIR": str(SHIPPED_FLOWS)},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert refused.returncode == 1
        assert "another clock is already running" in refused.stderr
        waiting = ClockProcess(url)
        waiting.wait_for("waiting to take over")
        first.stop()
        waiting.wait_for("Clock running")
    finally:
        first.stop()
        if waiting is not None:
            waiting.stop()

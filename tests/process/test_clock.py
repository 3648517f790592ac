"""The clock: one per deployment, and timers that came due while it was down fire once."""

from __future__ import annotations

import dataclasses
import logging
import os
import queue
import subprocess
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from apscheduler.events import EVENT_JOB_MAX_INSTANCES, JobExecutionEvent
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.base import BaseScheduler
from flask import Flask
from sqlalchemy import Engine, event, text
from sqlmodel import Session, select

from bot.app import create_app, services_of
from bot.domain.vocabulary import HandledBy
from bot.sending.gateways.fake import FakeGateway
from bot.store import timer_alarm
from bot.store.db import make_db, transaction
from bot.store.models import Conversation
from bot.testing.clock import FakeClock
from bot.testing.processes import BIN, HUNG_AFTER, wait_until
from bot.timers import scheduler as clock_process
from bot.timers.scheduler import (
    TICK_JOB_ID,
    ClockBusy,
    ClockLock,
    build_scheduler,
    tick,
    timer_work,
)
from tests.support.databases import PostgresDatabase
from tests.support.harness import make_settings
from tests.support.passwords import hash_once
from tests.support.paths import SHIPPED_FLOWS
from tests.support.sms import reply_to
from tests.support.statements import StatementCounter
from tests.support.warm_start import WarmProcess, warm_run

START = datetime(2026, 1, 5, 18, 0, tzinfo=UTC)


def test_a_second_lock_is_refused_until_the_first_is_released(database_url: str) -> None:
    db = make_db(database_url)
    first, second = ClockLock(db), ClockLock(db)
    first.acquire(wait=False)
    with pytest.raises(ClockBusy):
        second.acquire(wait=False)
    first.release()
    second.acquire(wait=False)
    second.release()
    db.dispose()


class LockWaits:
    """Counts the blocking advisory-lock waits `db` starts."""

    def __init__(self, db: Engine) -> None:
        self.started = 0
        event.listen(db, "before_cursor_execute", self._seen)

    def _seen(self, _connection: object, _cursor: object, statement: str, *_rest: object) -> None:
        if "pg_advisory_lock(" in statement:
            self.started += 1

    def wait_for(self, count: int, waiter: threading.Thread) -> None:
        """Until `count` waits have begun, or (the fault) the standby stopped waiting."""
        wait_until(lambda: self.started >= count or not waiter.is_alive(), [], what="a wait")
        assert waiter.is_alive(), "the standby stopped waiting before it had the lock"


class Announced(logging.Handler):
    """Sets `seen` once the clock's logger says `words`."""

    def __init__(self, words: str) -> None:
        super().__init__()
        self.words = words
        self.seen = threading.Event()

    def emit(self, record: logging.LogRecord) -> None:
        if self.words in record.getMessage():
            self.seen.set()


def wait_in_a_thread(lock: ClockLock, wait_seconds: float) -> threading.Thread:
    """A standby clock waiting for the lock, once it has found it taken and said it waits (in
    a thread: flock and advisory locks are per descriptor and per session, so it waits on the
    running one as another process would)."""
    announced = Announced("waiting to take over")
    logger = logging.getLogger(clock_process.__name__)
    logger.addHandler(announced)
    try:
        waiter = threading.Thread(
            target=lock.acquire, kwargs={"wait": True, "wait_seconds": wait_seconds}, daemon=True
        )
        waiter.start()
        assert announced.seen.wait(timeout=HUNG_AFTER), "the standby never began to wait"
    finally:
        logger.removeHandler(announced)
    return waiter


def assert_took_over(waiter: threading.Thread, running: ClockLock, standby: ClockLock) -> None:
    """The standby's wait ended with the lock in its hands."""
    waiter.join(timeout=HUNG_AFTER)
    assert not waiter.is_alive(), "the standby did not take over when the lock was released"
    with pytest.raises(ClockBusy):
        running.acquire(wait=False)
    standby.release()


def test_a_standby_clock_takes_the_lock_the_moment_it_is_released(database_url: str) -> None:
    db = make_db(database_url)
    running, standby = ClockLock(db), ClockLock(db)
    running.acquire(wait=False)
    # Its one wait outlasts the hang guard: only a wake-up on release can let it through.
    waiter = wait_in_a_thread(standby, wait_seconds=HUNG_AFTER * 10)
    running.release()
    assert_took_over(waiter, running, standby)
    db.dispose()


def test_a_standby_whose_wait_runs_out_waits_again(postgres_database: PostgresDatabase) -> None:
    # PostgreSQL's alone: an flock wait has no time limit, so nothing runs out on SQLite.
    db = make_db(postgres_database.fresh())
    running, standby = ClockLock(db), ClockLock(db)
    running.acquire(wait=False)
    waits = LockWaits(db)
    waiter = wait_in_a_thread(standby, wait_seconds=0.01)  # lock_timeout 10 ms, again and again
    waits.wait_for(3, waiter)  # two ran out, and it began again on new connections
    running.release()
    assert_took_over(waiter, running, standby)
    db.dispose()


_WAITING_FOR_THE_LOCK = text(
    "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
    " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
)


def test_a_standby_outlives_the_server_ending_its_wait(postgres_database: PostgresDatabase) -> None:
    db = make_db(postgres_database.fresh())
    running, standby = ClockLock(db), ClockLock(db)
    running.acquire(wait=False)
    waits = LockWaits(db)
    waiter = wait_in_a_thread(standby, wait_seconds=HUNG_AFTER * 10)
    with db.connect() as admin:

        def waiting() -> list[int]:
            return list(admin.execute(_WAITING_FOR_THE_LOCK).scalars())

        wait_until(lambda: bool(waiting()), [], what="the standby's wait at the server")
        # As a server restart or a fail-over would: its session ends mid-wait.
        for pid in waiting():
            admin.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    waits.wait_for(2, waiter)  # it waits again, on a new connection
    running.release()
    assert_took_over(waiter, running, standby)
    db.dispose()


def test_timers_that_came_due_while_down_fire_once_on_start(database_url: str) -> None:
    settings = make_settings(database_url, FLOWS_DIR=SHIPPED_FLOWS)
    before = create_app(settings, gateway=FakeGateway(), clock=FakeClock(START))
    reply_to(before.test_client(), "SURVEY")
    services_of(before).close()  # the process stops; two days pass

    gateway = FakeGateway()
    after = create_app(settings, gateway=gateway, clock=FakeClock(START + timedelta(days=2)))
    services = services_of(after)
    for _ in range(3):  # the clock's first tick, and the ones after it
        services.dispatcher.send(services.conversations.fire_due_timers())
    assert [text.body.split("?")[0] for text in gateway.outbox] == ["Acme: Got a second"]
    with Session(services.db) as session:
        [conversation] = session.scalars(select(Conversation))
    assert (conversation.step, conversation.wakes_at) == ("nudge", None)  # fired, moved on


# --- sleeping until the next due timer ------------------------------------------------------------

LATER = """\
flow: later
triggers:
  keywords: [LATER]
steps:
  - send: "Back in a moment."
  - id: pause
    wait: 45s
  - end: "Back again."
"""
HUMAN = """\
flow: human
triggers:
  keywords: [HUMAN]
steps:
  - id: to_a_human
    handoff: "A teammate will text you."
  - end: "Bye."
"""
LONG_SLEEP = timedelta(hours=1)  # the cap, long enough that any wake-up earlier is a due timer
FLOW_WAIT = timedelta(seconds=45)


def timer_app(database_url: str, tmp_path: Path, clock: FakeClock) -> Flask:
    flows = tmp_path / "flows"
    flows.mkdir(exist_ok=True)
    (flows / "later.yaml").write_text(LATER, encoding="utf-8")
    (flows / "human.yaml").write_text(HUMAN, encoding="utf-8")
    settings = make_settings(database_url, FLOWS_DIR=flows, AGENT_IDLE_MINUTES=30)
    return create_app(settings, gateway=FakeGateway(clock=clock), clock=clock)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


@pytest.fixture
def app(database_url: str, tmp_path: Path, clock: FakeClock) -> Iterator[Flask]:
    app = timer_app(database_url, tmp_path, clock)
    yield app
    services_of(app).close()


def paused_scheduler(app: Flask, clock: FakeClock) -> BaseScheduler:
    """The real scheduler and job, never running on its own: the test plays APScheduler's part,
    running `tick` at the job's next run time, on the fake clock."""
    scheduler = build_scheduler(
        timer_work(services_of(app)), blocking=False, max_sleep=LONG_SLEEP, wall=clock
    )
    scheduler.start(paused=True)
    return scheduler


def next_run(scheduler: BaseScheduler) -> datetime:
    job = scheduler.get_job(TICK_JOB_ID)
    assert job is not None and job.next_run_time is not None
    return job.next_run_time  # type: ignore[no-any-return]


def run_when_due(scheduler: BaseScheduler, clock: FakeClock) -> None:
    """What APScheduler does at the job's next run time."""
    clock.set(max(clock(), next_run(scheduler)))
    tick()


def sent(app: Flask, clock: FakeClock) -> list[str]:
    services = services_of(app)
    while services.dispatcher.run_once(clock()):
        pass
    gateway = services.gateway
    assert isinstance(gateway, FakeGateway)
    return [text.body for text in gateway.outbox]


def test_the_clock_sleeps_until_a_timer_is_due_then_fires_it(app: Flask, clock: FakeClock) -> None:
    assert reply_to(app.test_client(), "LATER") == ["Back in a moment."]
    scheduler = paused_scheduler(app, clock)
    try:
        assert next_run(scheduler) == START  # the first tick runs at once
        run_when_due(scheduler, clock)
        assert next_run(scheduler) == START + FLOW_WAIT  # not a second later: the due time
        statements = StatementCounter(services_of(app).db)
        clock.advance(FLOW_WAIT - timedelta(seconds=1))
        assert statements.count == 0  # a polling clock would have run 44 ticks by now
        run_when_due(scheduler, clock)
        assert clock() == START + FLOW_WAIT
        assert sent(app, clock)[-1] == "Back again."
        assert next_run(scheduler) == START + FLOW_WAIT + LONG_SLEEP  # nothing left: the cap
        assert clock_process._plan is not None and clock_process._plan.runs == 2
    finally:
        scheduler.shutdown(wait=False)


def test_a_timer_set_sooner_in_this_process_wakes_the_clock_at_once(
    app: Flask, clock: FakeClock
) -> None:
    scheduler = paused_scheduler(app, clock)
    try:
        run_when_due(scheduler, clock)
        assert next_run(scheduler) == START + LONG_SLEEP  # nothing to do: sleep the cap
        clock.advance(timedelta(seconds=10))
        reply_to(app.test_client(), "LATER")  # the web app of `bot serve` sets a timer
        assert next_run(scheduler) == START + timedelta(seconds=10) + FLOW_WAIT
        run_when_due(scheduler, clock)
        assert sent(app, clock)[-1] == "Back again."
    finally:
        scheduler.shutdown(wait=False)


def test_the_clock_wakes_when_an_idle_takeover_goes_back_to_the_bot(
    app: Flask, clock: FakeClock
) -> None:
    from bot.accounts.agents import create_agent
    from bot.conversations.takeover import take_over

    services = services_of(app)
    reply_to(app.test_client(), "HUMAN")
    agent = create_agent(
        services.db, "ada@acme.test", "Ada", "a long password!", now=clock(), hasher=hash_once
    )
    with Session(services.db) as session:
        [conversation] = session.scalars(select(Conversation))
    take_over(services, conversation_id=conversation.id, agent_id=agent.id)
    scheduler = paused_scheduler(app, clock)
    try:
        run_when_due(scheduler, clock)
        # release_idle wants idle for longer than AGENT_IDLE_MINUTES: just after, not at it.
        assert next_run(scheduler) == START + timedelta(minutes=30, microseconds=1)
        run_when_due(scheduler, clock)
        with Session(services.db) as session:
            assert session.get(Conversation, conversation.id).handled_by is HandledBy.BOT
    finally:
        scheduler.shutdown(wait=False)


def test_a_restarted_clock_fires_the_overdue_timer_at_once_and_only_once(
    database_url: str, tmp_path: Path, clock: FakeClock
) -> None:
    before = timer_app(database_url, tmp_path, clock)
    reply_to(before.test_client(), "LATER")
    scheduler = paused_scheduler(before, clock)
    run_when_due(scheduler, clock)
    assert next_run(scheduler) == START + FLOW_WAIT
    scheduler.shutdown(wait=False)  # the process stops before the timer; two days pass
    services_of(before).close()

    clock.advance(timedelta(days=2))
    after = timer_app(database_url, tmp_path, clock)
    scheduler = paused_scheduler(after, clock)
    try:
        assert next_run(scheduler) == clock()  # at once: the plan lives in the database
        run_when_due(scheduler, clock)
        run_when_due(scheduler, clock)
        assert sent(after, clock) == ["Back again."]
        assert next_run(scheduler) == clock() + LONG_SLEEP
    finally:
        scheduler.shutdown(wait=False)
        services_of(after).close()


def test_only_a_committed_timer_rings_the_alarm(database_url: str) -> None:
    db = make_db(database_url)
    rung: list[datetime] = []
    unlisten = timer_alarm.listen(db, rung.append)
    with pytest.raises(RuntimeError), transaction(db) as connection:
        timer_alarm.timer_set(connection, START)
        raise RuntimeError("the turn failed")
    assert rung == []
    with transaction(db) as connection:
        timer_alarm.timer_set(connection, START)
        assert rung == []  # not before the commit: the clock would look and find nothing
    assert rung == [START]
    unlisten()
    with transaction(db) as connection:
        timer_alarm.timer_set(connection, START)
    assert rung == [START]
    db.dispose()


def test_the_running_scheduler_wakes_for_an_alarm_rung_from_another_thread(
    app: Flask, clock: FakeClock
) -> None:
    """APScheduler itself, on the wall's time: it sleeps the cap unless the alarm moves it."""
    ticked = threading.Event()
    work = timer_work(services_of(app))

    def fire() -> int:
        ticked.set()
        return work.fire()

    scheduler = build_scheduler(
        dataclasses.replace(work, fire=fire), blocking=False, max_sleep=LONG_SLEEP
    )
    scheduler.start()
    try:
        assert ticked.wait(timeout=HUNG_AFTER), "the first tick never ran"
        ticked.clear()
        with transaction(services_of(app).db) as connection:
            timer_alarm.timer_set(connection, clock())  # due now, on the services' clock
        assert ticked.wait(timeout=HUNG_AFTER), "the alarm did not wake the clock"
    finally:
        scheduler.shutdown(wait=False)


class _HeldBack(ThreadPoolExecutor):
    """APScheduler's thread pool, letting go of a finished run only once `release` is set:
    the moment in which APScheduler still counts the tick as running, held open."""

    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()

    def _run_job_success(self, job_id: str, events: list[JobExecutionEvent]) -> None:
        self.release.wait(timeout=HUNG_AFTER)
        super()._run_job_success(job_id, events)


def test_an_alarm_rung_while_a_tick_runs_is_not_left_to_the_cap(
    app: Flask, clock: FakeClock
) -> None:
    """A timer committed during a tick, due now: the clock ticks again at once. Planned for
    APScheduler while the tick still ran, that run was skipped ("maximum number of running
    instances") and the next came a whole cap later (in CI, an hour of this test's)."""
    work = timer_work(services_of(app))
    calls: list[int] = []
    again_or_skipped = threading.Event()
    skipped: list[object] = []

    def fire() -> int:
        calls.append(len(calls))
        if len(calls) == 1:  # a timer is set, due now, while the first tick runs
            with transaction(services_of(app).db) as connection:
                timer_alarm.timer_set(connection, clock())
        else:
            again_or_skipped.set()
        return work.fire()

    scheduler = build_scheduler(
        dataclasses.replace(work, fire=fire), blocking=False, max_sleep=LONG_SLEEP
    )
    held_back = _HeldBack()
    scheduler.add_executor(held_back, "default")

    def skip(event_: object) -> None:
        skipped.append(event_)
        again_or_skipped.set()

    scheduler.add_listener(skip, EVENT_JOB_MAX_INSTANCES)
    scheduler.start()
    try:
        assert again_or_skipped.wait(timeout=HUNG_AFTER), "the clock never ticked again"
        assert skipped == [] and len(calls) == 2
    finally:
        held_back.release.set()
        scheduler.shutdown(wait=False)


class ClockProcess:
    """`bot clock` as a process of its own (started warm), its output read line by line."""

    def __init__(self, database_url: str, *args: str) -> None:
        env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "FLOWS_DIR": str(SHIPPED_FLOWS),
            "PYTHONUNBUFFERED": "1",
        }
        self.process = WarmProcess(
            [str(BIN / "bot"), "clock", *args],
            env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line)

    def wait_for(self, words: str, timeout: float = HUNG_AFTER) -> str:
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


def test_only_one_clock_runs_and_a_waiting_one_takes_over(database_url: str) -> None:
    url = database_url  # migrated, with its secret key, as `bot db upgrade` leaves it
    first = ClockProcess(url)
    waiting: ClockProcess | None = None
    try:
        first.wait_for("Clock running")
        refused = warm_run(
            [str(BIN / "bot"), "clock", "--no-wait"],
            {**os.environ, "DATABASE_URL": url, "FLOWS_DIR": str(SHIPPED_FLOWS)},
            HUNG_AFTER,
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

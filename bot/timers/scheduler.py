"""The clock: exactly one scheduler per deployment, resuming conversations when timers come due.

APScheduler runs one job, `tick`, which claims due timers (and expired flows, and idle
takeovers) from the database, then sleeps until the next of them comes due: it asks the database
for the earliest due moment and moves its own next run there, waking at least every
MAX_SLEEP_SECONDS so that a timer another process wrote is seen within that delay. A timer
written in this process (the web app of `bot serve`) wakes it at once through
`bot.store.timer_alarm`.

The timers are rows, not APScheduler jobs, so nothing depends on a process staying up: a clock
that starts after downtime fires every overdue timer once. APScheduler's own FAQ warns that two
schedulers sharing a job store run jobs twice; we share no job store, and a database lock makes
sure a second clock waits (or exits) instead of running.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from apscheduler.events import (
    EVENT_JOB_ERROR,
    EVENT_JOB_EXECUTED,
    EVENT_JOB_MAX_INSTANCES,
    EVENT_SCHEDULER_SHUTDOWN,
    SchedulerEvent,
)
from apscheduler.jobstores.base import JobLookupError
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from sqlalchemy import exc, text
from sqlalchemy.engine import Connection, Engine

from bot.store import timer_alarm
from bot.store.db import is_sqlite

if TYPE_CHECKING:
    from bot.services import Services

if sys.platform == "win32":  # no fcntl there
    fcntl = None
else:
    import fcntl

log = logging.getLogger(__name__)

TICK_JOB_ID = "parley.tick"
ADVISORY_LOCK_KEY = 0x5061726C6579  # "Parley": one key per database, whatever the schema
# Whether some session holds that lock: pg_locks shows a bigint key as its two 32-bit halves.
_ADVISORY_LOCK_HELD = text(
    "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted"
    " AND objsubid = 1 AND classid::bigint = :high AND objid::bigint = :low"
    " AND database = (SELECT oid FROM pg_database WHERE datname = current_database()))"
)
# The longest the clock sleeps: a timer written by another process (a `web` or a `bot chat`)
# is fired at most this long after it comes due. This process's own timers wake it at once.
MAX_SLEEP_SECONDS = 60.0
# A standby clock's wait for the lock on PostgreSQL is one statement of at most this long, then
# another on a fresh connection: see ClockLock.acquire.
TAKE_OVER_WAIT_SECONDS = 30.0
# The SQLSTATEs of a lock wait that ran out: lock_timeout (ours), statement_timeout (a server's).
_WAIT_ENDED = frozenset({"55P03", "57014"})
RETRY_SECONDS = 1.0  # after a failed tick (the database away), or a due moment nothing took


class ClockBusy(Exception):
    """Another clock holds the lock."""


class ClockLock:
    """The one-clock-per-deployment lock: a PostgreSQL advisory lock, or an flock for SQLite.

    Held for the life of the process; it goes when the process does, crash included.
    """

    def __init__(self, db: Engine) -> None:
        self.db = db
        self._connection: Connection | None = None
        self._descriptor: int | None = None

    def acquire(self, *, wait: bool, wait_seconds: float = TAKE_OVER_WAIT_SECONDS) -> None:
        """Take the lock; with wait=False raise ClockBusy at once if another clock has it.

        Waiting, this clock takes over the moment the other one stops or dies: the kernel
        (flock) or the server (pg_advisory_lock) wakes it, nothing polls. On PostgreSQL each
        wait lasts at most `wait_seconds`, then starts again on a fresh connection; a lost
        connection (a server restart, a fail-over) is tried again every RETRY_SECONDS until
        the database is back: a standby outlives the outage it is there for.
        """
        if self._try():
            return
        if not wait:
            raise ClockBusy("another clock is already running against this database")
        log.warning("another clock is running; waiting to take over when it stops")
        lost = False
        while True:
            try:
                if self._wait_for_lock(wait_seconds):
                    return
                lost = False
            except exc.DBAPIError as error:
                if not (error.connection_invalidated or isinstance(error, exc.OperationalError)):
                    raise
                if not lost:  # once an outage, not once a retry
                    log.warning("lost the database while waiting to take over; trying again")
                lost = True
                time.sleep(RETRY_SECONDS)

    def held_elsewhere(self) -> bool:
        """Whether a clock (`bot serve` or `bot clock`) holds the lock now; `bot chat` warns.

        On PostgreSQL this only reads pg_locks. On SQLite a free lock is taken for an instant
        (flock cannot be asked), and a missing lock file means no clock ever ran.
        """
        if not is_sqlite(self.db):
            with self.db.connect() as connection:
                return bool(
                    connection.execute(
                        _ADVISORY_LOCK_HELD,
                        {"high": ADVISORY_LOCK_KEY >> 32, "low": ADVISORY_LOCK_KEY & 0xFFFFFFFF},
                    ).scalar()
                )
        if not os.path.exists(self._lock_path()):
            return False
        if not self._flock():
            return True
        self.release()
        return False

    def release(self) -> None:
        if self._connection is not None:
            # The pool would keep the session (and so the lock) alive: unlock, then drop it.
            self._connection.execute(
                text("SELECT pg_advisory_unlock(:key)"), {"key": ADVISORY_LOCK_KEY}
            )
            self._connection.invalidate()
            self._connection.close()
            self._connection = None
        if self._descriptor is not None:
            os.close(self._descriptor)
            self._descriptor = None

    def _try(self) -> bool:
        if is_sqlite(self.db):
            return self._flock()
        connection = self.db.connect().execution_options(isolation_level="AUTOCOMMIT")
        got = connection.execute(
            text("SELECT pg_try_advisory_lock(:key)"), {"key": ADVISORY_LOCK_KEY}
        ).scalar()
        if got:
            self._connection = connection
            return True
        connection.close()
        return False

    def _wait_for_lock(self, seconds: float) -> bool:
        """Block until the lock is ours (True), or on PostgreSQL `seconds` have passed (False)."""
        if is_sqlite(self.db):
            return self._flock(block=True)
        connection = self.db.connect().execution_options(isolation_level="AUTOCOMMIT")
        try:
            # Only this connection's session: it holds the lock from now on, and nothing else.
            connection.execute(
                text("SELECT set_config('lock_timeout', :limit, false)"),
                {"limit": f"{max(1, round(seconds * 1000))}ms"},
            )
            connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": ADVISORY_LOCK_KEY})
        except BaseException as error:  # Ctrl-C too: psycopg cancels the wait, then raises
            connection.invalidate()  # its session's lock_timeout must not go back to the pool
            connection.close()
            if getattr(getattr(error, "orig", None), "sqlstate", None) in _WAIT_ENDED:
                return False  # the wait ran out: another, on a fresh connection
            raise
        self._connection = connection
        return True

    def _flock(self, *, block: bool = False) -> bool:
        """Take the lock file's flock: at once or not at all (False), or once it is free."""
        descriptor = os.open(self._lock_path(), os.O_RDWR | os.O_CREAT, 0o600)
        if fcntl is not None:
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX if block else fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(descriptor)
                return False
            except BaseException:  # Ctrl-C while it waits
                os.close(descriptor)
                raise
        self._descriptor = descriptor
        return True

    def _lock_path(self) -> str:
        return f"{self.db.url.database}.clock-lock"


@dataclass(frozen=True)
class Chore:
    """More work for the clock's ticks, beside the timers: do what is due, say when next."""

    fire: Callable[[], int]  # do what came due; returns how much it did
    next_due: Callable[[datetime], datetime | None]  # the earliest due moment up to a limit


@dataclass(frozen=True)
class TimerWork:
    """What the clock does, and what it asks before it sleeps."""

    fire: Callable[[], int]  # fire what came due; returns how many texts (or chats) it moved
    next_due: Callable[[datetime], datetime | None]  # the earliest due moment up to a limit
    now: Callable[[], datetime]  # the services' clock: the one the due moments are read on
    db: Engine  # whose committed timers ring this clock's alarm (bot.store.timer_alarm)


class _Plan:
    """When the tick job runs next: at the earliest due moment, or after MAX_SLEEP_SECONDS.

    Moments are read on the services' clock; APScheduler runs on the wall's, so a plan becomes
    a run time as "that far from now" (the same thing in production, where both are the wall).
    """

    def __init__(
        self,
        scheduler: BaseScheduler,
        work: TimerWork,
        *,
        max_sleep: timedelta,
        wall: Callable[[], datetime],
    ) -> None:
        self.scheduler = scheduler
        self.work = work
        self.max_sleep = max_sleep
        self.wall = wall
        self.planned: datetime | None = None  # the next tick, on the services' clock
        self.runs = 0
        self._lock = threading.Lock()
        self._running = False
        self._rung: list[datetime] = []  # alarms rung while a tick ran: its plan includes them
        self._missed = False  # APScheduler skipped a run while the last one finished

    def run(self) -> None:
        """Ticks: fire what came due, then plan the next one; again at once while the plan
        says now (an alarm rung meanwhile, more due than one tick takes).

        Not left to APScheduler: a run this job plans for now, while it still runs, is
        skipped ("maximum number of running instances"), and the next would be the
        interval's, a whole MAX_SLEEP later."""
        while True:
            with self._lock:
                self._running = True
                self._rung.clear()  # committed before this tick's queries, which will see them
            now, due, fired = self._tick()
            with self._lock:
                self._running = False
                moment = self._next_tick(now, due, fired)
                if moment > now:
                    self._schedule(moment, now)
                    return

    def _tick(self) -> tuple[datetime, datetime | None, int]:
        self.runs += 1
        try:
            fired = self.work.fire()
            if fired:
                log.info("fired timers: %d texts queued", fired)
            now = self.work.now()
            return now, self.work.next_due(now + self.max_sleep), fired
        except Exception:
            log.exception("tick failed; trying again in %s s", RETRY_SECONDS)
            return self.work.now(), None, -1

    def skipped(self, _event: SchedulerEvent) -> None:
        """APScheduler skipped a run because the last was still finishing (an alarm rung
        just as it ended): make it up once that one is done (`finished`)."""
        with self._lock:
            self._missed = True

    def finished(self, _event: SchedulerEvent) -> None:
        """The tick job is done, and APScheduler counts it so: a run it skipped meanwhile
        goes now."""
        with self._lock:
            if self._missed:
                self._missed = False
                now = self.work.now()
                self._schedule(now, now)

    def _next_tick(self, now: datetime, due: datetime | None, fired: int) -> datetime:
        if fired < 0:
            return now + timedelta(seconds=RETRY_SECONDS)
        moments = [now + self.max_sleep, *self._rung]
        if due is not None:
            # Due already yet nothing moved: do not spin on it; look again after a pause.
            stuck = due <= now and not fired
            moments.append(now + timedelta(seconds=RETRY_SECONDS) if stuck else due)
        return max(min(moments), now)

    def alarm(self, due_at: datetime) -> None:
        """A timer was committed in this process: wake for it if it comes before the plan."""
        with self._lock:
            if self._running:
                self._rung.append(due_at)  # the running tick plans with it
                return
            if self.planned is None or due_at < self.planned:
                self._schedule(due_at, self.work.now())

    def _schedule(self, moment: datetime, now: datetime) -> None:
        self.planned = max(moment, now)
        run_at = self.wall() + (self.planned - now)
        with contextlib.suppress(JobLookupError):  # the scheduler shut down meanwhile
            self.scheduler.modify_job(TICK_JOB_ID, next_run_time=run_at)


def _wall_now() -> datetime:
    return datetime.now(UTC)


# The plan of the clock running in this process. APScheduler jobs are module-level functions
# with primitive arguments, so the clock process sets this once when it starts.
_plan: _Plan | None = None


def tick() -> None:
    """The scheduled job: fire what came due, then sleep until the next due moment."""
    plan = _plan
    if plan is not None:
        plan.run()


def build_scheduler(
    work: TimerWork,
    *,
    blocking: bool,
    max_sleep: timedelta = timedelta(seconds=MAX_SLEEP_SECONDS),
    wall: Callable[[], datetime] = _wall_now,
) -> BaseScheduler:
    """A scheduler with the one tick job; the first tick runs at once (overdue timers).

    `wall` is APScheduler's own time, used only to turn a plan into a run time; tests that
    play the scheduler by hand on a fake clock pass that clock.
    """
    global _plan
    options: dict[str, Any] = {
        "timezone": UTC,
        "job_defaults": {"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
    }
    scheduler = BlockingScheduler(**options) if blocking else BackgroundScheduler(**options)
    # The interval is only the fallback: each tick moves its own next run (see _Plan).
    scheduler.add_job(
        tick,
        "interval",
        seconds=max_sleep.total_seconds(),
        id=TICK_JOB_ID,
        replace_existing=True,
        next_run_time=wall(),
    )
    plan = _plan = _Plan(scheduler, work, max_sleep=max_sleep, wall=wall)
    unlisten = timer_alarm.listen(work.db, plan.alarm)

    def stopped(_event: SchedulerEvent) -> None:
        global _plan
        unlisten()
        if _plan is plan:
            _plan = None

    scheduler.add_listener(stopped, EVENT_SCHEDULER_SHUTDOWN)
    scheduler.add_listener(plan.skipped, EVENT_JOB_MAX_INSTANCES)
    scheduler.add_listener(plan.finished, EVENT_JOB_EXECUTED | EVENT_JOB_ERROR)
    return scheduler


def timer_work(services: Services, chores: Sequence[Chore] = ()) -> TimerWork:
    """What each tick does: fire due timers, give idle takeovers back to the bot and do the
    `chores`; and when the next of those comes due. Dispatchers send the texts this queues."""
    from bot.conversations.assignment import assign_waiting, next_away
    from bot.conversations.takeover import release_idle
    from bot.store.conversations import earliest_agent_activity, next_wake_up

    idle_after = timedelta(minutes=services.settings.AGENT_IDLE_MINUTES)
    away_after = services.settings.agent_away_after

    def fire() -> int:
        fired = len(services.conversations.fire_due_timers())
        fired += sum(chore.fire() for chore in chores)
        fired += release_idle(services, idle_after=idle_after)
        # Agents who went idle are away now: what round robin gave them goes round again.
        assign_waiting(services.db, now=services.conversations.clock(), away_after=away_after)
        return fired

    def next_due(limit: datetime) -> datetime | None:
        with services.db.connect() as connection:
            due = [next_wake_up(connection, limit)]
            agent_active_at = earliest_agent_activity(connection)
            now = services.conversations.clock()
            due.append(next_away(connection, now=now, away_after=away_after))
        if agent_active_at is not None:
            # release_idle takes chats idle for strictly longer than idle_after.
            due.append(agent_active_at + idle_after + timedelta(microseconds=1))
        due.extend(chore.next_due(limit) for chore in chores)
        return min((moment for moment in due if moment is not None), default=None)

    return TimerWork(fire=fire, next_due=next_due, now=services.conversations.clock, db=services.db)

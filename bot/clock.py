"""The clock: exactly one scheduler per deployment, resuming conversations when timers come due.

APScheduler runs one interval job, `tick`, which claims due timers (and expired flows) from the
database. The timers are rows, not APScheduler jobs, so nothing depends on a process staying up:
a clock that starts after downtime fires every overdue timer once. APScheduler's own FAQ warns
that two schedulers sharing a job store run jobs twice; we share no job store, and a database
lock makes sure a second clock waits (or exits) instead of running.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine

from bot.db import is_sqlite

try:
    import fcntl
except ImportError:  # not on Windows
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger(__name__)

TICK_JOB_ID = "parley.tick"
ADVISORY_LOCK_KEY = 0x5061726C6579  # "Parley": one key per database, whatever the schema
# Whether some session holds that lock: pg_locks shows a bigint key as its two 32-bit halves.
_ADVISORY_LOCK_HELD = text(
    "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted"
    " AND objsubid = 1 AND classid::bigint = :high AND objid::bigint = :low"
    " AND database = (SELECT oid FROM pg_database WHERE datname = current_database()))"
)
TICK_SECONDS = 1.0

# The services the tick job works with. APScheduler jobs are module-level functions with
# primitive arguments, so the clock process sets this once when it starts.
_tick_work: Callable[[], int] | None = None


class ClockBusy(Exception):
    """Another clock holds the lock."""


class ClockLock:
    """The one-clock-per-deployment lock: a PostgreSQL advisory lock, or an flock for SQLite.

    Held for the life of the process; it goes when the process does, crash included.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._connection: Connection | None = None
        self._descriptor: int | None = None

    def acquire(self, *, wait: bool, poll_seconds: float = 2.0) -> None:
        """Take the lock; with wait=False raise ClockBusy at once if another clock has it."""
        announced = False
        while not self._try():
            if not wait:
                raise ClockBusy("another clock is already running against this database")
            if not announced:
                log.warning("another clock is running; waiting to take over when it stops")
                announced = True
            time.sleep(poll_seconds)

    def held_elsewhere(self) -> bool:
        """Whether a clock (`bot serve` or `bot clock`) holds the lock now; `bot chat` warns.

        On PostgreSQL this only reads pg_locks. On SQLite a free lock is taken for an instant
        (flock cannot be asked), and a missing lock file means no clock ever ran.
        """
        if not is_sqlite(self.engine):
            with self.engine.connect() as connection:
                return bool(
                    connection.execute(
                        _ADVISORY_LOCK_HELD,
                        {"high": ADVISORY_LOCK_KEY >> 32, "low": ADVISORY_LOCK_KEY & 0xFFFFFFFF},
                    ).scalar()
                )
        if not os.path.exists(self._lock_path()):
            return False
        if not self._try_flock():
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
        if is_sqlite(self.engine):
            return self._try_flock()
        connection = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        got = connection.execute(
            text("SELECT pg_try_advisory_lock(:key)"), {"key": ADVISORY_LOCK_KEY}
        ).scalar()
        if got:
            self._connection = connection
            return True
        connection.close()
        return False

    def _try_flock(self) -> bool:
        descriptor = os.open(self._lock_path(), os.O_RDWR | os.O_CREAT, 0o600)
        if fcntl is None:
            self._descriptor = descriptor
            return True
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(descriptor)
            return False
        self._descriptor = descriptor
        return True

    def _lock_path(self) -> str:
        return f"{self.engine.url.database}.clock-lock"


def tick() -> None:
    """The scheduled job: fire what came due. Errors are logged; the next tick tries again."""
    if _tick_work is None:
        return
    try:
        fired = _tick_work()
    except Exception:
        log.exception("tick failed; trying again in %s s", TICK_SECONDS)
        return
    if fired:
        log.info("fired timers: %d texts queued", fired)


def build_scheduler(work: Callable[[], int], *, blocking: bool) -> BaseScheduler:
    """A scheduler with the one tick job; the first tick runs at once (overdue timers)."""
    global _tick_work
    _tick_work = work
    options: dict[str, Any] = {
        "timezone": UTC,
        "job_defaults": {"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
    }
    scheduler = BlockingScheduler(**options) if blocking else BackgroundScheduler(**options)
    scheduler.add_job(
        tick,
        "interval",
        seconds=TICK_SECONDS,
        id=TICK_JOB_ID,
        replace_existing=True,
        next_run_time=datetime.now(UTC),
    )
    return scheduler

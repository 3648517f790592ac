"""Database engines and transactions, for SQLite and PostgreSQL alike."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

from sqlalchemy import Table, event
from sqlalchemy.dialects import postgresql, sqlite

try:
    import fcntl
except ImportError:  # not on Windows: SQLite's busy timeout alone serialises writers there
    fcntl = None  # type: ignore[assignment]
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.sql.base import Executable
from sqlmodel import create_engine

SQLITE_BUSY_TIMEOUT_MS = 30_000
WRITE_LOCK_OPTION = "parley_writes"  # execution option: this transaction will write


def make_engine(database_url: str, **options: Any) -> Engine:
    """An engine tuned for its backend; creates the SQLite file's folder when missing."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        return _sqlite_engine(database_url, url.database, **options)
    options.setdefault("pool_pre_ping", True)
    return create_engine(database_url, **options)


def _sqlite_engine(database_url: str, path: str | None, **options: Any) -> Engine:
    if path and path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(
        database_url,
        connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
        **options,
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the driver, decide when transactions begin (see _on_begin).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        # WAL lets readers go on while one process writes; NORMAL sync is safe with WAL.
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        # A deferred transaction that later writes can fail at once with "database is locked"
        # (SQLite cannot wait on a read-to-write upgrade). Write transactions take the lock up
        # front, so several gunicorn workers queue on busy_timeout; reads stay deferred (WAL).
        writes = connection.get_execution_options().get(WRITE_LOCK_OPTION, False)
        # Straight to the driver: every transaction passes here, exec_driver_sql costs 4x more.
        connection.connection.driver_connection.execute("BEGIN IMMEDIATE" if writes else "BEGIN")

    return engine


def is_sqlite(engine: Engine) -> bool:
    """Whether the engine speaks to SQLite (no row locks, one writer at a time)."""
    return engine.dialect.name == "sqlite"


@contextmanager
def transaction(engine: Engine) -> Iterator[Connection]:
    """A connection whose writes commit together at the end, or not at all."""
    # The writer's turn covers BEGIN to COMMIT only: taking a pooled connection and handing
    # it back (a rollback-on-return) happen outside it, so the next writer starts sooner.
    with (
        engine.connect().execution_options(**{WRITE_LOCK_OPTION: True}) as connection,
        _writer_turn(engine),
        connection.begin(),
    ):
        yield connection


def prepared(build: Callable[[str], Executable]) -> Callable[[Connection], Executable]:
    """Build a statement once per dialect and reuse it (hot paths pay no construction cost).

    The statement takes its values as execute() parameters, so one object serves every call.
    """
    cache: dict[str, Executable] = {}

    def statement_for(connection: Connection) -> Executable:
        dialect = connection.dialect.name
        if dialect not in cache:
            cache[dialect] = build(dialect)
        return cache[dialect]

    return statement_for


def dialect_insert(dialect: str, table: Table) -> Any:
    """An INSERT that can say ON CONFLICT, for a dialect by name."""
    return postgresql.insert(table) if dialect == "postgresql" else sqlite.insert(table)


def _writer_turn(engine: Engine) -> Any:
    """On SQLite, wait for our turn to write in a queue the kernel keeps.

    SQLite's own busy handler makes a waiting writer sleep (1, 2, 5 … 100 ms) and try again, so
    several gunicorn workers writing at once lose most of their time asleep. An exclusive flock
    on a file beside the database wakes the next writer the moment the last one finishes.
    """
    path = engine.url.database if is_sqlite(engine) else None
    if not path or path == ":memory:" or fcntl is None:
        return nullcontext()
    return _flocked(f"{path}.writer-lock")


@contextmanager
def _flocked(lock_path: str) -> Iterator[None]:
    # A descriptor of our own per turn: flock then also queues threads of one process.
    descriptor = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        yield
    finally:
        os.close(descriptor)  # closing releases the lock

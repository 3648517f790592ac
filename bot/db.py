"""Database engines and transactions, for SQLite and PostgreSQL alike."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine, make_url
from sqlmodel import Session, create_engine

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
        connection.exec_driver_sql("BEGIN IMMEDIATE" if writes else "BEGIN")

    return engine


def is_sqlite(engine: Engine) -> bool:
    """Whether the engine speaks to SQLite (no row locks, one writer at a time)."""
    return engine.dialect.name == "sqlite"


@contextmanager
def transaction(engine: Engine) -> Iterator[Session]:
    """A session whose work commits together at the end, or not at all."""
    with Session(engine, expire_on_commit=False) as session, session.begin():
        session.connection(execution_options={WRITE_LOCK_OPTION: True})
        yield session

"""SQLite's write-ahead log is copied back after a writer's turn, never while others wait."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from sqlalchemy import event, text
from sqlalchemy.engine import Engine

from bot.store.db import WAL_CHECKPOINT_EVERY, make_db, transaction


def sqlite_db(tmp_path: Path) -> tuple[Engine, Path]:
    database = tmp_path / "parley.db"
    db = make_db(f"sqlite:///{database}")
    with transaction(db) as connection:
        connection.execute(text("CREATE TABLE note (body TEXT)"))
    return db, database


def write_notes(db: Engine, count: int) -> None:
    for number in range(count):
        with transaction(db) as connection:
            connection.execute(text("INSERT INTO note VALUES (:body)"), {"body": f"n{number}"})


def writer_lock_is_free(database: Path) -> bool:
    descriptor = os.open(f"{database}.writer-lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    finally:
        os.close(descriptor)
    return True


def test_checkpoints_run_after_the_writers_turn_so_no_writer_waits_for_one(
    tmp_path: Path,
) -> None:
    db, database = sqlite_db(tmp_path)
    lock_free_at_checkpoint: list[bool] = []

    @event.listens_for(db, "connect")
    def trace(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
        def on_statement(sql: str) -> None:
            if "wal_checkpoint" in sql.lower():
                lock_free_at_checkpoint.append(writer_lock_is_free(database))

        dbapi_connection.set_trace_callback(on_statement)

    db.dispose()  # the next connection is a new one, traced
    write_notes(db, 2 * WAL_CHECKPOINT_EVERY)

    assert lock_free_at_checkpoint == [True, True]


def test_the_log_stays_short_under_a_long_stream_of_writes(tmp_path: Path) -> None:
    db, database = sqlite_db(tmp_path)
    write_notes(db, 1_000)

    # About two 4 KiB pages a write: without checkpoints the log would hold all 1 000 (8 MB);
    # checkpointed every WAL_CHECKPOINT_EVERY writes, it is reused from its start.
    assert Path(f"{database}-wal").stat().st_size < 2_000_000
    with db.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM note")).scalar_one() == 1_000

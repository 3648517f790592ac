"""What a person gets only once (a welcome coupon): claimed by a unique row, never re-read."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.engine import Connection
from sqlalchemy.sql.selectable import ExecutableReturnsRows

from bot.store.db import dialect_insert
from bot.store.driver_sql import DriverStatement
from bot.store.tables import ISSUED_ONCE


def _insert_once(dialect: str) -> ExecutableReturnsRows:
    return (
        dialect_insert(dialect, ISSUED_ONCE)
        .on_conflict_do_nothing(index_elements=["subscriber_id", "key"])
        .returning(ISSUED_ONCE.c.id)
    )


_INSERT_ONCE = DriverStatement(_insert_once)


def issue_once(connection: Connection, *, subscriber_id: int, key: str, now: datetime) -> bool:
    """Claim `key` for the person; False when they had it already (or a concurrent turn won).

    An INSERT that does nothing on conflict, not a look followed by a write: on PostgreSQL
    the second of two concurrent inserts waits for the first to commit, then inserts nothing.
    """
    row = _INSERT_ONCE.run(
        connection, {"subscriber_id": subscriber_id, "key": key, "issued_at": now}
    ).first()
    return row is not None

"""Timestamps: aware UTC on both databases, on SQLite the very text SQLAlchemy writes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import Column, Integer, MetaData, Table, insert, select, text
from sqlalchemy.dialects import sqlite

from bot.store.db import make_db
from bot.store.models import UtcDateTime

MOMENTS = [
    datetime(2026, 11, 26, 2, 55, 0, 123456, tzinfo=UTC),
    datetime(2026, 11, 26, 2, 55, 0, tzinfo=UTC),  # no microseconds: still written out
    datetime(1999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
    datetime(2026, 3, 29, 1, 30, tzinfo=timezone(timedelta(hours=-7))),  # stored as UTC
]


@pytest.mark.parametrize("moment", MOMENTS, ids=str)
def test_sqlite_text_is_the_text_sqlalchemy_writes(moment: datetime) -> None:
    # Rows written before the fast path, and SQL comparing timestamps as text, rely on it.
    dialect = sqlite.dialect()
    ours = UtcDateTime().bind_processor(dialect)
    sqlalchemy_own = sqlite.DATETIME().bind_processor(dialect)
    assert ours(moment) == sqlalchemy_own(moment.astimezone(UTC).replace(tzinfo=None))


def test_a_naive_datetime_is_refused() -> None:
    with pytest.raises(ValueError, match="naive datetime"):
        UtcDateTime().bind_processor(sqlite.dialect())(datetime(2026, 11, 26, 2, 55))


def test_timestamps_come_back_as_the_same_instant_in_utc(database_url: str) -> None:
    table = Table(
        "moment_probe",
        MetaData(),
        Column("id", Integer, primary_key=True),
        Column("at", UtcDateTime()),
    )
    db = make_db(database_url)
    try:
        with db.begin() as connection:
            table.create(connection)
            connection.execute(insert(table), [{"id": n, "at": m} for n, m in enumerate(MOMENTS)])
            connection.execute(insert(table), [{"id": 99, "at": None}])
            # What another writer may leave on SQLite: seconds only (CURRENT_TIMESTAMP's form).
            connection.execute(
                text("INSERT INTO moment_probe (id, at) VALUES (100, '2026-11-26 02:55:00')")
            )
        with db.connect() as connection:
            back = dict(connection.execute(select(table.c.id, table.c.at)).all())
        assert [back[n] for n in range(len(MOMENTS))] == MOMENTS
        assert all(back[n].tzinfo is UTC for n in range(len(MOMENTS)))
        assert back[99] is None
        assert back[100] == datetime(2026, 11, 26, 2, 55, tzinfo=UTC)
    finally:
        with db.begin() as connection:
            table.drop(connection, checkfirst=True)
        db.dispose()

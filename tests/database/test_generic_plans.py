"""On PostgreSQL the outbox is claimed through its partial index under a generic plan too.

psycopg prepares a statement on the server once a connection has run it five times, and
PostgreSQL may then plan it once for any values (a generic plan). A status bound as a parameter
cannot be proven to match a partial index's `WHERE status = 'pending'`, so such a plan walks the
whole table by its key; the status written into the SQL (`status_is`) keeps the index.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from psycopg import sql
from sqlalchemy import Engine, insert
from sqlalchemy.dialects import postgresql
from sqlalchemy.sql.base import Executable

from bot.domain.vocabulary import Direction, MessageStatus
from bot.sending.dispatcher import _DUE_ROWS
from bot.store.db import make_db
from bot.store.tables import MESSAGES
from tests.support.databases import PostgresDatabase

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
# $1, $2 …: what PREPARE takes (psycopg itself would send %(name)s).
NUMBERED = postgresql.psycopg.dialect(paramstyle="numeric_dollar")


def _many_sent_and_a_few_pending(db: Engine) -> None:
    def row(index: int, status: MessageStatus) -> dict[str, object]:
        return {
            "phone": f"+1415555{index:04d}",
            "direction": Direction.OUTBOUND,
            "body": "Acme: thanks!",
            "media_urls": [],
            "status": status,
            "send_after": NOW - timedelta(minutes=1),
            "created_at": NOW,
            "updated_at": NOW,
        }

    with db.begin() as connection:
        connection.execute(
            insert(MESSAGES),
            [row(index, MessageStatus.DELIVERED) for index in range(5000)]
            + [row(index, MessageStatus.PENDING) for index in range(5000, 5005)],
        )
        connection.exec_driver_sql("ANALYZE message")


def _generic_plan(db: Engine, statement: Executable, values: dict[str, object]) -> str:
    compiled = statement.compile(dialect=NUMBERED)
    assert compiled.positiontup is not None
    # EXECUTE's arguments as literals: a utility statement takes no bound parameters.
    given = compiled.construct_params(values)  # with the statement's own bound values, if any
    arguments = sql.SQL(", ").join(sql.Literal(given[name]) for name in compiled.positiontup)
    with db.begin() as connection:
        driver = connection.connection.driver_connection
        assert driver is not None
        driver.execute("SET LOCAL plan_cache_mode = force_generic_plan")
        driver.execute(f"PREPARE claim AS {compiled.string}")
        plan = driver.execute(sql.SQL("EXPLAIN EXECUTE claim({})").format(arguments)).fetchall()
        driver.execute("DEALLOCATE claim")
    return "\n".join(line for (line,) in plan)


def test_the_dispatcher_claims_due_texts_through_the_outbox_index(
    postgres_database: PostgresDatabase,
) -> None:
    db = make_db(postgres_database.fresh())
    _many_sent_and_a_few_pending(db)
    plan = _generic_plan(db, _DUE_ROWS, {"now": NOW, "limit": 10})
    assert "ix_message_outbox" in plan, plan

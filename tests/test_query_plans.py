"""The webhook's reads find their rows through indexes: no full scan as the tables grow.

SQLite's plans are checked (PostgreSQL scans tiny tables whatever the indexes, so its plans
say nothing here). Each statement runs as the webhook runs it, through Connection.execute, and
SQLite explains the very SQL and parameters SQLAlchemy hands the driver. Reads only: SQLite
lists foreign-key checks in an INSERT's plan that a plain insert never runs.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.engine import Connection
from sqlalchemy.sql.base import Executable

from bot.conversations import _ACTIVE, _CLAIM_AT_ONCE, _LAST_STARTED
from bot.db import make_engine, transaction
from bot.outbox import _RECENT_PROMOTIONAL
from bot.subscribers import _LOCK_EXISTING
from tests.databases import SqliteTemplate

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
HOT_PATH: list[tuple[str, Executable, dict[str, Any]]] = [
    ("a turn's claim", _CLAIM_AT_ONCE, {"phone": "+14155550100"}),
    ("the active conversation", _ACTIVE, {"subscriber_id": 1}),
    ("the subscriber", _LOCK_EXISTING, {"phone": "+14155550100"}),
    ("when a flow last started", _LAST_STARTED, {"subscriber_id": 1, "flow": "welcome"}),
    ("recent promotional texts", _RECENT_PROMOTIONAL, {"phone": "+14155550100", "since": NOW}),
]


@contextmanager
def explained(connection: Connection) -> Iterator[list[list[str]]]:
    """SQLite's plan of each SELECT run on the connection meanwhile, a line per step."""
    plans: list[list[str]] = []

    def explain(
        _conn: Connection, cursor: Any, statement: str, parameters: Any, *_context: Any
    ) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            cursor.execute("EXPLAIN QUERY PLAN " + statement, parameters)
            plans.append([str(row[-1]) for row in cursor.fetchall()])

    event.listen(connection, "before_cursor_execute", explain)
    try:
        yield plans
    finally:
        event.remove(connection, "before_cursor_execute", explain)


def plan_of(
    statement: Executable, params: dict[str, Any], template: SqliteTemplate, folder: Path
) -> list[str]:
    engine = make_engine(template.fresh(folder))
    with transaction(engine) as connection, explained(connection) as plans:
        connection.execute(statement, params)
    assert len(plans) == 1, plans
    return plans[0]


@pytest.mark.parametrize(("what", "statement", "params"), HOT_PATH, ids=[h[0] for h in HOT_PATH])
def test_hot_path_statements_never_scan_a_table(
    what: str,
    statement: Executable,
    params: dict[str, Any],
    sqlite_template: SqliteTemplate,
    tmp_path: Path,
) -> None:
    plan = plan_of(statement, params, sqlite_template, tmp_path)
    scans = [step for step in plan if step.startswith("SCAN")]
    assert scans == [], f"{what}: {plan}"


def test_when_a_flow_last_started_is_read_from_one_index_alone(
    sqlite_template: SqliteTemplate, tmp_path: Path
) -> None:
    """Not from every conversation of the flow (the welcome series has one per subscriber)."""
    params = {"subscriber_id": 1, "flow": "welcome"}
    plan = plan_of(_LAST_STARTED, params, sqlite_template, tmp_path)
    assert any("COVERING INDEX ix_conversation_subscriber_flow" in step for step in plan), plan

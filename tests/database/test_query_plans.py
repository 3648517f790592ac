"""The webhook's reads find their rows through indexes: no full scan as the tables grow.

SQLite's plans are checked (PostgreSQL scans tiny tables whatever the indexes, so its plans
say nothing here). Reads only: SQLite lists foreign-key checks in an INSERT's plan that a plain
insert never runs.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bot.campaigns.send import _HAVE_IT
from bot.conversations.assignment import _ASSIGNED_STILL_WAITING, _HELD
from bot.conversations.takeover import IDLE_HELD_CHATS
from bot.sending.outbox import _RECENT_PROMOTIONAL, _RECENT_PROMOTIONAL_OF
from bot.store.conversations import (
    _ACTIVE,
    _ACTIVE_BY_PHONE,
    _CLAIM_AT_ONCE,
    _EARLIEST_AGENT_ACTIVITY,
    _LAST_STARTED,
)
from bot.store.db import make_db, transaction
from bot.store.driver_sql import DriverStatement
from bot.store.subscribers import LOCK_SUBSCRIBER
from tests.support.databases import SqliteTemplate

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
HOT_PATH: list[tuple[str, DriverStatement, dict[str, Any]]] = [
    ("a turn's claim", _CLAIM_AT_ONCE, {"phone": "+14155550100"}),
    ("the active conversation", _ACTIVE, {"subscriber_id": 1}),
    ("the active conversation, by number", _ACTIVE_BY_PHONE, {"phone": "+14155550100"}),
    ("the subscriber", LOCK_SUBSCRIBER, {"phone": "+14155550100"}),
    ("when a flow last started", _LAST_STARTED, {"subscriber_id": 1, "flow": "welcome"}),
    ("recent promotional texts", _RECENT_PROMOTIONAL, {"phone": "+14155550100", "since": NOW}),
    # A campaign batch's, once for hundreds of numbers: the list of numbers given (a virtual
    # table) is read whole, each number found through an index.
    ("a batch's recent promotional texts", _RECENT_PROMOTIONAL_OF, {"phones": "[]", "since": NOW}),
    ("who has the campaign's text", _HAVE_IT, {"campaign": "sale", "phones": "[]"}),
    # The clock's, at every wake: among the active conversations, only those agents hold.
    ("when an agent last acted in a held chat", _EARLIEST_AGENT_ACTIVITY, {}),
    ("held chats idle too long", IDLE_HELD_CHATS, {"before": NOW}),
    # Every assignment round's, after every question that queues someone.
    ("the chats agents hold", _HELD, {}),
]


@pytest.mark.parametrize(("what", "statement", "params"), HOT_PATH, ids=[h[0] for h in HOT_PATH])
def test_hot_path_statements_never_scan_a_table(
    what: str,
    statement: DriverStatement,
    params: dict[str, Any],
    sqlite_template: SqliteTemplate,
    tmp_path: Path,
) -> None:
    db = make_db(sqlite_template.fresh(tmp_path))
    with transaction(db) as connection:
        plan = statement.explain(connection, params)
    scans = [step for step in plan if step.startswith("SCAN") and "VIRTUAL TABLE" not in step]
    assert scans == [], f"{what}: {plan}"


def test_when_a_flow_last_started_is_read_from_one_index_alone(
    sqlite_template: SqliteTemplate, tmp_path: Path
) -> None:
    """Not from every conversation of the flow (the welcome series has one per subscriber)."""
    db = make_db(sqlite_template.fresh(tmp_path))
    with transaction(db) as connection:
        plan = _LAST_STARTED.explain(connection, {"subscriber_id": 1, "flow": "welcome"})
    assert any("COVERING INDEX ix_conversation_subscriber_flow" in step for step in plan), plan


@pytest.mark.parametrize(
    "statement", [_EARLIEST_AGENT_ACTIVITY, IDLE_HELD_CHATS], ids=["earliest", "idle"]
)
def test_the_clock_finds_held_chats_without_reading_the_bots_conversations(
    statement: DriverStatement, sqlite_template: SqliteTemplate, tmp_path: Path
) -> None:
    """From the index of active conversations by handler, not the whole list of active ones."""
    db = make_db(sqlite_template.fresh(tmp_path))
    with transaction(db) as connection:
        plan = statement.explain(connection, {"before": NOW})
    assert any("INDEX ix_conversation_active_handler (handled_by=?" in step for step in plan), plan


def test_a_round_looks_up_each_assigned_person_without_reading_the_queue(
    sqlite_template: SqliteTemplate, tmp_path: Path
) -> None:
    """Which assigned people still wait: the assignments (bounded by the agents' capacities)
    are read whole, each person looked up by index, never the queue of the waiting."""
    db = make_db(sqlite_template.fresh(tmp_path))
    with transaction(db) as connection:
        plan = _ASSIGNED_STILL_WAITING.explain(connection, {})
    scans = [step for step in plan if step.startswith("SCAN")]
    assert len(scans) == 1 and scans[0].startswith("SCAN assignment"), plan
    looked_up = {step.split()[1] for step in plan if step.startswith("SEARCH")}
    assert looked_up == {"subscriber", "conversation", "unanswered_text"}, plan

"""Statuses are compared as literals in the SQL (`status_is`, `status_is_not`, `status_in`),
never bound.

The tables keep partial indexes by status. With a bound status, SQLite prepares the statement
again at every execution (its planner reads the value to decide whether the index applies) and
PostgreSQL's generic plans cannot use the index (docs/architecture.md, "Never").
"""

from __future__ import annotations

import ast
import re
from enum import StrEnum
from pathlib import Path

import pytest

from bot.domain.vocabulary import DeliveryStatus, MessageStatus
from bot.store.models import status_in, status_is, status_is_not
from bot.store.tables import MESSAGES

BOT = Path(__file__).resolve().parents[2] / "bot"
# Raw SQL that binds a status: `status = :status`, `status != %(s)s`, `status IN (?)` …
_RAW_BOUND_STATUS = re.compile(r"\bstatus\s*(=|!=|<>|\s+IN\s*\()\s*(:|%|\?|\$)", re.IGNORECASE)


def bound_status_comparisons(source: str) -> list[int]:
    """The lines of `source` where a table's `status` column is compared in a way that binds
    the value: `==`/`!=` with the column on either side, `.in_(...)`, or raw SQL text."""
    lines = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Compare):
            sides = [node.left, *node.comparators]
            equality = any(isinstance(op, ast.Eq | ast.NotEq) for op in node.ops)
            if equality and any(_is_status_column(side) for side in sides):
                lines.append(node.lineno)
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            if node.func.attr == "in_" and _is_status_column(node.func.value):
                lines.append(node.lineno)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            lines.extend([node.lineno] if _RAW_BOUND_STATUS.search(node.value) else [])
    return lines


def _is_status_column(node: ast.expr) -> bool:
    """TABLE.c.status, alias.c.status, TABLE.c["status"]."""
    if isinstance(node, ast.Attribute):
        return node.attr == "status" and _is_columns(node.value)
    if isinstance(node, ast.Subscript):
        key = node.slice
        return isinstance(key, ast.Constant) and key.value == "status" and _is_columns(node.value)
    return False


def _is_columns(node: ast.expr) -> bool:
    return isinstance(node, ast.Attribute) and node.attr in ("c", "columns")


def test_no_statement_of_the_app_binds_a_status() -> None:
    found = [
        f"{path.relative_to(BOT.parent)}:{line}"
        for path in sorted(BOT.rglob("*.py"))
        for line in bound_status_comparisons(path.read_text(encoding="utf-8"))
    ]
    assert found == [], "compare these statuses with status_is / status_is_not: " + ", ".join(found)


@pytest.mark.parametrize(
    "source",
    [
        "MESSAGES.c.status == MessageStatus.PENDING",
        "MessageStatus.UNKNOWN == MESSAGES.c.status",  # the other way round
        "earlier.c.status != DeliveryStatus.PENDING",
        "query.where(D.c.status == status)",
        "and_(CONVERSATIONS.c.status == bindparam('status'), x)",
        "MESSAGES.c['status'] == MessageStatus.PENDING",
        "MESSAGES.c.status.in_([MessageStatus.PENDING])",
        "text('UPDATE message SET sent_at = :now WHERE status = :status')",
        "text('SELECT id FROM message WHERE status != ?')",
    ],
)
def test_a_bound_status_is_found(source: str) -> None:
    assert bound_status_comparisons(source) == [1]


@pytest.mark.parametrize(
    "source",
    [
        "status_is(MESSAGES.c.status, MessageStatus.PENDING)",
        "status_is_not(MESSAGES.c.status, MessageStatus.SUPPRESSED)",
        "status_in(MESSAGES.c.status, FAILED)",
        "subscriber.status == SubscriberStatus.NEW",  # a row read back, not a column
        "update(MESSAGES).values(status=MessageStatus.SENT)",  # a value written, not compared
        """text("status = 'pending'")""",  # a partial index's own condition
    ],
)
def test_what_binds_no_status_passes(source: str) -> None:
    assert bound_status_comparisons(source) == []


def test_a_status_is_written_into_the_sql_as_its_column_stores_it() -> None:
    assert str(status_is(MESSAGES.c.status, MessageStatus.UNKNOWN)) == "message.status = 'unknown'"
    assert str(status_is_not(MESSAGES.c.status, MessageStatus.FAILED)) == (
        "message.status != 'failed'"
    )
    failed = status_in(MESSAGES.c.status, [MessageStatus.FAILED, MessageStatus.UNDELIVERED])
    assert str(failed) == "message.status IN ('failed', 'undelivered')"


def test_a_status_of_another_kind_is_refused_as_binding_would_refuse_it() -> None:
    with pytest.raises(ValueError, match=r"not a status message\.status can hold"):
        status_is(MESSAGES.c.status, DeliveryStatus.DROPPED)  # 'dropped' is no message status
    with pytest.raises(ValueError, match=r"not a status message\.status can hold"):
        status_is(MESSAGES.c.status, "pending")  # type: ignore[arg-type]  # a str, not a status


class Odd(StrEnum):
    QUOTED = "it's"


def test_only_a_plain_word_is_written_into_the_sql() -> None:
    class Quoting:  # a column whose type would hold such a value
        type = type("OddEnum", (), {"enums": ["it's"]})()

    with pytest.raises(ValueError, match="not a plain lower-case status"):
        status_is(Quoting(), Odd.QUOTED)  # type: ignore[arg-type]

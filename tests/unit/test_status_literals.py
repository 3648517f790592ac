"""Statuses are compared as literals in the SQL (`status_literal`), never as bound values.

The tables keep partial indexes by status. With a bound status, SQLite prepares the statement
again at every execution (its planner reads the value to decide whether the index applies) and
PostgreSQL's generic plans cannot use the index (docs/architecture.md, "Never").
"""

from __future__ import annotations

import ast
from enum import StrEnum
from pathlib import Path

import pytest

from bot.domain.vocabulary import MessageStatus
from bot.store.models import status_literal

BOT = Path(__file__).resolve().parents[2] / "bot"


def bound_status_comparisons(source: str) -> list[int]:
    """The lines where a table's `status` column is compared (== or !=) with anything but a
    `status_literal(...)`."""
    lines = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Compare) or not _is_status_column(node.left):
            continue
        for operator, other in zip(node.ops, node.comparators, strict=True):
            if isinstance(operator, ast.Eq | ast.NotEq) and not _is_status_literal(other):
                lines.append(node.lineno)
    return lines


def _is_status_column(node: ast.expr) -> bool:
    # TABLE.c.status, alias.c.status
    return (
        isinstance(node, ast.Attribute)
        and node.attr == "status"
        and isinstance(node.value, ast.Attribute)
        and node.value.attr == "c"
    )


def _is_status_literal(node: ast.expr) -> bool:
    return (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == "status_literal"
    )


def test_no_statement_of_the_app_binds_a_status() -> None:
    found = [
        f"{path.relative_to(BOT.parent)}:{line}"
        for path in sorted(BOT.rglob("*.py"))
        for line in bound_status_comparisons(path.read_text(encoding="utf-8"))
    ]
    assert found == [], "compare these statuses with status_literal(...): " + ", ".join(found)


@pytest.mark.parametrize(
    "comparison",
    [
        "MESSAGES.c.status == MessageStatus.PENDING",
        "earlier.c.status != DeliveryStatus.PENDING",
        "query.where(D.c.status == status)",
        "and_(CONVERSATIONS.c.status == bindparam('status'), x)",
    ],
)
def test_a_bound_status_is_found(comparison: str) -> None:
    assert bound_status_comparisons(comparison) == [1]


@pytest.mark.parametrize(
    "comparison",
    [
        "MESSAGES.c.status == status_literal(MessageStatus.PENDING)",
        "MESSAGES.c.status.in_(FAILED)",  # IN: no partial index is weighed against it
        "subscriber.status == SubscriberStatus.NEW",  # a row read back, not a column
    ],
)
def test_what_is_not_a_bound_status_comparison_passes(comparison: str) -> None:
    assert bound_status_comparisons(comparison) == []


def test_a_status_is_written_as_its_column_stores_it() -> None:
    assert str(status_literal(MessageStatus.UNKNOWN)) == "'unknown'"


class Odd(StrEnum):
    QUOTED = "it's"


def test_only_a_plain_word_is_written_into_the_sql() -> None:
    with pytest.raises(ValueError, match="not a plain lower-case status"):
        status_literal(Odd.QUOTED)

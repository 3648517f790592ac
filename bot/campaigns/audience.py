"""Who a campaign goes to: subscribed people, streamed from the store, filtered by segment."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, func, select

from bot.campaigns.model import Segment
from bot.domain.vocabulary import SubscriberStatus
from bot.store.models import status_is
from bot.store.tables import SUBSCRIBERS

STREAM_BATCH = 1_000  # rows fetched at a time: 100 000 subscribers never sit in memory at once


@dataclass(frozen=True)
class Recipient:
    """A subscribed person, as the campaign sees them."""

    phone: str
    first_name: str | None = None
    timezone: str | None = None
    attributes: Mapping[str, Any] = field(default_factory=dict, hash=False)
    tags: tuple[str, ...] = ()

    def template_variables(self, *, brand: str, support: str) -> dict[str, Any]:
        """What a campaign text may name (the same built-ins as a flow's texts)."""
        return {
            "brand": brand,
            "support": support,
            "phone": self.phone,
            "first_name": self.attributes.get("first_name") or self.first_name,
            "attributes": dict(self.attributes),
        }

    def condition_variables(self) -> dict[str, Any]:
        """What a segment's `where:` may name: the attributes by name, tags and first_name."""
        return {
            **self.attributes,
            "attributes": dict(self.attributes),
            "tags": list(self.tags),
            "first_name": self.attributes.get("first_name") or self.first_name,
        }


def subscribed(connection: Connection) -> Iterator[Recipient]:
    """Every subscribed person, in id order, streamed; new, pending and opted-out never appear."""
    table = SUBSCRIBERS
    query = (
        select(
            table.c.phone,
            table.c.first_name,
            table.c.timezone,
            table.c.attributes,
            table.c.tags,
        )
        .where(status_is(table.c.status, SubscriberStatus.SUBSCRIBED))
        .order_by(table.c.id)
    )
    result = connection.execution_options(yield_per=STREAM_BATCH).execute(query)
    for row in result:
        yield Recipient(
            phone=row.phone,
            first_name=row.first_name,
            timezone=row.timezone,
            attributes=row.attributes if isinstance(row.attributes, dict) else {},
            tags=tuple(str(tag) for tag in row.tags or ()),
        )


def matches(segment: Segment, recipient: Recipient) -> bool:
    """Whether the person is in the segment: every tag, every attribute, and the condition."""
    # Tags and attributes are JSON columns, queried differently by SQLite and PostgreSQL; in
    # Python the rule is one and the same on both, and a streamed pass is quick enough.
    if segment.tags and not set(segment.tags) <= set(recipient.tags):
        return False
    for name, wanted in segment.attributes.items():
        if not _same(recipient.attributes.get(name), wanted):
            return False
    return segment.where is None or segment.where.test(recipient.condition_variables())


def audience(connection: Connection, segment: Segment) -> Iterator[Recipient]:
    """The subscribed people in the segment, in id order."""
    return (recipient for recipient in subscribed(connection) if matches(segment, recipient))


def audience_size(connection: Connection, segment: Segment) -> int:
    """How many subscribed people are in the segment (counted by the database when it is all)."""
    if segment.tags or segment.attributes or segment.where is not None:
        return sum(1 for _ in audience(connection, segment))
    # Everyone subscribed matches an empty segment: no need to read every row to count them.
    return connection.execute(
        select(func.count()).where(status_is(SUBSCRIBERS.c.status, SubscriberStatus.SUBSCRIBED))
    ).scalar_one()


def _same(actual: object, wanted: object) -> bool:
    # A CSV import stores "2" where the campaign file says 2: the same value to a marketer.
    if actual is None:
        return wanted is None
    return actual == wanted or str(actual) == str(wanted)

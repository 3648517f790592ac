"""What the webhook queue holds, for `bot webhooks list` and `bot webhooks retry`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.engine import Connection
from sqlalchemy.sql import ColumnElement

from bot.domain.vocabulary import DeliveryStatus
from bot.store.models import status_is
from bot.store.tables import WEBHOOK_DELIVERIES, WEBHOOK_EVENTS, AnyRow, AnySelect

D = WEBHOOK_DELIVERIES
E = WEBHOOK_EVENTS
_WITH_EVENTS = D.join(E, E.c.id == D.c.event_id)


@dataclass(frozen=True)
class Filters:
    """Which deliveries a command means; None: any."""

    endpoint: str | None = None
    event_type: str | None = None
    phone: str | None = None
    since: datetime | None = None  # events recorded at or after this moment

    def conditions(self) -> list[ColumnElement[bool]]:
        found = []
        if self.endpoint is not None:
            found.append(D.c.endpoint == self.endpoint)
        if self.event_type is not None:
            found.append(E.c.type == self.event_type)
        if self.phone is not None:
            found.append(D.c.phone == self.phone)
        if self.since is not None:
            found.append(E.c.created_at >= self.since)
        return found


def recent_deliveries(
    connection: Connection, filters: Filters, *, status: DeliveryStatus | None, limit: int
) -> list[AnyRow]:
    """The newest deliveries first, with their events' id, type and time."""
    query: AnySelect = (
        select(
            D.c.id,
            D.c.endpoint,
            D.c.phone,
            D.c.status,
            D.c.attempts,
            D.c.next_attempt_at,
            D.c.response_status,
            D.c.last_error,
            D.c.delivered_at,
            E.c.public_id,
            E.c.type,
            E.c.created_at,
        )
        .select_from(_WITH_EVENTS)
        .where(*filters.conditions())
        .order_by(D.c.id.desc())
        .limit(limit)
    )
    if status is not None:
        query = query.where(status_is(D.c.status, status))
    return list(connection.execute(query))


def requeue_given_up(connection: Connection, filters: Filters, *, now: datetime) -> int:
    """Given-up deliveries become pending again, with a fresh retry window; how many did."""
    chosen = (
        select(D.c.id)
        .select_from(_WITH_EVENTS)
        .where(status_is(D.c.status, DeliveryStatus.GAVE_UP), *filters.conditions())
    )
    return connection.execute(
        update(D)
        .where(
            D.c.id.in_(chosen.scalar_subquery()),
            status_is(D.c.status, DeliveryStatus.GAVE_UP),
        )
        .values(
            status=DeliveryStatus.PENDING,
            retrying_since=None,
            next_attempt_at=None,
            claimed_by=None,
            claimed_until=None,
            updated_at=now,
        )
    ).rowcount

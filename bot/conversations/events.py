"""Events from the brand's systems: stored as sent, once per id, then handed to flows."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Connection
from sqlalchemy.sql.selectable import ExecutableReturnsRows

from bot.store.db import dialect_insert
from bot.store.driver_sql import DriverStatement
from bot.store.tables import EVENTS


@dataclass(frozen=True)
class EventReceipt:
    """Our id for the event, and whether this call stored it (False: a retry of a known id)."""

    id: int
    new: bool


def _insert(dialect: str) -> ExecutableReturnsRows:
    return (
        dialect_insert(dialect, EVENTS)
        .on_conflict_do_nothing(index_elements=["external_id"])
        .returning(EVENTS.c.id)
    )


_INSERT = DriverStatement(_insert)


@dataclass(frozen=True)
class StoredEvent:
    """An event just stored, for what else it means (an order is credited to a campaign)."""

    id: int
    type: str
    phone: str
    data: Mapping[str, Any]
    external_id: str | None
    received_at: datetime


# Called in the transaction that stored a new event (not a retried id).
EventListener = Callable[[Connection, StoredEvent], None]


def store_event(
    connection: Connection,
    *,
    event_type: str,
    phone: str,
    data: Mapping[str, Any],
    external_id: str | None,
    now: datetime,
) -> EventReceipt:
    """Keep the event; an external id seen before stores nothing and says so."""
    row = {
        "external_id": external_id,
        "type": event_type,
        "phone": phone,
        "data": dict(data),
        "received_at": now,
    }
    event_id = _INSERT.run(connection, row).scalar_one_or_none()
    if event_id is not None:
        return EventReceipt(event_id, new=True)
    earlier = connection.execute(
        select(EVENTS.c.id).where(EVENTS.c.external_id == external_id)
    ).scalar_one()
    return EventReceipt(earlier, new=False)


def event_phone(connection: Connection, external_id: str) -> str | None:
    """The number the event stored under this external id was about, if there is one."""
    return connection.execute(
        select(EVENTS.c.phone).where(EVENTS.c.external_id == external_id)
    ).scalar_one_or_none()

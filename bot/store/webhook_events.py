"""The outbound webhooks' outbox: events written beside the change they tell of.

Whatever room makes a change a receiver should hear of (a turn in `bot.conversations.apply`, an
erasure, a click, a text that failed, an order credited to a campaign) records its event here,
with its own connection, so the event exists exactly when the change was committed. The worker
(`bot.webhooks.delivery`) routes and posts them afterwards, never inside that transaction.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import delete, update
from sqlalchemy.engine import Connection

from bot.domain.vocabulary import DeliveryStatus, MessageStatus, WebhookEventType
from bot.store.driver_sql import DriverStatement
from bot.store.models import status_is
from bot.store.tables import WEBHOOK_DELIVERIES, WEBHOOK_EVENTS

EVENT_ID_PREFIX = "evt_"
ERASED_REASON = "not sent: the person's data was erased"

_INSERT = DriverStatement(WEBHOOK_EVENTS.insert())


def record_webhook_event(
    connection: Connection,
    event_type: WebhookEventType,
    *,
    phone: str,
    data: Mapping[str, Any],
    now: datetime,
) -> None:
    """Keep an event for the webhook endpoints that want its type."""
    record_webhook_events(connection, event_type, [(phone, data)], now=now)


def record_webhook_events(
    connection: Connection,
    event_type: WebhookEventType,
    about: Iterable[tuple[str, Mapping[str, Any]]],  # each person's phone and the event's data
    *,
    now: datetime,
) -> None:
    """Keep one event of a type for each of several people, in one statement."""
    rows = [
        {
            "public_id": EVENT_ID_PREFIX + secrets.token_hex(12),
            "type": event_type.value,
            "phone": phone,
            "data": {"phone": phone, **data},
            "created_at": now,
            "routed_at": None,
        }
        for phone, data in about
    ]
    _INSERT.run_many_later(connection, rows)


def forget_webhook_events(connection: Connection, phone: str, now: datetime) -> None:
    """A person's data is erased: their events lose their data, and none of them is sent now.

    Events not yet routed never reached anyone and go; deliveries still waiting are dropped.
    The `subscriber.erased` event recorded afterwards tells receivers to erase what they hold.
    """
    waiting = (
        update(WEBHOOK_DELIVERIES)
        .where(
            WEBHOOK_DELIVERIES.c.phone == phone,
            status_is(WEBHOOK_DELIVERIES.c.status, DeliveryStatus.PENDING),
        )
        .values(
            status=DeliveryStatus.DROPPED,
            claimed_by=None,
            claimed_until=None,
            last_error=ERASED_REASON,
            updated_at=now,
        )
    )
    connection.execute(waiting)
    connection.execute(
        delete(WEBHOOK_EVENTS).where(
            WEBHOOK_EVENTS.c.phone == phone, WEBHOOK_EVENTS.c.routed_at.is_(None)
        )
    )
    connection.execute(
        update(WEBHOOK_EVENTS).where(WEBHOOK_EVENTS.c.phone == phone).values(data={"phone": phone})
    )


def record_text_failed(
    connection: Connection,
    *,
    message_id: int,
    phone: str,
    status: MessageStatus,
    error_code: int | None,
    error_message: str | None,
    flow: str | None,
    campaign: str | None,
    now: datetime,
) -> None:
    """A text of ours failed or went undelivered for good: `message.failed`."""
    record_webhook_event(
        connection,
        WebhookEventType.MESSAGE_FAILED,
        phone=phone,
        data={
            "message_id": message_id,
            "status": status.value,
            "error_code": error_code,
            "error_message": error_message,
            "flow": flow,
            "campaign": campaign,
        },
        now=now,
    )

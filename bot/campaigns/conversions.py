"""Attribution: which campaign (and variant) an order is credited to, computed at query time."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

from sqlalchemy import ColumnElement, Interval, and_, func, literal, select
from sqlalchemy.engine import Connection

from bot.conversations.events import StoredEvent
from bot.domain.vocabulary import Direction, WebhookEventType
from bot.store.tables import CLICKS, EVENTS, LINKS, MESSAGES
from bot.store.webhook_events import record_webhook_event

ORDER_EVENT = "order_placed"
DEFAULT_ATTRIBUTION_DAYS = 7.0


@dataclass(frozen=True)
class Attribution:
    """One order credited to a campaign: by the person's last click on it, or their last text."""

    event_id: int
    phone: str
    campaign: str
    variant: str | None
    amount: Decimal
    by: Literal["click", "receipt"]


def attributions(
    connection: Connection,
    since: datetime | None = None,
    *,
    days: float = DEFAULT_ATTRIBUTION_DAYS,
    campaign: str | None = None,
) -> list[Attribution]:
    """Orders (`order_placed` with a `data.amount`) credited to the last campaign the person
    clicked within `days` before the order, else the last one they were sent; oldest first."""
    orders = _orders(connection, since)
    if not orders:
        return []
    clicks = _last_touch(connection, _click_candidates(connection, since, days))
    receipts = _last_touch(connection, _receipt_candidates(connection, since, days))
    found: list[Attribution] = []
    for event_id, (phone, amount) in orders.items():
        by: Literal["click", "receipt"]
        if event_id in clicks:
            touch, by = clicks[event_id], "click"
        elif event_id in receipts:
            touch, by = receipts[event_id], "receipt"
        else:
            continue
        if campaign is not None and touch[0] != campaign:
            continue
        variant = touch[1] if by == "receipt" else _variant(connection, touch[0], phone, touch[2])
        found.append(Attribution(event_id, phone, touch[0], variant, amount, by))
    return found


def tell_attributed_order(
    connection: Connection, event: StoredEvent, *, days: float = DEFAULT_ATTRIBUTION_DAYS
) -> None:
    """An order just stored is credited as `attributions` would credit it now, and webhooks hear
    of it (`order.attributed`); an order no campaign touched tells nothing.

    Stats still compute attribution when asked (a click recorded late can change them); the
    event tells what was known when the order arrived.
    """
    if event.type != ORDER_EVENT:
        return
    credited = next(
        (
            found
            for found in attributions(connection, since=event.received_at, days=days)
            if found.event_id == event.id
        ),
        None,
    )
    if credited is None:
        return
    record_webhook_event(
        connection,
        WebhookEventType.ORDER_ATTRIBUTED,
        phone=event.phone,
        data={
            "order_id": event.external_id,
            "amount": str(credited.amount),
            "campaign": credited.campaign,
            "variant": credited.variant,
            "by": credited.by,
        },
        now=event.received_at,
    )


def order_amount(data: Any) -> Decimal | None:
    """An order's `amount` as an exact number; None when it is missing, negative or not a number."""
    if not isinstance(data, dict):
        return None
    raw = data.get("amount")
    if isinstance(raw, bool) or not isinstance(raw, int | float | str):
        return None
    if isinstance(raw, float) and not math.isfinite(raw):
        return None
    try:
        amount = Decimal(str(raw).strip())
    except InvalidOperation:
        return None
    if not amount.is_finite() or amount < 0:
        return None
    return amount


def within_days(
    connection: Connection,
    later: ColumnElement[datetime],
    earlier: ColumnElement[datetime],
    days: float,
) -> ColumnElement[bool]:
    """`later` falls after `earlier` and at most `days` after it, on either backend."""
    if connection.dialect.name == "sqlite":
        # SQLite keeps timestamps as ISO text with microseconds: text order is time order, and
        # julianday() does the arithmetic.
        upper = func.julianday(later) <= func.julianday(earlier) + days
    else:
        upper = later <= earlier + literal(timedelta(days=days), Interval())
    return and_(later >= earlier, upper)


def _orders(connection: Connection, since: datetime | None) -> dict[int, tuple[str, Decimal]]:
    query = (
        select(EVENTS.c.id, EVENTS.c.phone, EVENTS.c.data)
        .where(EVENTS.c.type == ORDER_EVENT)
        .order_by(EVENTS.c.received_at, EVENTS.c.id)
    )
    if since is not None:
        query = query.where(EVENTS.c.received_at >= since)
    orders: dict[int, tuple[str, Decimal]] = {}
    for row in connection.execute(query):
        amount = order_amount(row.data)
        if amount is not None:
            orders[row.id] = (row.phone, amount)
    return orders


def _order_filter(since: datetime | None) -> list[ColumnElement[bool]]:
    conditions = [EVENTS.c.type == ORDER_EVENT]
    if since is not None:
        conditions.append(EVENTS.c.received_at >= since)
    return conditions


def _click_candidates(connection: Connection, since: datetime | None, days: float) -> Any:
    return (
        select(
            EVENTS.c.id.label("event_id"),
            CLICKS.c.clicked_at.label("at"),
            CLICKS.c.id.label("tie"),
            LINKS.c.campaign.label("campaign"),
            literal(None).label("variant"),
        )
        .select_from(EVENTS)
        .join(LINKS, LINKS.c.phone == EVENTS.c.phone)
        .join(CLICKS, CLICKS.c.link_id == LINKS.c.id)
        .where(
            *_order_filter(since),
            LINKS.c.campaign.is_not(None),
            within_days(connection, EVENTS.c.received_at, CLICKS.c.clicked_at, days),
        )
    )


def _receipt_candidates(connection: Connection, since: datetime | None, days: float) -> Any:
    return (
        select(
            EVENTS.c.id.label("event_id"),
            MESSAGES.c.sent_at.label("at"),
            MESSAGES.c.id.label("tie"),
            MESSAGES.c.campaign.label("campaign"),
            MESSAGES.c.variant.label("variant"),
        )
        .select_from(EVENTS)
        .join(MESSAGES, MESSAGES.c.phone == EVENTS.c.phone)
        .where(
            *_order_filter(since),
            MESSAGES.c.direction == Direction.OUTBOUND,
            MESSAGES.c.campaign.is_not(None),
            MESSAGES.c.sent_at.is_not(None),
            within_days(connection, EVENTS.c.received_at, MESSAGES.c.sent_at, days),
        )
    )


def _last_touch(
    connection: Connection, candidates: Any
) -> dict[int, tuple[str, str | None, datetime]]:
    """Per order: the campaign, variant and time of its latest candidate touch."""
    latest: dict[int, tuple[datetime, int, str, str | None]] = {}
    for row in connection.execute(candidates):
        key = (row.at, row.tie)
        best = latest.get(row.event_id)
        if best is None or key > best[:2]:
            latest[row.event_id] = (row.at, row.tie, row.campaign, row.variant)
    return {event_id: (c, v, at) for event_id, (at, _tie, c, v) in latest.items()}


def _variant(connection: Connection, campaign: str, phone: str, clicked_at: datetime) -> str | None:
    """The variant the person was sent of a campaign they clicked (their text before the click)."""
    rows = connection.execute(
        select(MESSAGES.c.variant, MESSAGES.c.sent_at)
        .where(
            MESSAGES.c.campaign == campaign,
            MESSAGES.c.phone == phone,
            MESSAGES.c.direction == Direction.OUTBOUND,
            MESSAGES.c.sent_at.is_not(None),
        )
        .order_by(MESSAGES.c.sent_at.desc(), MESSAGES.c.id.desc())
    ).all()
    before = [row.variant for row in rows if row.sent_at <= clicked_at]
    if before:
        return before[0]
    return rows[-1].variant if rows else None

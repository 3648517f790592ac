"""The shopify_webhook table: each delivery stored once, claimed for its work, its outcome kept."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.engine import Connection, Engine

from bot.domain.vocabulary import ShopifyWebhookStatus as Status
from bot.shopify.topics import ORDER_TOPIC
from bot.store.db import dialect_insert, transaction
from bot.store.models import status_is
from bot.store.tables import SHOPIFY_WEBHOOKS, AnyRow, max_length

# The web process that stored a webhook does its work at once; the clock takes it only when
# that has not happened this long after (the process died, or had no thread free).
FIRST_TRY_GRACE = timedelta(minutes=1)
MAX_ATTEMPTS = 8  # then it is marked failed: 5 min, 10 min … 2 h apart, about 8 hours in all
OUTCOME_CHARS = max_length(SHOPIFY_WEBHOOKS.c.outcome)
_TABLE = SHOPIFY_WEBHOOKS


def retry_delay(attempt: int) -> timedelta:
    """How long after its `attempt`-th try a webhook is tried again, unless that try finished."""
    return min(timedelta(minutes=5) * 2 ** (attempt - 1), timedelta(hours=2))


@dataclass(frozen=True)
class Receipt:
    """Our id for a delivery, and whether an earlier delivery had the same webhook id."""

    id: int
    duplicate: bool


@dataclass(frozen=True)
class Claimed:
    """A webhook whose work this process now does (its `attempts`-th try)."""

    id: int
    webhook_id: str
    topic: str
    shop_domain: str | None
    body: str | None
    attempts: int


@dataclass(frozen=True)
class Handled:
    """What a webhook's work came to: done or ignored, in words, about whom, texts queued."""

    status: Status
    outcome: str
    phone: str | None = None
    message_ids: tuple[int, ...] = ()


def record(
    db: Engine,
    *,
    webhook_id: str,
    topic: str,
    shop_domain: str | None,
    body: str,
    ignored: str | None,  # why there is nothing to do; None: its work is to be done
    phone: str | None,
    checkout_token: str | None,
    now: datetime,
) -> Receipt:
    """Store a delivery once per webhook id: pending, body kept, or ignored with the reason."""
    pending = ignored is None
    row: dict[str, Any] = {
        "webhook_id": webhook_id,
        "topic": topic,
        "shop_domain": shop_domain,
        "status": Status.PENDING if pending else Status.IGNORED,
        "outcome": None if ignored is None else ignored[:OUTCOME_CHARS],
        "phone": phone,
        "checkout_token": checkout_token,
        "body": body if pending else None,
        "attempts": 0,
        "next_attempt_at": now + FIRST_TRY_GRACE if pending else None,
        "received_at": now,
        "handled_at": None if pending else now,
    }
    with transaction(db) as connection:
        insert = dialect_insert(connection.dialect.name, _TABLE)
        new_id = connection.execute(
            insert.on_conflict_do_nothing(index_elements=["webhook_id"]).returning(_TABLE.c.id),
            row,
        ).scalar_one_or_none()
        if new_id is not None:
            return Receipt(new_id, duplicate=False)
        earlier = connection.execute(
            select(_TABLE.c.id).where(_TABLE.c.webhook_id == webhook_id)
        ).scalar_one()
    return Receipt(earlier, duplicate=True)


def claim_first(db: Engine, row_id: int, now: datetime) -> Claimed | None:
    """Take a webhook nobody has tried yet; None when the clock (or another thread) has."""
    return _claim(db, row_id, seen_attempts=0, now=now)


def claim_due(db: Engine, now: datetime, limit: int) -> list[Claimed]:
    """Take the webhooks whose (next) try is due, oldest due first."""
    with db.connect() as connection:
        due = connection.execute(
            select(_TABLE.c.id, _TABLE.c.attempts)
            .where(status_is(_TABLE.c.status, Status.PENDING), _TABLE.c.next_attempt_at <= now)
            .order_by(_TABLE.c.next_attempt_at, _TABLE.c.id)
            .limit(limit)
        ).all()
    claimed = (_claim(db, row.id, seen_attempts=row.attempts, now=now) for row in due)
    return [row for row in claimed if row is not None]


def _claim(db: Engine, row_id: int, *, seen_attempts: int, now: datetime) -> Claimed | None:
    # Whoever moves `attempts` on from what it saw has the try; anyone else matches no row.
    attempt = seen_attempts + 1
    with transaction(db) as connection:
        row = connection.execute(
            update(_TABLE)
            .where(
                _TABLE.c.id == row_id,
                status_is(_TABLE.c.status, Status.PENDING),
                _TABLE.c.attempts == seen_attempts,
            )
            .values(attempts=attempt, next_attempt_at=now + retry_delay(attempt))
            .returning(
                _TABLE.c.id,
                _TABLE.c.webhook_id,
                _TABLE.c.topic,
                _TABLE.c.shop_domain,
                _TABLE.c.body,
                _TABLE.c.attempts,
            )
        ).first()
    if row is None:
        return None
    return Claimed(row.id, row.webhook_id, row.topic, row.shop_domain, row.body, row.attempts)


def finish(db: Engine, claimed: Claimed, handled: Handled, now: datetime) -> None:
    """Keep what the work came to; the body goes, its job done."""
    values = {
        "status": handled.status,
        "outcome": handled.outcome[:OUTCOME_CHARS],
        "phone": handled.phone,  # whom the work concerned; none for someone Parley never texts
        "body": None,
        "next_attempt_at": None,
        "handled_at": now,
    }
    with transaction(db) as connection:
        connection.execute(update(_TABLE).where(_TABLE.c.id == claimed.id).values(**values))


def fail(db: Engine, claimed: Claimed, error: str, now: datetime) -> bool:
    """Note a try that failed; after MAX_ATTEMPTS it is marked failed (True), else it waits
    for the retry its claim set."""
    last = claimed.attempts >= MAX_ATTEMPTS
    values: dict[str, Any] = {"outcome": f"try {claimed.attempts} failed: {error}"[:OUTCOME_CHARS]}
    if last:
        values.update(status=Status.FAILED, next_attempt_at=None, handled_at=now)
    with transaction(db) as connection:
        connection.execute(
            update(_TABLE)
            .where(_TABLE.c.id == claimed.id, status_is(_TABLE.c.status, Status.PENDING))
            .values(**values)
        )
    return last


def retry(db: Engine, row_id: int, now: datetime) -> bool:
    """Try a failed webhook again soon (the clock takes it); False unless it had failed."""
    with transaction(db) as connection:
        changed = connection.execute(
            update(_TABLE)
            .where(
                _TABLE.c.id == row_id,
                status_is(_TABLE.c.status, Status.FAILED),
                _TABLE.c.body.is_not(None),
            )
            .values(status=Status.PENDING, attempts=0, next_attempt_at=now, handled_at=None)
        ).rowcount
    return changed == 1


def next_due(connection: Connection, limit: datetime) -> datetime | None:
    """When the earliest pending webhook is next tried, if no later than `limit`."""
    return connection.execute(
        select(func.min(_TABLE.c.next_attempt_at)).where(
            status_is(_TABLE.c.status, Status.PENDING), _TABLE.c.next_attempt_at <= limit
        )
    ).scalar_one_or_none()


def order_received(connection: Connection, checkout_token: str) -> bool:
    """Whether an orders/create for this checkout has come (perhaps before the checkout)."""
    found = connection.execute(
        select(_TABLE.c.id)
        .where(_TABLE.c.checkout_token == checkout_token, _TABLE.c.topic == ORDER_TOPIC)
        .limit(1)
    ).first()
    return found is not None


def phones_of_shop(connection: Connection, shop_domain: str) -> list[str]:
    """Every number a shop's webhooks were about, in the order they were first seen."""
    return list(
        connection.execute(
            select(_TABLE.c.phone)
            .where(_TABLE.c.shop_domain == shop_domain, _TABLE.c.phone.is_not(None))
            .group_by(_TABLE.c.phone)
            .order_by(func.min(_TABLE.c.id))
        ).scalars()
    )


def forget_shop_bodies(connection: Connection, shop_domain: str) -> None:
    """Drop the bodies a shop's webhooks still hold (those pending or failed)."""
    connection.execute(
        update(_TABLE)
        .where(_TABLE.c.shop_domain == shop_domain, _TABLE.c.body.is_not(None))
        .values(body=None)
    )


def listing(
    connection: Connection,
    *,
    topic: str | None = None,
    status: Status | None = None,
    limit: int = 50,
) -> list[AnyRow]:
    """The latest webhooks, newest first, optionally of one topic or status."""
    query = select(
        _TABLE.c.id,
        _TABLE.c.received_at,
        _TABLE.c.topic,
        _TABLE.c.status,
        _TABLE.c.phone,
        _TABLE.c.outcome,
        _TABLE.c.webhook_id,
    )
    if topic is not None:
        query = query.where(_TABLE.c.topic == topic)
    if status is not None:
        query = query.where(status_is(_TABLE.c.status, status))
    return list(connection.execute(query.order_by(_TABLE.c.id.desc()).limit(limit)))

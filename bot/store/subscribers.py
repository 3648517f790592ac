"""Subscribers and their consent: lookups, status changes, and the append-only ledger."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.selectable import ExecutableReturnsRows

from bot.domain.vocabulary import ConsentKind, SubscriberStatus, WebhookEventType
from bot.store.agent_chats import chat_closed
from bot.store.db import dialect_insert
from bot.store.driver_sql import DriverStatement
from bot.store.models import status_is
from bot.store.tables import CONSENT_EVENTS, SUBSCRIBERS, UNANSWERED_TEXTS, AnyRow
from bot.store.webhook_events import record_webhook_event


@dataclass
class SubscriberRow:
    """A subscriber as the hot path holds it; `status` follows the changes made through it."""

    id: int
    phone: str
    status: SubscriberStatus
    first_name: str | None = None
    timezone: str | None = None
    attributes: dict[str, Any] = field(default_factory=dict)
    tags: list[str] = field(default_factory=list)
    email: str | None = None

    @classmethod
    def read(cls, subscriber_id: int, phone: str, row: Any) -> SubscriberRow:
        """From a row with the profile columns (status, first_name, timezone, attributes, tags,
        email)."""
        return cls(
            id=subscriber_id,
            phone=phone,
            status=row.status,
            first_name=row.first_name,
            timezone=row.timezone,
            attributes=dict(row.attributes or {}),
            tags=list(row.tags or []),
            email=row.email,
        )

    def event_data(self, **more: Any) -> dict[str, Any]:
        """What a `subscriber.*` webhook event says about the person, and `more`."""
        return {
            "phone": self.phone,
            "status": self.status.value,
            "first_name": self.first_name,
            "email": self.email,
            "tags": list(self.tags),
            **more,
        }


def get_subscriber(connection: Connection, phone: str) -> AnyRow | None:
    """The subscriber with this E.164 number (every column of SUBSCRIBERS), if any."""
    return connection.execute(select(SUBSCRIBERS).where(SUBSCRIBERS.c.phone == phone)).first()


def consent_ledger(connection: Connection, subscriber_id: int) -> list[AnyRow]:
    """A subscriber's consent entries (every column of CONSENT_EVENTS), oldest first."""
    return consent_ledgers(connection, [subscriber_id])[subscriber_id]


def consent_ledgers(
    connection: Connection, subscriber_ids: Sequence[int]
) -> dict[int, list[AnyRow]]:
    """Several subscribers' consent entries in one query, each list oldest first."""
    ledgers: dict[int, list[AnyRow]] = {subscriber_id: [] for subscriber_id in subscriber_ids}
    if ledgers:
        entries = connection.execute(
            select(CONSENT_EVENTS)
            .where(CONSENT_EVENTS.c.subscriber_id.in_(ledgers))
            .order_by(CONSENT_EVENTS.c.id)
        )
        for entry in entries:
            ledgers[entry.subscriber_id].append(entry)
    return ledgers


@dataclass(frozen=True)
class SubscriberFilter:
    """Which subscribers a listing holds; every condition given must hold."""

    status: SubscriberStatus | None = None
    tag: str | None = None
    updated_since: datetime | None = None  # changed at or after this moment


# A JSON array's elements as rows, per dialect: SQLite's json_each, PostgreSQL's (for json, not
# jsonb) json_array_elements_text; both name the column `value`.
_ELEMENTS = {"sqlite": func.json_each, "postgresql": func.json_array_elements_text}


LARGEST_SUBSCRIBER_ID = 2**31 - 1  # subscriber.id is a 32-bit integer on PostgreSQL


def subscribers_after(
    connection: Connection, after: int, limit: int, where: SubscriberFilter = SubscriberFilter()
) -> list[AnyRow]:
    """Up to `limit` subscribers (every column) with an id above `after`, in id order.

    Paged by id, which never changes: a row updated while a client pages through is listed
    once, where it always was.
    """
    if after >= LARGEST_SUBSCRIBER_ID:
        return []  # PostgreSQL refuses a bigger number against the 32-bit id: no row is above
    query = select(SUBSCRIBERS).where(SUBSCRIBERS.c.id > after)
    if where.status is not None:
        query = query.where(status_is(SUBSCRIBERS.c.status, where.status))
    if where.updated_since is not None:
        query = query.where(SUBSCRIBERS.c.updated_at >= where.updated_since)
    if where.tag is not None:
        query = query.where(has_tag(connection, where.tag))
    return list(connection.execute(query.order_by(SUBSCRIBERS.c.id).limit(limit)))


def has_tag(connection: Connection, tag: str) -> ColumnElement[bool]:
    """The condition that a subscriber's tags hold `tag` (exactly), on either engine."""
    tags = _ELEMENTS[connection.dialect.name](SUBSCRIBERS.c.tags).table_valued("value")
    return select(tags.c.value).where(tags.c.value == tag).exists()


_PROFILE = (
    SUBSCRIBERS.c.id,
    SUBSCRIBERS.c.status,
    SUBSCRIBERS.c.first_name,
    SUBSCRIBERS.c.timezone,
    SUBSCRIBERS.c.attributes,
    SUBSCRIBERS.c.tags,
    SUBSCRIBERS.c.email,
)


def _claim(dialect: str) -> ExecutableReturnsRows:
    statement = dialect_insert(dialect, SUBSCRIBERS)
    # DO UPDATE (not DO NOTHING) so the row always comes back, and on PostgreSQL is row-locked:
    # two texts from one person are handled one after the other.
    return statement.on_conflict_do_update(
        index_elements=["phone"], set_={"phone": statement.excluded.phone}
    ).returning(*_PROFILE)


_CLAIM = DriverStatement(_claim)
LOCK_SUBSCRIBER = DriverStatement(
    select(*_PROFILE).where(SUBSCRIBERS.c.phone == bindparam("phone")).with_for_update()
)


def claim_subscriber(connection: Connection, phone: str, now: datetime) -> SubscriberRow:
    """The subscriber with this number, created as NEW on first contact, locked till commit."""
    # Most texts come from people we know: a locking read writes nothing (the upsert would).
    return lock_subscriber(connection, phone) or add_subscriber(connection, phone, now)


def lock_subscriber(connection: Connection, phone: str) -> SubscriberRow | None:
    """The subscriber with this number, locked till commit; None (nothing written) if unknown."""
    existing = LOCK_SUBSCRIBER.run(connection, {"phone": phone}).first()
    return None if existing is None else SubscriberRow.read(existing.id, phone, existing)


def add_subscriber(connection: Connection, phone: str, now: datetime) -> SubscriberRow:
    """First contact: the number becomes a NEW subscriber (or, if another transaction just
    added it, that row), locked till commit."""
    row = _CLAIM.run(
        connection,
        {
            "phone": phone,
            "status": SubscriberStatus.NEW,
            "attributes": {},
            "tags": [],
            "created_at": now,
            "updated_at": now,
        },
    ).one()
    return SubscriberRow.read(row.id, phone, row)


_CHANGE_STATUS = DriverStatement(
    update(SUBSCRIBERS)
    .where(SUBSCRIBERS.c.id == bindparam("subscriber_id"))
    .values(status=bindparam("status"), updated_at=bindparam("updated_at"))
)


# An opt-out takes the person's open texts out of the assignment rounds' queue (the inbox
# still lists them); joining again puts them back (see UnansweredText.opted_out_at).
_OPEN_TEXTS_OF_PERSON = (
    UNANSWERED_TEXTS.c.subscriber_id == bindparam("person"),
    UNANSWERED_TEXTS.c.handled_at.is_(None),
)
_OPEN_TEXTS_OPTED_OUT = DriverStatement(
    update(UNANSWERED_TEXTS)
    .where(*_OPEN_TEXTS_OF_PERSON, UNANSWERED_TEXTS.c.opted_out_at.is_(None))
    .values(opted_out_at=bindparam("opted_out"))
)
_OPEN_TEXTS_BACK = DriverStatement(
    update(UNANSWERED_TEXTS)
    .where(*_OPEN_TEXTS_OF_PERSON, UNANSWERED_TEXTS.c.opted_out_at.is_not(None))
    .values(opted_out_at=None)
)


def change_status(
    connection: Connection, subscriber: SubscriberRow, status: SubscriberStatus, now: datetime
) -> None:
    """Move the subscriber to a new consent status."""
    if subscriber.status is status:
        return
    _CHANGE_STATUS.run_later(
        connection,
        {"subscriber_id": subscriber.id, "status": status, "updated_at": now},
    )
    if status is SubscriberStatus.UNSUBSCRIBED:
        _OPEN_TEXTS_OPTED_OUT.run_later(connection, {"person": subscriber.id, "opted_out": now})
    elif subscriber.status is SubscriberStatus.UNSUBSCRIBED:
        _OPEN_TEXTS_BACK.run_later(connection, {"person": subscriber.id})
    subscriber.status = status


def fill_first_name(
    connection: Connection, subscriber: SubscriberRow, name: str, now: datetime
) -> None:
    """Store a first name the person gave, unless one is on record (theirs wins)."""
    if subscriber.first_name:
        return
    connection.execute(
        update(SUBSCRIBERS)
        .where(SUBSCRIBERS.c.id == subscriber.id, SUBSCRIBERS.c.first_name.is_(None))
        .values(first_name=name, updated_at=now)
    )
    subscriber.first_name = name


def set_email(
    connection: Connection, subscriber: SubscriberRow, address: str, now: datetime
) -> None:
    """Keep the e-mail address the person gave (their latest wins)."""
    if subscriber.email == address:
        return
    connection.execute(
        update(SUBSCRIBERS)
        .where(SUBSCRIBERS.c.id == subscriber.id)
        .values(email=address, updated_at=now)
    )
    subscriber.email = address


def save_name_and_timezone(
    connection: Connection, subscriber: SubscriberRow, now: datetime
) -> None:
    """Store the subscriber's first name and time zone as the brand's systems set them."""
    connection.execute(
        update(SUBSCRIBERS)
        .where(SUBSCRIBERS.c.id == subscriber.id)
        .values(first_name=subscriber.first_name, timezone=subscriber.timezone, updated_at=now)
    )


_INSERT_CONSENT = DriverStatement(CONSENT_EVENTS.insert())


def record_consent(
    connection: Connection,
    subscriber: SubscriberRow,
    *,
    kind: ConsentKind,
    source: str,
    now: datetime,
    keyword: str | None = None,
    text: str | None = None,
    message_id: int | None = None,
) -> None:
    """Append one entry to the consent ledger."""
    _INSERT_CONSENT.run_later(
        connection,
        {
            "subscriber_id": subscriber.id,
            "phone": subscriber.phone,
            "kind": kind,
            "source": source,
            "keyword": keyword,
            "text": text,
            "message_id": message_id,
            "created_at": now,
        },
    )


def opt_out_by_carrier(
    connection: Connection, phone: str, message_id: int | None, now: datetime
) -> None:
    """The carrier says this number opted out (Twilio 21610): believe it and record it."""
    subscriber = claim_subscriber(connection, phone, now)
    if subscriber.status is SubscriberStatus.UNSUBSCRIBED:
        return
    change_status(connection, subscriber, SubscriberStatus.UNSUBSCRIBED, now)
    # Nobody may text them now: their chat leaves the agents' queue, as after a STOP.
    chat_closed(connection, subscriber_id=subscriber.id, now=now, outcome="opted out")
    record_consent(
        connection,
        subscriber,
        kind=ConsentKind.OPT_OUT,
        source="carrier",
        now=now,
        keyword="21610",
        message_id=message_id,
    )
    record_webhook_event(
        connection,
        WebhookEventType.OPTED_OUT,
        phone=phone,
        data=subscriber.event_data(source="carrier", keyword="21610"),
        now=now,
    )


# Asked by every confirmation (Y) on the webhook's path: a driver statement.
_STANDING_REQUEST = DriverStatement(
    select(CONSENT_EVENTS.c.kind, CONSENT_EVENTS.c.keyword)
    .where(
        CONSENT_EVENTS.c.subscriber_id == bindparam("subscriber_id"),
        CONSENT_EVENTS.c.kind != ConsentKind.OPT_IN,
    )
    .order_by(CONSENT_EVENTS.c.id.desc())
    .limit(1)
)


def requested_with(connection: Connection, subscriber_id: int) -> str | None:
    """The keyword of the person's standing request to join (JOIN, an offer's WIN), if any.

    The latest ledger entry that is not a confirmation: a request (its keyword, None for a web
    form) unless an opt-out came after it (STOP, then START, asked for no offer).
    """
    row = _STANDING_REQUEST.run(connection, {"subscriber_id": subscriber_id}).first()
    if row is None or row.kind != ConsentKind.OPT_IN_REQUESTED:
        return None
    keyword: str | None = row.keyword
    return keyword

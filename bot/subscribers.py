"""Queries and consent changes for subscribers; the ledger is only ever appended to."""

from __future__ import annotations

from sqlmodel import Session, select

from bot.models import ConsentEvent, ConsentKind, Subscriber, SubscriberStatus, utcnow


def get_subscriber(*, session: Session, phone: str) -> Subscriber | None:
    """The subscriber with this E.164 number, if any."""
    return session.exec(select(Subscriber).where(Subscriber.phone == phone)).first()


def get_or_create_subscriber(*, session: Session, phone: str) -> Subscriber:
    """The subscriber with this number, created as NEW on first contact."""
    subscriber = get_subscriber(session=session, phone=phone)
    if subscriber is None:
        subscriber = Subscriber(phone=phone)
        session.add(subscriber)
        session.flush()
    return subscriber


def record_consent(
    *,
    session: Session,
    subscriber: Subscriber,
    kind: ConsentKind,
    source: str,
    keyword: str | None = None,
    text: str | None = None,
    message_id: int | None = None,
) -> ConsentEvent:
    """Append one entry to the consent ledger."""
    assert subscriber.id is not None
    entry = ConsentEvent(
        subscriber_id=subscriber.id,
        phone=subscriber.phone,
        kind=kind,
        source=source,
        keyword=keyword,
        text=text,
        message_id=message_id,
    )
    session.add(entry)
    return entry


def change_status(*, subscriber: Subscriber, status: SubscriberStatus) -> None:
    """Move the subscriber to a new consent status."""
    if subscriber.status != status:
        subscriber.status = status
        subscriber.updated_at = utcnow()


def opt_out_by_carrier(*, session: Session, phone: str, message_id: int | None) -> None:
    """The carrier says this number opted out (Twilio 21610): believe it and record it."""
    subscriber = get_or_create_subscriber(session=session, phone=phone)
    if subscriber.status is SubscriberStatus.UNSUBSCRIBED:
        return
    change_status(subscriber=subscriber, status=SubscriberStatus.UNSUBSCRIBED)
    record_consent(
        session=session,
        subscriber=subscriber,
        kind=ConsentKind.OPT_OUT,
        source="carrier",
        keyword="21610",
        message_id=message_id,
    )

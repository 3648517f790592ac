"""Web-form signups: consent asked for off-SMS, confirmed by a reply Y (double opt-in)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.engine import Engine

from bot.conversations.apply import EffectContext, apply_effects
from bot.domain.compliance import ComplianceTexts
from bot.domain.effects import ChangeStatus, RecordConsent, Send
from bot.domain.vocabulary import ConsentKind, Delivery, MessageStatus, Purpose, SubscriberStatus
from bot.store.db import transaction
from bot.store.subscribers import SUBSCRIBERS, claim_subscriber


class OptedOutBySms(Exception):
    """The number opted out by text; only the person can undo that, by texting START."""


@dataclass(frozen=True)
class SignupResult:
    """Whether the signup was new, and the outbox rows to send now."""

    created: bool
    message_ids: tuple[int, ...]


def sign_up(
    *,
    db: Engine,
    texts: ComplianceTexts,
    phone: str,
    source: str,
    consent_text: str,
    now: datetime,
    first_name: str | None = None,
) -> SignupResult:
    """Make the number PENDING and queue the double opt-in text; repeat signups send nothing."""
    with transaction(db) as connection:
        subscriber = claim_subscriber(connection, phone, now)
        if subscriber.status is SubscriberStatus.UNSUBSCRIBED:
            raise OptedOutBySms(phone)
        if first_name:
            connection.execute(
                SUBSCRIBERS.update()
                .where(SUBSCRIBERS.c.id == subscriber.id, SUBSCRIBERS.c.first_name.is_(None))
                .values(first_name=first_name, updated_at=now)
            )
        if subscriber.status in (SubscriberStatus.PENDING, SubscriberStatus.SUBSCRIBED):
            return SignupResult(created=False, message_ids=())
        queued = apply_effects(
            connection,
            subscriber,
            (
                ChangeStatus(SubscriberStatus.PENDING),
                RecordConsent(ConsentKind.OPT_IN_REQUESTED),
                Send(texts.confirm_join(), Purpose.COMPLIANCE),
            ),
            EffectContext(
                source=source, delivery=Delivery.OUTBOX, now=now, consent_text=consent_text
            ),
        )
        ids = tuple(text.id for text in queued if text.status is MessageStatus.PENDING)
        return SignupResult(created=True, message_ids=ids)

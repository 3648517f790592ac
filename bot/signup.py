"""Web-form signups: consent asked for off-SMS, confirmed by a reply Y (double opt-in)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.engine import Engine

from bot.compliance import ComplianceTexts
from bot.db import transaction
from bot.effects import ChangeStatus, RecordConsent, Send
from bot.effects_host import EffectContext, apply_effects
from bot.models import ConsentKind, Delivery, MessageStatus, Purpose, Subscriber, SubscriberStatus
from bot.subscribers import get_or_create_subscriber


class OptedOutBySms(Exception):
    """The number opted out by text; only the person can undo that, by texting START."""


@dataclass(frozen=True)
class SignupResult:
    """The subscriber after the signup, and the outbox rows to send now."""

    subscriber: Subscriber
    created: bool
    message_ids: tuple[int, ...]


def sign_up(
    *,
    engine: Engine,
    texts: ComplianceTexts,
    phone: str,
    source: str,
    consent_text: str,
    first_name: str | None = None,
) -> SignupResult:
    """Make the number PENDING and queue the double opt-in text; repeat signups send nothing."""
    with transaction(engine) as session:
        subscriber = get_or_create_subscriber(session=session, phone=phone)
        if subscriber.status is SubscriberStatus.UNSUBSCRIBED:
            raise OptedOutBySms(phone)
        if first_name and not subscriber.first_name:
            subscriber.first_name = first_name
        if subscriber.status in (SubscriberStatus.PENDING, SubscriberStatus.SUBSCRIBED):
            return SignupResult(subscriber, created=False, message_ids=())
        queued = apply_effects(
            session=session,
            subscriber=subscriber,
            effects=(
                ChangeStatus(SubscriberStatus.PENDING),
                RecordConsent(ConsentKind.OPT_IN_REQUESTED),
                Send(texts.confirm_join(), Purpose.COMPLIANCE),
            ),
            context=EffectContext(
                source=source, delivery=Delivery.OUTBOX, consent_text=consent_text
            ),
        )
        ids = tuple(m.id for m in queued if m.id is not None and m.status is MessageStatus.PENDING)
        return SignupResult(subscriber, created=True, message_ids=ids)

"""Rows as the product leaves them, for tests that need an outbox full of texts."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.engine import Engine

from bot.domain.policy import PolicyRules
from bot.domain.vocabulary import Delivery, Purpose, SubscriberStatus
from bot.sending.outbox import queue_text
from bot.store.db import transaction
from bot.store.subscribers import change_status, claim_subscriber


def queue_campaign(db: Engine, phones: list[str], *, name: str, at: datetime) -> None:
    """One promotional text each, subscribed people, in the outbox as `bot campaign send` leaves
    them (queued at `at`, due at once)."""
    with transaction(db) as connection:
        for phone in phones:
            subscriber = claim_subscriber(connection, phone, at)
            change_status(connection, subscriber, SubscriberStatus.SUBSCRIBED, at)
            queue_text(
                connection,
                subscriber,
                body=f"Boots 20% off, {phone}! Reply STOP to opt out.",
                purpose=Purpose.PROMOTIONAL,
                delivery=Delivery.OUTBOX,
                now=at,
                campaign=name,
                variant="a",
            )


def queue_promotion(
    db: Engine, phone: str, *, at: datetime, rules: PolicyRules, body: str = "20% off"
) -> int:
    """One promotional text to a subscribed person, judged by `rules` as a flow's text is."""
    with transaction(db) as connection:
        subscriber = claim_subscriber(connection, phone, at)
        change_status(connection, subscriber, SubscriberStatus.SUBSCRIBED, at)
        return queue_text(
            connection,
            subscriber,
            body=body,
            purpose=Purpose.PROMOTIONAL,
            delivery=Delivery.OUTBOX,
            now=at,
            rules=rules,
        ).id

"""Rows as the product leaves them, for tests that need an outbox full of texts."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.engine import Engine

from bot.db import transaction
from bot.models import Delivery, Purpose, SubscriberStatus
from bot.outbox import queue_text
from bot.subscribers import change_status, claim_subscriber


def queue_campaign(engine: Engine, phones: list[str], *, name: str, at: datetime) -> None:
    """One promotional text each, subscribed people, in the outbox as `bot campaign send` leaves
    them (queued at `at`, due at once)."""
    with transaction(engine) as connection:
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

"""Texts in the outbox and `bot worker` processes sending them to the fake Twilio server."""

from __future__ import annotations

import os
import sys

from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from bot.domain.vocabulary import Delivery, MessageStatus, Purpose, SubscriberStatus
from bot.sending.outbox import queue_text
from bot.store.db import transaction
from bot.store.models import utcnow
from bot.store.subscribers import change_status, claim_subscriber
from bot.store.tables import MESSAGES
from bot.twilio.fake_server import FakeTwilioServer
from bot.twilio.gateway import TwilioGateway

SENDER = "+15550000000"
TEXTS = 60
PHONES = [f"+1415555{number:04d}" for number in range(6)]
RATE = 20  # a batch of 20 a claim: quick, and a kill strands part of a batch
WORKER = [sys.executable, "-m", "bot", "worker"]


def queue_texts(db: Engine) -> list[str]:
    """TEXTS transactional texts in the outbox, due now; their bodies."""
    bodies = [f"text {number:02d} of {TEXTS}" for number in range(TEXTS)]
    now = utcnow()  # the dispatchers run in processes of their own, on the wall clock
    with transaction(db) as connection:
        subscribers = []
        for phone in PHONES:
            subscriber = claim_subscriber(connection, phone, now)
            change_status(connection, subscriber, SubscriberStatus.SUBSCRIBED, now)
            subscribers.append(subscriber)
        for number, body in enumerate(bodies):
            queue_text(
                connection,
                subscribers[number % len(subscribers)],
                body=body,
                purpose=Purpose.TRANSACTIONAL,
                delivery=Delivery.OUTBOX,
                now=now,
            )
    return bodies


def twilio_gateway(server: FakeTwilioServer) -> TwilioGateway:
    return TwilioGateway(
        server.account_sid, server.auth_token, from_number=SENDER, api_base_url=server.base_url
    )


def worker_env(database_url: str, server: FakeTwilioServer, **settings: str) -> dict[str, str]:
    """A worker's environment: this database, the fake Twilio server, SEND_RATE=RATE."""
    return {
        **os.environ,
        "DATABASE_URL": database_url,
        "GATEWAY": "twilio",
        "TWILIO_ACCOUNT_SID": server.account_sid,
        "TWILIO_AUTH_TOKEN": server.auth_token,
        "TWILIO_FROM": SENDER,
        "TWILIO_API_URL": server.base_url,
        "SEND_RATE": str(RATE),
        **settings,
    }


def count(db: Engine, status: MessageStatus, *, claimed_by: str | None = None) -> int:
    query = select(func.count()).where(MESSAGES.c.status == status)
    if claimed_by is not None:
        query = query.where(MESSAGES.c.claimed_by == claimed_by)
    with db.connect() as connection:
        return connection.scalar(query) or 0

"""Turns effects into rows (status changes, consent entries, texts) in the caller's transaction."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.engine import Connection

from bot.domain.effects import ChangeStatus, Effect, RecordConsent, Send
from bot.domain.policy import DEFAULT_RULES, PolicyRules
from bot.domain.vocabulary import Delivery
from bot.sending.outbox import queue_text
from bot.store.messages import QueuedText
from bot.store.subscribers import SubscriberRow, change_status, record_consent


@dataclass(frozen=True)
class EffectContext:
    """Where the effects come from: consent source and text, the inbound text, how replies leave."""

    source: str
    delivery: Delivery
    now: datetime  # when it all happens (the service's clock)
    consent_text: str | None = None
    inbound_id: int | None = None
    rules: PolicyRules = DEFAULT_RULES


def apply_effects(
    connection: Connection,
    subscriber: SubscriberRow,
    effects: Iterable[Effect],
    context: EffectContext,
) -> list[QueuedText]:
    """Apply effects in order (a status change comes before the texts it governs)."""
    queued: list[QueuedText] = []
    for effect in effects:
        match effect:
            case ChangeStatus(status=status):
                change_status(connection, subscriber, status, context.now)
            case RecordConsent(kind=kind, keyword=keyword):
                record_consent(
                    connection,
                    subscriber,
                    kind=kind,
                    source=context.source,
                    now=context.now,
                    keyword=keyword,
                    text=context.consent_text,
                    message_id=context.inbound_id,
                )
            case Send(body=body, purpose=purpose, media_urls=media_urls):
                queued.append(
                    queue_text(
                        connection,
                        subscriber,
                        body=body,
                        purpose=purpose,
                        delivery=context.delivery,
                        now=context.now,
                        rules=context.rules,
                        media_urls=media_urls,
                        in_reply_to_id=context.inbound_id,
                    )
                )
    return queued

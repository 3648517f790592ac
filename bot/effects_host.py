"""Turns effects into rows (status changes, consent entries, texts) in the caller's transaction."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlmodel import Session

from bot.effects import ChangeStatus, Effect, RecordConsent, Send
from bot.models import Delivery, Message, Subscriber
from bot.outbox import queue_text
from bot.subscribers import change_status, record_consent


@dataclass(frozen=True)
class EffectContext:
    """Where the effects come from: consent source and text, the inbound text, how replies leave."""

    source: str
    delivery: Delivery
    consent_text: str | None = None
    inbound_id: int | None = None


def apply_effects(
    *, session: Session, subscriber: Subscriber, effects: Iterable[Effect], context: EffectContext
) -> list[Message]:
    """Apply effects in order (a status change comes before the texts it governs)."""
    queued: list[Message] = []
    for effect in effects:
        match effect:
            case ChangeStatus(status=status):
                change_status(subscriber=subscriber, status=status)
            case RecordConsent(kind=kind, keyword=keyword):
                record_consent(
                    session=session,
                    subscriber=subscriber,
                    kind=kind,
                    source=context.source,
                    keyword=keyword,
                    text=context.consent_text,
                    message_id=context.inbound_id,
                )
            case Send(body=body, purpose=purpose, media_urls=media_urls):
                queued.append(
                    queue_text(
                        session=session,
                        subscriber=subscriber,
                        body=body,
                        purpose=purpose,
                        delivery=context.delivery,
                        media_urls=media_urls,
                        in_reply_to_id=context.inbound_id,
                    )
                )
    return queued

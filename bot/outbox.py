"""Every outbound text becomes a message row here, after the send policy has had its say."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.engine import Connection

from bot import policy
from bot.models import Delivery, Direction, Message, MessageStatus, Purpose, utcnow
from bot.segments import count_segments
from bot.subscribers import SubscriberRow

MESSAGES = Message.__table__
_INSERT_OUTBOUND = MESSAGES.insert().returning(MESSAGES.c.id)


@dataclass(frozen=True)
class QueuedText:
    """An outbound text as stored: its id, and whether the policy let it through."""

    id: int
    body: str
    status: MessageStatus
    media_urls: tuple[str, ...] = ()

    @property
    def suppressed(self) -> bool:
        return self.status is MessageStatus.SUPPRESSED


def queue_text(
    connection: Connection,
    subscriber: SubscriberRow,
    *,
    body: str,
    purpose: Purpose,
    delivery: Delivery,
    media_urls: tuple[str, ...] = (),
    in_reply_to_id: int | None = None,
) -> QueuedText:
    """Log an outbound text: SUPPRESSED (with the reason) when the policy refuses it.

    An allowed text is PENDING in the outbox, or ACCEPTED when it leaves in the TwiML answer.
    """
    decision = policy.decide(purpose=purpose, recipient_status=subscriber.status)
    if not decision.allowed:
        status = MessageStatus.SUPPRESSED
    elif delivery is Delivery.TWIML:
        status = MessageStatus.ACCEPTED
    else:
        status = MessageStatus.PENDING
    segments = count_segments(body)
    now = utcnow()
    message_id = connection.execute(
        _INSERT_OUTBOUND,
        {
            "phone": subscriber.phone,
            "direction": Direction.OUTBOUND,
            "body": body,
            "media_urls": list(media_urls),
            "segments": segments.segments,
            "encoding": str(segments.encoding),
            "status": status,
            "purpose": purpose,
            "delivery": delivery,
            "in_reply_to_id": in_reply_to_id,
            "error_message": decision.reason,
            "created_at": now,
            "updated_at": now,
        },
    ).scalar_one()
    return QueuedText(message_id, body, status, media_urls)

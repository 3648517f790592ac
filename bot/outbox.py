"""Every outbound text becomes a message row here, after the send policy has had its say."""

from __future__ import annotations

from sqlmodel import Session

from bot import policy
from bot.models import (
    Delivery,
    Direction,
    Message,
    MessageStatus,
    Purpose,
    Subscriber,
)
from bot.segments import count_segments


def queue_text(
    *,
    session: Session,
    subscriber: Subscriber,
    body: str,
    purpose: Purpose,
    delivery: Delivery,
    media_urls: tuple[str, ...] = (),
    in_reply_to_id: int | None = None,
) -> Message:
    """Log an outbound text: PENDING when the policy allows it, SUPPRESSED (with why) if not."""
    decision = policy.decide(purpose=purpose, recipient_status=subscriber.status)
    segments = count_segments(body)
    message = Message(
        phone=subscriber.phone,
        direction=Direction.OUTBOUND,
        body=body,
        media_urls=list(media_urls),
        segments=segments.segments,
        encoding=str(segments.encoding),
        status=MessageStatus.PENDING if decision.allowed else MessageStatus.SUPPRESSED,
        purpose=purpose,
        delivery=delivery,
        in_reply_to_id=in_reply_to_id,
        error_message=decision.reason,
    )
    session.add(message)
    session.flush()
    return message

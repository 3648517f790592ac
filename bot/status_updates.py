"""Provider status callbacks: idempotent, and a status only ever moves forward."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from bot.db import transaction
from bot.models import Direction, Message, MessageStatus
from bot.statuses import advances
from bot.subscribers import opt_out_by_carrier

CARRIER_OPT_OUT_ERROR = 21610


@dataclass(frozen=True)
class StatusUpdate:
    """One status callback, parsed."""

    message_sid: str
    status: MessageStatus
    error_code: int | None = None
    message_id: int | None = None  # ours, from the callback URL of a TwiML reply


def apply_status_update(*, engine: Engine, update: StatusUpdate) -> bool:
    """Move the message forward if this is news; False when unknown, stale or a repeat."""
    with transaction(engine) as session:
        message = _find(session, update)
        if message is None:
            return False
        if message.provider_sid is None:
            message.provider_sid = update.message_sid
        if update.error_code == CARRIER_OPT_OUT_ERROR:
            opt_out_by_carrier(session=session, phone=message.phone, message_id=message.id)
        if not advances(message.status, update.status):
            return False
        message.status = update.status
        if update.error_code is not None:
            message.error_code = update.error_code
        return True


def _find(session: Session, update: StatusUpdate) -> Message | None:
    by_sid = session.exec(
        select(Message).where(Message.provider_sid == update.message_sid).with_for_update()
    ).first()
    if by_sid is not None or update.message_id is None:
        return by_sid
    message = session.get(Message, update.message_id, with_for_update=True)
    if message is None or message.direction is not Direction.OUTBOUND:
        return None
    if message.provider_sid not in (None, update.message_sid):
        return None  # the id in the URL belongs to another text: ignore the mismatch
    return message

"""Provider status callbacks: idempotent, and a status only ever moves forward."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.engine import Connection, Engine

from bot.domain.statuses import advances
from bot.domain.vocabulary import Direction, MessageStatus
from bot.store.db import transaction
from bot.store.subscribers import opt_out_by_carrier
from bot.store.tables import MESSAGES
from bot.store.webhook_events import record_text_failed

CARRIER_OPT_OUT_ERROR = 21610
NOT_DELIVERED = (MessageStatus.FAILED, MessageStatus.UNDELIVERED)  # told as `message.failed`


@dataclass(frozen=True)
class StatusUpdate:
    """One status callback, parsed."""

    message_sid: str
    status: MessageStatus
    error_code: int | None = None
    message_id: int | None = None  # ours, from the callback URL of a TwiML reply


def apply_status_update(*, db: Engine, update_: StatusUpdate, now: datetime) -> bool:
    """Move the message forward if this is news; False when unknown, stale or a repeat."""
    with transaction(db) as connection:
        message = _find(connection, update_)
        if message is None:
            return False
        values: dict[str, Any] = {}
        if message.provider_sid is None:
            values["provider_sid"] = update_.message_sid
        if update_.error_code == CARRIER_OPT_OUT_ERROR:
            opt_out_by_carrier(connection, message.phone, message.id, now)
        if advances(message.status, update_.status):
            values["status"] = update_.status
            if update_.error_code is not None:
                values["error_code"] = update_.error_code
        if values:
            connection.execute(
                update(MESSAGES).where(MESSAGES.c.id == message.id).values(updated_at=now, **values)
            )
        if values.get("status") in NOT_DELIVERED:
            record_text_failed(
                connection,
                message_id=message.id,
                phone=message.phone,
                status=update_.status,
                error_code=update_.error_code,
                error_message=message.error_message,
                flow=message.flow,
                campaign=message.campaign,
                now=now,
            )
        return "status" in values


def _find(connection: Connection, update_: StatusUpdate) -> Any:
    by_sid = connection.execute(
        select(MESSAGES).where(MESSAGES.c.provider_sid == update_.message_sid).with_for_update()
    ).first()
    if by_sid is not None or update_.message_id is None:
        return by_sid
    message = connection.execute(
        select(MESSAGES).where(MESSAGES.c.id == update_.message_id).with_for_update()
    ).first()
    if message is None or message.direction is not Direction.OUTBOUND:
        return None
    if message.provider_sid not in (None, update_.message_sid):
        return None  # the id in the URL belongs to another text: ignore the mismatch
    return message

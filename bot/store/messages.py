"""The message log: record an inbound text once, find what we answered it with, read a number's."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.engine import Connection
from sqlalchemy.sql.selectable import ExecutableReturnsRows

from bot.domain.inbound import InboundSms
from bot.domain.policy import SEND, Decision
from bot.domain.segments import count_segments
from bot.domain.vocabulary import Delivery, Direction, MessageStatus
from bot.store.db import dialect_insert
from bot.store.driver_sql import DriverStatement
from bot.store.models import status_is_not
from bot.store.tables import MESSAGES, AnyRow


@dataclass(frozen=True)
class QueuedText:
    """An outbound text as stored: its id, and whether the policy let it through."""

    id: int
    body: str
    status: MessageStatus
    media_urls: tuple[str, ...] = ()
    send_after: datetime | None = None  # deferred by the policy until then
    decision: Decision = SEND  # what the send policy decided, and why not now

    @property
    def suppressed(self) -> bool:
        return self.status is MessageStatus.SUPPRESSED


def _insert_inbound(dialect: str) -> ExecutableReturnsRows:
    return (
        dialect_insert(dialect, MESSAGES)
        .on_conflict_do_nothing(index_elements=["provider_sid"])
        .returning(MESSAGES.c.id)
    )


INSERT_INBOUND = DriverStatement(_insert_inbound)


def record_inbound(connection: Connection, sms: InboundSms, now: datetime) -> int | None:
    """Store the inbound text; None when its MessageSid is already stored (a retry)."""
    return INSERT_INBOUND.run(connection, inbound_row(sms, now)).scalar_one_or_none()


def inbound_row(sms: InboundSms, now: datetime) -> dict[str, object]:
    """INSERT_INBOUND's parameters for this text (it returns the new id, or no row for a
    MessageSid already stored)."""
    segments = count_segments(sms.body)
    return {
        "phone": sms.from_phone,
        "direction": Direction.INBOUND,
        "body": sms.body,
        "media_urls": list(sms.media_urls),
        "segments": segments.segments,
        "encoding": str(segments.encoding),
        "status": MessageStatus.RECEIVED,
        "provider_sid": sms.message_sid,
        "created_at": now,
        "updated_at": now,
    }


def inbound_id_by_sid(connection: Connection, message_sid: str) -> int | None:
    """Our id for an inbound text with this MessageSid, if we stored one."""
    return connection.execute(
        select(MESSAGES.c.id).where(
            MESSAGES.c.provider_sid == message_sid, MESSAGES.c.direction == Direction.INBOUND
        )
    ).scalar_one_or_none()


def latest_inbound_text(connection: Connection, phone: str) -> str | None:
    """The last text this number sent us, if any."""
    return connection.execute(
        select(MESSAGES.c.body)
        .where(MESSAGES.c.phone == phone, MESSAGES.c.direction == Direction.INBOUND)
        .order_by(MESSAGES.c.id.desc())
        .limit(1)
    ).scalar_one_or_none()


def messages_after(connection: Connection, phone: str, *, after: int, limit: int) -> list[AnyRow]:
    """One number's texts (every column of MESSAGES) with ids above `after`, oldest first."""
    return list(
        connection.execute(
            select(MESSAGES)
            .where(MESSAGES.c.phone == phone, MESSAGES.c.id > after)
            .order_by(MESSAGES.c.id)
            .limit(limit)
        )
    )


def twiml_replies_to(connection: Connection, inbound_id: int) -> tuple[QueuedText, ...]:
    """The replies we put in the TwiML answer to this inbound text, in order."""
    rows = connection.execute(
        select(MESSAGES.c.id, MESSAGES.c.body, MESSAGES.c.status, MESSAGES.c.media_urls)
        .where(
            MESSAGES.c.in_reply_to_id == inbound_id,
            MESSAGES.c.delivery == Delivery.TWIML,
            status_is_not(MESSAGES.c.status, MessageStatus.SUPPRESSED),
        )
        .order_by(MESSAGES.c.id)
    )
    return tuple(QueuedText(row.id, row.body, row.status, tuple(row.media_urls)) for row in rows)


def text_by_external_id(connection: Connection, external_id: str) -> AnyRow | None:
    """The text an API client gave this id (id, phone, body, media_urls, purpose, decision)."""
    return connection.execute(
        select(
            MESSAGES.c.id,
            MESSAGES.c.phone,
            MESSAGES.c.body,
            MESSAGES.c.media_urls,
            MESSAGES.c.purpose,
            MESSAGES.c.decision,
        ).where(MESSAGES.c.external_id == external_id)
    ).first()

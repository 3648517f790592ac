"""Unanswered texts: what no flow step could take, waiting in the agents' queue until handled.

A person's open texts are one item of the queue. It closes when an agent replies, takes the
chat over or marks it done; never because the person later texted a keyword.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, bindparam, select, update
from sqlalchemy.engine import Connection

from bot.domain.vocabulary import ConversationStatus
from bot.store.driver_sql import DriverStatement
from bot.store.models import MAX_ROW_ID, status_is
from bot.store.tables import CONVERSATIONS, MESSAGES, SUBSCRIBERS
from bot.store.tables import UNANSWERED_TEXTS as UNANSWERED

QUEUE_LIMIT = 500  # open texts the inbox lists at once, oldest first


@dataclass(frozen=True)
class OpenText:
    """One open unanswered text, as the inbox lists it."""

    id: int
    subscriber_id: int
    phone: str
    first_name: str | None
    subscriber_status: str
    body: str
    media_count: int
    context: str
    acknowledged: bool
    created_at: datetime


_IS_OPEN = UNANSWERED.c.handled_at.is_(None)
# Open texts an assignment round may give out: not those of people opted out now, which the
# inbox lists until an agent marks them done (ix_unanswered_text_queue leaves them out, so that
# they never pile up in every round's path; rounds still check the person's own status).
GIVEN_OUT_BY_ROUNDS = and_(_IS_OPEN, UNANSWERED.c.opted_out_at.is_(None))
_OF_PERSON = UNANSWERED.c.subscriber_id == bindparam("subscriber_id")
# Driver statements (bot/store/driver_sql.py): every text no step can take comes here, on the
# webhook's path, and in a burst of new numbers (a TV spot) that is half the texts.
_HAS_OPEN = DriverStatement(select(UNANSWERED.c.id).where(_OF_PERSON, _IS_OPEN).limit(1))
_INSERT = DriverStatement(UNANSWERED.insert())
_LAST_ENDED = DriverStatement(
    select(CONVERSATIONS.c.flow, CONVERSATIONS.c.step, CONVERSATIONS.c.end_reason)
    .where(
        CONVERSATIONS.c.subscriber_id == bindparam("subscriber_id"),
        status_is(CONVERSATIONS.c.status, ConversationStatus.ENDED),
    )
    .order_by(CONVERSATIONS.c.id.desc())
    .limit(1)
)


def has_open(connection: Connection, subscriber_id: int) -> bool:
    """Whether the person already has a text waiting for a human (and was acknowledged)."""
    return _HAS_OPEN.run(connection, {"subscriber_id": subscriber_id}).first() is not None


def record_unanswered(
    connection: Connection,
    *,
    message_id: int,
    subscriber_id: int,
    phone: str,
    flow: str | None,
    step: str | None,
    context: str,
    acknowledgement_id: int | None,
    opted_out: bool,
    now: datetime,
) -> None:
    """Put a text in the agents' queue (see `QueueForAgents`, the effect that asks for it).

    From someone opted out (`opted_out`) the inbox lists it, but no round gives it out unless
    they join again."""
    _INSERT.run_later(
        connection,
        {
            "message_id": message_id,
            "subscriber_id": subscriber_id,
            "phone": phone,
            "flow": flow,
            "step": step,
            "context": context[:160],
            "acknowledgement_id": acknowledgement_id,
            "created_at": now,
            "opted_out_at": now if opted_out else None,
        },
    )


def last_conversation(connection: Connection, subscriber_id: int) -> tuple[str, str | None, str]:
    """The flow, step and end reason of the person's latest ended conversation, if any."""
    row = _LAST_ENDED.run(connection, {"subscriber_id": subscriber_id}).first()
    return (row.flow, row.step, row.end_reason or "ended") if row is not None else ("", None, "")


def close_open(
    connection: Connection,
    *,
    subscriber_id: int,
    now: datetime,
    outcome: str,
    agent_id: int | None = None,
    up_to: int | None = None,  # only texts the agent saw: one that came since stays open
) -> int:
    """Take the person's open texts out of the queue; returns how many."""
    conditions = [UNANSWERED.c.subscriber_id == subscriber_id, _IS_OPEN]
    if up_to is not None:
        conditions.append(UNANSWERED.c.id <= up_to)
    return connection.execute(
        update(UNANSWERED)
        .where(*conditions)
        .values(handled_at=now, handled_by=agent_id, outcome=outcome[:80])
    ).rowcount


def subscriber_of(connection: Connection, text_id: int) -> tuple[int, str] | None:
    """The subscriber id and phone of an unanswered text; None for an id no row can have."""
    if not 0 < text_id <= MAX_ROW_ID:
        return None  # a URL edited by hand: no query (the database would refuse the number)
    row = connection.execute(
        select(UNANSWERED.c.subscriber_id, UNANSWERED.c.phone).where(UNANSWERED.c.id == text_id)
    ).first()
    return None if row is None else (row.subscriber_id, row.phone)


def open_texts(connection: Connection, subscriber_id: int | None = None) -> list[OpenText]:
    """Open unanswered texts, oldest first: everyone's, or one person's."""
    statement = (
        select(
            UNANSWERED.c.id,
            UNANSWERED.c.subscriber_id,
            UNANSWERED.c.phone,
            SUBSCRIBERS.c.first_name,
            SUBSCRIBERS.c.status,
            MESSAGES.c.body,
            MESSAGES.c.media_urls,
            UNANSWERED.c.context,
            UNANSWERED.c.acknowledgement_id,
            UNANSWERED.c.created_at,
        )
        .join(SUBSCRIBERS, SUBSCRIBERS.c.id == UNANSWERED.c.subscriber_id)
        .join(MESSAGES, MESSAGES.c.id == UNANSWERED.c.message_id)
        .where(_IS_OPEN)
        .order_by(UNANSWERED.c.id)
        .limit(QUEUE_LIMIT)
    )
    if subscriber_id is not None:
        statement = statement.where(UNANSWERED.c.subscriber_id == subscriber_id)
    return [
        OpenText(
            id=row.id,
            subscriber_id=row.subscriber_id,
            phone=row.phone,
            first_name=row.first_name,
            subscriber_status=str(row.status),
            body=row.body,
            media_count=len(row.media_urls or []),
            context=row.context,
            acknowledged=row.acknowledgement_id is not None,
            created_at=row.created_at,
        )
        for row in connection.execute(statement)
    ]

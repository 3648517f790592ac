"""Conversation rows: the active one per subscriber, its state, answers, step visits, timers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, bindparam, func, select, update
from sqlalchemy.engine import Connection

from bot.driver_sql import DriverStatement
from bot.engine.state import FlowState
from bot.models import (
    Answer,
    Conversation,
    ConversationStatus,
    HandledBy,
    StepVisit,
    Subscriber,
    Timer,
    TimerStatus,
    utcnow,
)
from bot.subscribers import SubscriberRow

CONVERSATIONS = Conversation.__table__
ANSWERS = Answer.__table__
VISITS = StepVisit.__table__
TIMERS = Timer.__table__
SUBSCRIBERS = Subscriber.__table__


@dataclass
class ActiveConversation:
    """The active conversation of a subscriber, as the host needs it."""

    id: int
    flow: str
    handled_by: HandledBy
    state: FlowState
    phone: str = ""
    expires_at: datetime | None = None


_SAVE_PROFILE = DriverStatement(
    update(SUBSCRIBERS)
    .where(SUBSCRIBERS.c.id == bindparam("subscriber_id"))
    .values(
        attributes=bindparam("attributes"),
        tags=bindparam("tags"),
        updated_at=bindparam("updated_at"),
    )
)


def save_profile(connection: Connection, subscriber: SubscriberRow) -> None:
    """Store the subscriber's changed attributes and tags."""
    _SAVE_PROFILE.run(
        connection,
        {
            "subscriber_id": subscriber.id,
            "attributes": subscriber.attributes,
            "tags": subscriber.tags,
            "updated_at": utcnow(),
        },
    )


_ACTIVE = DriverStatement(
    select(
        CONVERSATIONS.c.id,
        CONVERSATIONS.c.flow,
        CONVERSATIONS.c.handled_by,
        CONVERSATIONS.c.state,
        CONVERSATIONS.c.phone,
    )
    .where(
        CONVERSATIONS.c.subscriber_id == bindparam("subscriber_id"),
        CONVERSATIONS.c.status == ConversationStatus.ACTIVE,
    )
    .with_for_update()
)


def active_conversation(connection: Connection, subscriber_id: int) -> ActiveConversation | None:
    """The subscriber's active conversation, locked until commit."""
    row = _ACTIVE.run(connection, {"subscriber_id": subscriber_id}).first()
    return None if row is None else _active(row)


_BY_ID = DriverStatement(
    select(
        CONVERSATIONS.c.id,
        CONVERSATIONS.c.flow,
        CONVERSATIONS.c.handled_by,
        CONVERSATIONS.c.state,
        CONVERSATIONS.c.phone,
        CONVERSATIONS.c.status,
        CONVERSATIONS.c.expires_at,
    )
    .where(CONVERSATIONS.c.id == bindparam("conversation_id"))
    .with_for_update()
)


def conversation_by_id(connection: Connection, conversation_id: int) -> ActiveConversation | None:
    """An active conversation by id (None once it ended), locked until commit."""
    row = _BY_ID.run(connection, {"conversation_id": conversation_id}).first()
    if row is None or row.status is not ConversationStatus.ACTIVE:
        return None
    return _active(row)


def _active(row: Any) -> ActiveConversation:
    expires_at = row.expires_at if "expires_at" in row._fields else None
    return ActiveConversation(
        row.id, row.flow, row.handled_by, FlowState.from_json(row.state), row.phone, expires_at
    )


_OPEN = DriverStatement(CONVERSATIONS.insert().returning(CONVERSATIONS.c.id))


def open_conversation(
    connection: Connection, *, subscriber_id: int, phone: str, state: FlowState
) -> int:
    """Insert a new active conversation."""
    now = utcnow()
    return _OPEN.run(
        connection,
        {
            "subscriber_id": subscriber_id,
            "phone": phone,
            "flow": state.flow,
            "flow_version": state.version,
            "step": state.step,
            "state": state.to_json(),
            "status": ConversationStatus.ACTIVE,
            "handled_by": HandledBy.BOT,
            "started_at": now,
            "updated_at": now,
        },
    ).scalar_one()


def _update_conversation(*columns: str) -> Any:
    return DriverStatement(
        update(CONVERSATIONS)
        .where(CONVERSATIONS.c.id == bindparam("conversation_id"))
        .values({column: bindparam(column) for column in (*columns, "updated_at")})
    )


_SAVE_STATE = _update_conversation("state", "step", "flow_version", "expires_at")
_SET_HANDLED_BY = _update_conversation("handled_by", "handoff_reason")
_END = _update_conversation("status", "end_reason", "ended_at")


def save_state(
    connection: Connection, conversation_id: int, state: FlowState, expires_at: datetime | None
) -> None:
    """Store where the conversation now stands, and when it gives up waiting for an answer."""
    _SAVE_STATE.run(
        connection,
        {
            "conversation_id": conversation_id,
            "state": state.to_json(),
            "step": state.step,
            "flow_version": state.version,
            "expires_at": expires_at,
            "updated_at": utcnow(),
        },
    )


def expired_conversations(connection: Connection, now: datetime, limit: int) -> list[int]:
    """Active bot-run conversations whose wait for an answer ran out."""
    return list(
        connection.execute(
            select(CONVERSATIONS.c.id)
            .where(
                CONVERSATIONS.c.status == ConversationStatus.ACTIVE,
                CONVERSATIONS.c.handled_by == HandledBy.BOT,
                CONVERSATIONS.c.expires_at <= now,
            )
            .order_by(CONVERSATIONS.c.expires_at)
            .limit(limit)
        ).scalars()
    )


def next_wake_up(connection: Connection, limit: datetime) -> datetime | None:
    """The earliest due timer or expiry no later than `limit`."""
    timer = connection.execute(
        select(func.min(TIMERS.c.due_at)).where(
            TIMERS.c.status == TimerStatus.PENDING, TIMERS.c.due_at <= limit
        )
    ).scalar_one_or_none()
    expiry = connection.execute(
        select(func.min(CONVERSATIONS.c.expires_at)).where(
            CONVERSATIONS.c.status == ConversationStatus.ACTIVE,
            CONVERSATIONS.c.handled_by == HandledBy.BOT,
            CONVERSATIONS.c.expires_at <= limit,
        )
    ).scalar_one_or_none()
    moments = [moment for moment in (timer, expiry) if moment is not None]
    return min(moments) if moments else None


def set_handled_by(
    connection: Connection,
    conversation_id: int,
    handled_by: HandledBy,
    reason: str | None = None,
) -> None:
    """Mark who has the conversation (the bot, nobody yet, an agent) and why a human is wanted."""
    _SET_HANDLED_BY.run(
        connection,
        {
            "conversation_id": conversation_id,
            "handled_by": handled_by,
            "handoff_reason": reason[:120] if reason else None,
            "updated_at": utcnow(),
        },
    )


def end_conversation(
    connection: Connection, conversation_id: int, reason: str, *, drop_timers: bool = True
) -> None:
    """Close the conversation and drop its timers (unless the caller already did)."""
    now = utcnow()
    _END.run(
        connection,
        {
            "conversation_id": conversation_id,
            "status": ConversationStatus.ENDED,
            "end_reason": reason[:80],
            "ended_at": now,
            "updated_at": now,
        },
    )
    if drop_timers:
        cancel_timers(connection, conversation_id)


_INSERT_ANSWER = DriverStatement(ANSWERS.insert())


def record_answer(
    connection: Connection,
    *,
    conversation_id: int,
    subscriber_id: int,
    phone: str,
    flow: str,
    step: str,
    name: str,
    value: Any,
) -> None:
    """Store a validated answer."""
    _INSERT_ANSWER.run(
        connection,
        {
            "conversation_id": conversation_id,
            "subscriber_id": subscriber_id,
            "phone": phone,
            "flow": flow,
            "step": step,
            "name": name,
            "value": value,
            "created_at": utcnow(),
        },
    )


_INSERT_VISIT = DriverStatement(VISITS.insert())


def record_visits(
    connection: Connection, conversation_id: int, flow: str, steps: list[str]
) -> None:
    """Note the steps the conversation reached this turn (one round trip for all of them)."""
    if not steps:
        return
    now = utcnow()
    _INSERT_VISIT.run_many(
        connection,
        [
            {"conversation_id": conversation_id, "flow": flow, "step": step, "created_at": now}
            for step in steps
        ],
    )


_INSERT_TIMER = DriverStatement(TIMERS.insert())


def schedule_timer(
    connection: Connection,
    conversation_id: int,
    kind: str,
    step: str | None,
    due_at: datetime,
    *,
    replace: bool = True,
) -> None:
    """Set the conversation's timer of this kind, replacing a pending one (if there may be one)."""
    if replace:
        cancel_timers(connection, conversation_id, kind)
    _INSERT_TIMER.run(
        connection,
        {
            "conversation_id": conversation_id,
            "kind": kind,
            "step": step,
            "due_at": due_at,
            "status": TimerStatus.PENDING,
        },
    )


_PENDING_TIMERS = and_(
    TIMERS.c.conversation_id == bindparam("of_conversation"),
    TIMERS.c.status == TimerStatus.PENDING,
)
_CANCEL_ALL = DriverStatement(
    update(TIMERS).where(_PENDING_TIMERS).values(status=TimerStatus.CANCELLED)
)
_CANCEL_KIND = DriverStatement(
    update(TIMERS)
    .where(_PENDING_TIMERS, TIMERS.c.kind == bindparam("of_kind"))
    .values(status=TimerStatus.CANCELLED)
)


def cancel_timers(connection: Connection, conversation_id: int, kind: str | None = None) -> None:
    """Cancel the conversation's pending timers (of one kind, or all)."""
    if kind is None:
        _CANCEL_ALL.run(connection, {"of_conversation": conversation_id})
    else:
        _CANCEL_KIND.run(connection, {"of_conversation": conversation_id, "of_kind": kind})

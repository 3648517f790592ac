"""Conversation rows: the active one per subscriber, its state, answers, step visits, timers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, bindparam, select, update
from sqlalchemy.engine import Connection

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


@dataclass(frozen=True)
class Profile:
    """What flows may read about a subscriber."""

    first_name: str | None
    attributes: dict[str, Any]
    tags: list[str]


def load_profile(connection: Connection, subscriber_id: int) -> Profile:
    """The subscriber's name, attributes and tags."""
    row = connection.execute(
        select(SUBSCRIBERS.c.first_name, SUBSCRIBERS.c.attributes, SUBSCRIBERS.c.tags).where(
            SUBSCRIBERS.c.id == subscriber_id
        )
    ).one()
    return Profile(row.first_name, dict(row.attributes or {}), list(row.tags or []))


def save_profile(connection: Connection, subscriber_id: int, profile: Profile) -> None:
    """Store changed attributes and tags."""
    connection.execute(
        update(SUBSCRIBERS)
        .where(SUBSCRIBERS.c.id == subscriber_id)
        .values(attributes=profile.attributes, tags=profile.tags, updated_at=utcnow())
    )


_ACTIVE = (
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
    row = connection.execute(_ACTIVE, {"subscriber_id": subscriber_id}).first()
    return None if row is None else _active(row)


def conversation_by_id(connection: Connection, conversation_id: int) -> ActiveConversation | None:
    """An active conversation by id (None once it ended), locked until commit."""
    row = connection.execute(
        select(
            CONVERSATIONS.c.id,
            CONVERSATIONS.c.flow,
            CONVERSATIONS.c.handled_by,
            CONVERSATIONS.c.state,
            CONVERSATIONS.c.phone,
            CONVERSATIONS.c.status,
        )
        .where(CONVERSATIONS.c.id == conversation_id)
        .with_for_update()
    ).first()
    if row is None or row.status is not ConversationStatus.ACTIVE:
        return None
    return _active(row)


def _active(row: Any) -> ActiveConversation:
    return ActiveConversation(
        row.id, row.flow, row.handled_by, FlowState.from_json(row.state), row.phone
    )


def open_conversation(
    connection: Connection, *, subscriber_id: int, phone: str, state: FlowState
) -> int:
    """Insert a new active conversation."""
    now = utcnow()
    return connection.execute(
        CONVERSATIONS.insert()
        .values(
            subscriber_id=subscriber_id,
            phone=phone,
            flow=state.flow,
            flow_version=state.version,
            step=state.step,
            state=state.to_json(),
            status=ConversationStatus.ACTIVE,
            handled_by=HandledBy.BOT,
            started_at=now,
            updated_at=now,
        )
        .returning(CONVERSATIONS.c.id)
    ).scalar_one()


def save_state(connection: Connection, conversation_id: int, state: FlowState) -> None:
    """Store where the conversation now stands."""
    connection.execute(
        update(CONVERSATIONS)
        .where(CONVERSATIONS.c.id == conversation_id)
        .values(
            state=state.to_json(),
            step=state.step,
            flow_version=state.version,
            updated_at=utcnow(),
        )
    )


def set_handled_by(connection: Connection, conversation_id: int, handled_by: HandledBy) -> None:
    """Mark who has the conversation: the bot, nobody yet (handed off), or an agent."""
    connection.execute(
        update(CONVERSATIONS)
        .where(CONVERSATIONS.c.id == conversation_id)
        .values(handled_by=handled_by, updated_at=utcnow())
    )


def end_conversation(connection: Connection, conversation_id: int, reason: str) -> None:
    """Close the conversation and drop its timers."""
    now = utcnow()
    connection.execute(
        update(CONVERSATIONS)
        .where(CONVERSATIONS.c.id == conversation_id)
        .values(
            status=ConversationStatus.ENDED, end_reason=reason[:80], ended_at=now, updated_at=now
        )
    )
    cancel_timers(connection, conversation_id)


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
    connection.execute(
        ANSWERS.insert().values(
            conversation_id=conversation_id,
            subscriber_id=subscriber_id,
            phone=phone,
            flow=flow,
            step=step,
            name=name,
            value=value,
            created_at=utcnow(),
        )
    )


def record_visit(connection: Connection, conversation_id: int, flow: str, step: str) -> None:
    """Note that the conversation reached a step."""
    connection.execute(
        VISITS.insert().values(
            conversation_id=conversation_id, flow=flow, step=step, created_at=utcnow()
        )
    )


def schedule_timer(
    connection: Connection, conversation_id: int, kind: str, step: str | None, due_at: datetime
) -> None:
    """Set the conversation's timer of this kind, replacing a pending one."""
    cancel_timers(connection, conversation_id, kind)
    connection.execute(
        TIMERS.insert().values(
            conversation_id=conversation_id,
            kind=kind,
            step=step,
            due_at=due_at,
            status=TimerStatus.PENDING,
        )
    )


def cancel_timers(connection: Connection, conversation_id: int, kind: str | None = None) -> None:
    """Cancel the conversation's pending timers (of one kind, or all)."""
    condition = and_(
        TIMERS.c.conversation_id == conversation_id, TIMERS.c.status == TimerStatus.PENDING
    )
    if kind is not None:
        condition = and_(condition, TIMERS.c.kind == kind)
    connection.execute(update(TIMERS).where(condition).values(status=TimerStatus.CANCELLED))

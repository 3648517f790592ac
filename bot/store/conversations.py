"""Conversation rows: the active one per subscriber, its state and timer, answers, step visits."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, bindparam, func, select, update
from sqlalchemy.engine import Connection

from bot.domain.inbound import InboundSms
from bot.domain.vocabulary import ConversationStatus, HandledBy, TimerKind
from bot.engine.state import FlowState
from bot.store.driver_sql import DriverStatement, run_together
from bot.store.messages import INSERT_INBOUND, inbound_row, record_inbound
from bot.store.models import status_is
from bot.store.subscribers import LOCK_SUBSCRIBER, SubscriberRow, add_subscriber, lock_subscriber
from bot.store.tables import ANSWERS, CONVERSATIONS, SUBSCRIBERS
from bot.store.tables import STEP_VISITS as VISITS
from bot.store.timer_alarm import timer_set


@dataclass(frozen=True)
class Wake:
    """A flow's timer: resume the conversation with `kind` (wait, timeout) at `due_at`."""

    kind: TimerKind
    due_at: datetime


@dataclass
class ActiveConversation:
    """The active conversation of a subscriber, as the host needs it; a turn updates it."""

    id: int
    flow: str
    handled_by: HandledBy
    state: FlowState
    phone: str = ""
    expires_at: datetime | None = None  # when a flow waiting for an answer gives up
    wake: Wake | None = None


_SAVE_PROFILE = DriverStatement(
    update(SUBSCRIBERS)
    .where(SUBSCRIBERS.c.id == bindparam("subscriber_id"))
    .values(
        attributes=bindparam("attributes"),
        tags=bindparam("tags"),
        updated_at=bindparam("updated_at"),
    )
)


def save_profile(connection: Connection, subscriber: SubscriberRow, now: datetime) -> None:
    """Store the subscriber's changed attributes and tags."""
    _SAVE_PROFILE.run_later(
        connection,
        {
            "subscriber_id": subscriber.id,
            "attributes": subscriber.attributes,
            "tags": subscriber.tags,
            "updated_at": now,
        },
    )


_CONVERSATION_COLUMNS = (
    CONVERSATIONS.c.id,
    CONVERSATIONS.c.flow,
    CONVERSATIONS.c.handled_by,
    CONVERSATIONS.c.state,
    CONVERSATIONS.c.expires_at,
    CONVERSATIONS.c.wakes_at,
    CONVERSATIONS.c.wake_kind,
)

_SUBSCRIBER_COLUMNS = (
    SUBSCRIBERS.c.id.label("subscriber_id"),
    SUBSCRIBERS.c.status,
    SUBSCRIBERS.c.first_name,
    SUBSCRIBERS.c.timezone,
    SUBSCRIBERS.c.attributes,
    SUBSCRIBERS.c.tags,
    SUBSCRIBERS.c.email,
)
_IS_ACTIVE = status_is(CONVERSATIONS.c.status, ConversationStatus.ACTIVE)

# SQLite, one writer at a time (BEGIN IMMEDIATE): one read sees every earlier commit, so the
# subscriber and their active conversation come back together.
_CLAIM_AT_ONCE = DriverStatement(
    select(*_SUBSCRIBER_COLUMNS, *_CONVERSATION_COLUMNS)
    .select_from(
        SUBSCRIBERS.outerjoin(
            CONVERSATIONS, and_(CONVERSATIONS.c.subscriber_id == SUBSCRIBERS.c.id, _IS_ACTIVE)
        )
    )
    .where(SUBSCRIBERS.c.phone == bindparam("phone"))
)
# PostgreSQL, row locks: a statement's snapshot predates a lock it waited for, so the
# conversation is read by a second statement, once the subscriber's lock is held.
_ACTIVE = DriverStatement(
    select(*_CONVERSATION_COLUMNS).where(
        CONVERSATIONS.c.subscriber_id == bindparam("subscriber_id"), _IS_ACTIVE
    )
)
# The same, found by number, for a claim sent together with the lock (claim_for_text).
_ACTIVE_BY_PHONE = DriverStatement(
    select(*_CONVERSATION_COLUMNS).where(
        CONVERSATIONS.c.subscriber_id
        == select(SUBSCRIBERS.c.id)
        .where(SUBSCRIBERS.c.phone == bindparam("phone"))
        .scalar_subquery(),
        _IS_ACTIVE,
    )
)
_PHONE_OF = DriverStatement(
    select(CONVERSATIONS.c.phone).where(CONVERSATIONS.c.id == bindparam("conversation_id"))
)


@dataclass
class Claimed:
    """A subscriber, locked in this transaction, and their active conversation."""

    connection: Connection
    subscriber: SubscriberRow
    conversation: ActiveConversation | None


def claim(connection: Connection, phone: str, now: datetime) -> Claimed:
    """The subscriber with this number (created on first contact), locked till commit, and
    their active conversation.

    Every writer of a conversation claims its subscriber first (two texts from one person are
    handled one after the other; the clock and the inbox queue behind them in the same order).
    """
    claimed = claim_known(connection, phone)
    if claimed is None:  # first contact
        return Claimed(connection, add_subscriber(connection, phone, now), None)
    return claimed


def claim_known(connection: Connection, phone: str) -> Claimed | None:
    """As `claim`, for a number already stored; None (and nothing written) for an unknown one."""
    if connection.dialect.name != "sqlite":
        subscriber = lock_subscriber(connection, phone)
        if subscriber is None:
            return None
        row = _ACTIVE.run(connection, {"subscriber_id": subscriber.id}).first()
        return Claimed(connection, subscriber, None if row is None else _active(row, phone))
    row = _CLAIM_AT_ONCE.run(connection, {"phone": phone}).first()
    if row is None:
        return None
    subscriber = SubscriberRow.read(row.subscriber_id, phone, row)
    return Claimed(connection, subscriber, None if row.id is None else _active(row, phone))


def claim_for_text(
    connection: Connection, sms: InboundSms, now: datetime
) -> tuple[int, Claimed] | None:
    """Store an inbound text once and claim its sender (as `claim`): the text's id and the
    claim; None, and nothing written, for a MessageSid already stored.

    On PostgreSQL the text, the sender's lock and their active conversation go in one round
    trip: each statement still runs after the one before, so the conversation is read once
    the lock is held.
    """
    phone = sms.from_phone
    if connection.dialect.name == "sqlite":
        inbound_id = record_inbound(connection, sms, now)
        return None if inbound_id is None else (inbound_id, claim(connection, phone, now))
    inserted, locked, active = run_together(
        connection,
        [
            (INSERT_INBOUND, inbound_row(sms, now)),
            (LOCK_SUBSCRIBER, {"phone": phone}),
            (_ACTIVE_BY_PHONE, {"phone": phone}),
        ],
    )
    inbound_id = inserted.scalar_one_or_none()
    if inbound_id is None:
        return None
    subscriber = locked.first()
    if subscriber is None:  # first contact
        return inbound_id, Claimed(connection, add_subscriber(connection, phone, now), None)
    row = active.first()
    conversation = None if row is None else _active(row, phone)
    return inbound_id, Claimed(
        connection, SubscriberRow.read(subscriber.id, phone, subscriber), conversation
    )


def claim_conversation(
    connection: Connection, conversation_id: int, now: datetime
) -> Claimed | None:
    """Claim the subscriber of this conversation; None unless it is still their active one."""
    phone = _PHONE_OF.run(connection, {"conversation_id": conversation_id}).scalar_one_or_none()
    if phone is None:
        return None
    claimed = claim(connection, phone, now)
    if claimed.conversation is None or claimed.conversation.id != conversation_id:
        return None
    return claimed


def _active(row: Any, phone: str) -> ActiveConversation:
    wake = None if row.wakes_at is None else Wake(TimerKind(row.wake_kind), row.wakes_at)
    return ActiveConversation(
        row.id,
        row.flow,
        row.handled_by,
        FlowState.from_json(row.state),
        phone,
        row.expires_at,
        wake,
    )


_OPEN = DriverStatement(CONVERSATIONS.insert().returning(CONVERSATIONS.c.id))


def open_conversation(
    connection: Connection,
    *,
    subscriber: SubscriberRow,
    state: FlowState,
    now: datetime,
    expires_at: datetime | None = None,
    wake: Wake | None = None,
    handoff_reason: str | None = None,
    end_reason: str | None = None,
) -> int:
    """Insert a conversation as its first turn left it (ended, if that turn ended it)."""
    handled_by = HandledBy.BOT if handoff_reason is None else HandledBy.WAITING_FOR_AGENT
    if end_reason is None and handled_by is HandledBy.BOT:
        _tell_the_clock(connection, expires_at, wake)
    return _OPEN.run(
        connection,
        {
            "subscriber_id": subscriber.id,
            "phone": subscriber.phone,
            "flow": state.flow,
            "flow_version": state.version,
            "step": state.step,
            "state": state.to_json(),
            "status": ConversationStatus.ACTIVE if end_reason is None else ConversationStatus.ENDED,
            "handled_by": handled_by,
            "handoff_reason": handoff_reason[:120] if handoff_reason else None,
            "end_reason": end_reason[:80] if end_reason else None,
            "expires_at": expires_at,
            "wakes_at": wake.due_at if wake else None,
            "wake_kind": wake.kind if wake else None,
            "started_at": now,
            "updated_at": now,
            "ended_at": now if end_reason is not None else None,
        },
    ).scalar_one()


_LAST_STARTED = DriverStatement(
    select(func.max(CONVERSATIONS.c.started_at)).where(
        CONVERSATIONS.c.subscriber_id == bindparam("subscriber_id"),
        CONVERSATIONS.c.flow == bindparam("flow"),
    )
)


def last_started(connection: Connection, subscriber_id: int, flow: str) -> datetime | None:
    """When `flow` last started for this subscriber (one index look-up); None if it never did."""
    return _LAST_STARTED.run(
        connection, {"subscriber_id": subscriber_id, "flow": flow}
    ).scalar_one_or_none()


# One statement for every change to a conversation: it sets the columns it is given.
_UPDATE = DriverStatement(
    update(CONVERSATIONS).where(CONVERSATIONS.c.id == bindparam("conversation_id"))
)


def save_state(
    connection: Connection,
    conversation: ActiveConversation,
    now: datetime,
    *,
    handoff_reason: str | None = None,
) -> None:
    """Store where the conversation now stands: state, expiry, timer (and a handoff)."""
    changes: dict[str, Any] = {
        "state": conversation.state.to_json(),
        "step": conversation.state.step,
        "flow_version": conversation.state.version,
        "expires_at": conversation.expires_at,
        "wakes_at": conversation.wake.due_at if conversation.wake else None,
        "wake_kind": conversation.wake.kind if conversation.wake else None,
    }
    if handoff_reason is not None:
        conversation.handled_by = HandledBy.WAITING_FOR_AGENT
        changes.update(handled_by=HandledBy.WAITING_FOR_AGENT, handoff_reason=handoff_reason[:120])
    if conversation.handled_by is HandledBy.BOT:
        _tell_the_clock(connection, conversation.expires_at, conversation.wake)
    _update(connection, conversation.id, changes, now)


def _tell_the_clock(connection: Connection, expires_at: datetime | None, wake: Wake | None) -> None:
    """A clock in this process may sleep past a timer or expiry set now: ring its alarm."""
    due = [moment for moment in (expires_at, wake.due_at if wake else None) if moment is not None]
    if due:
        timer_set(connection, min(due))


def due_timers(connection: Connection, now: datetime, limit: int) -> list[int]:
    """Active bot-run conversations whose flow's timer came due, earliest first."""
    return _due(connection, CONVERSATIONS.c.wakes_at, now, limit)


def expired_conversations(connection: Connection, now: datetime, limit: int) -> list[int]:
    """Active bot-run conversations whose wait for an answer ran out, earliest first."""
    return _due(connection, CONVERSATIONS.c.expires_at, now, limit)


def _due(connection: Connection, column: Any, now: datetime, limit: int) -> list[int]:
    # An agent's chats are left out: the bot's timers wait for the hand-back.
    return list(
        connection.execute(
            select(CONVERSATIONS.c.id)
            .where(
                status_is(CONVERSATIONS.c.status, ConversationStatus.ACTIVE),
                CONVERSATIONS.c.handled_by == HandledBy.BOT,
                column <= now,
            )
            .order_by(column)
            .limit(limit)
        ).scalars()
    )


def next_wake_up(connection: Connection, limit: datetime) -> datetime | None:
    """The earliest due timer or expiry no later than `limit`."""
    moments = [
        connection.execute(
            select(func.min(column)).where(
                status_is(CONVERSATIONS.c.status, ConversationStatus.ACTIVE),
                CONVERSATIONS.c.handled_by == HandledBy.BOT,
                column <= limit,
            )
        ).scalar_one_or_none()
        for column in (CONVERSATIONS.c.wakes_at, CONVERSATIONS.c.expires_at)
    ]
    due = [moment for moment in moments if moment is not None]
    return min(due) if due else None


# The chats agents hold, found through ix_conversation_active_handler: the clock asks at every
# wake, and most active conversations are the bot's (a welcome series waits days).
HELD_BY_AGENTS = (
    status_is(CONVERSATIONS.c.status, ConversationStatus.ACTIVE),
    CONVERSATIONS.c.handled_by == HandledBy.AGENT,
)
# The chats a flow's handoff left waiting for an agent (the same index).
WAITING_FOR_AGENTS = (
    status_is(CONVERSATIONS.c.status, ConversationStatus.ACTIVE),
    CONVERSATIONS.c.handled_by == HandledBy.WAITING_FOR_AGENT,
)
_EARLIEST_AGENT_ACTIVITY = DriverStatement(
    select(func.min(CONVERSATIONS.c.agent_active_at)).where(*HELD_BY_AGENTS)
)


def earliest_agent_activity(connection: Connection) -> datetime | None:
    """When the agent idle longest in an active takeover last acted (idle chats go back)."""
    return _EARLIEST_AGENT_ACTIVITY.run(connection).scalar_one_or_none()


def end_conversation(
    connection: Connection, conversation_id: int, reason: str, now: datetime
) -> None:
    """Close the conversation; its timer and expiry die with it (the clock reads active rows)."""
    _update(
        connection,
        conversation_id,
        {"status": ConversationStatus.ENDED, "end_reason": reason[:80], "ended_at": now},
        now,
    )


def _update(
    connection: Connection,
    conversation_id: int,
    changes: dict[str, Any],
    now: datetime,
) -> None:
    _UPDATE.run_later(
        connection, {**changes, "conversation_id": conversation_id, "updated_at": now}
    )


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
    now: datetime,
) -> None:
    """Store a validated answer."""
    _INSERT_ANSWER.run_later(
        connection,
        {
            "conversation_id": conversation_id,
            "subscriber_id": subscriber_id,
            "phone": phone,
            "flow": flow,
            "step": step,
            "name": name,
            "value": value,
            "created_at": now,
        },
    )


_INSERT_VISIT = DriverStatement(VISITS.insert())


def record_visits(
    connection: Connection, conversation_id: int, flow: str, steps: list[str], now: datetime
) -> None:
    """Note the steps the conversation reached this turn (one round trip for all of them)."""
    if not steps:
        return
    _INSERT_VISIT.run_many_later(
        connection,
        [
            {"conversation_id": conversation_id, "flow": flow, "step": step, "created_at": now}
            for step in steps
        ],
    )

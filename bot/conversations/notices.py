"""What an agent is told of: the people assigned to them who wait, and their unread mentions.

The inbox's live channel (`GET /inbox/events`, polled by every inbox page) reads these: the
counts go into the page title and the navigation's badges, and each item has a key that stays
the same while it is unread, so a browser notifies of it once. An assigned person stops being
news when the agent takes the chat over (or nothing of theirs waits any more, or they go to a
colleague); a mention when the agent marks it read.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from sqlalchemy import exists, func, select
from sqlalchemy.engine import Engine

from bot.conversations.assignment import waits_for_a_human
from bot.conversations.notes import MENTIONS_SHOWN, unread_mentions
from bot.domain.vocabulary import SubscriberStatus
from bot.store.conversations import HELD_BY_AGENTS
from bot.store.models import status_is_not
from bot.store.tables import ASSIGNMENTS, CONVERSATIONS, NOTE_MENTIONS, SUBSCRIBERS, AnyRow

NOTE_PREVIEW_CHARS = 140  # a notification shows a line or two, not the whole note


@dataclass(frozen=True)
class Notice:
    """One thing an agent has not seen to yet."""

    key: str  # the same while it is unread: a browser notifies of each key once
    kind: Literal["assigned", "mention"]
    conversation_id: int | None
    title: str
    body: str


@dataclass(frozen=True)
class Notices:
    """The agent's unread counts and the newest items behind them."""

    queue: int  # people assigned to the agent who wait for them
    mentions: int  # unread mentions
    items: tuple[Notice, ...]

    @property
    def total(self) -> int:
        return self.queue + self.mentions


def agent_notices(db: Engine, agent_id: int) -> Notices:
    """What this agent has waiting: assigned people not yet taken over, unread mentions."""
    assigned = _assigned_waiting(db, agent_id)
    mentions = unread_mentions(db, agent_id)
    mention_count = len(mentions)
    if mention_count >= MENTIONS_SHOWN:  # only then is the list shorter than the truth
        mention_count = _unread_mention_count(db, agent_id)
    items = [
        Notice(
            key=f"assigned-{row.subscriber_id}-{row.assigned_at.timestamp() * 1e6:.0f}",
            kind="assigned",
            conversation_id=row.conversation_id,
            title="A chat is assigned to you",
            body=f"{row.first_name or row.phone} is waiting for you.",
        )
        for row in assigned
    ] + [
        Notice(
            key=f"mention-{row.id}",
            kind="mention",
            conversation_id=row.conversation_id,
            title=f"{row.author} mentioned you",
            body=f"{row.first_name or row.phone}: {_preview(row.body)}",
        )
        for row in mentions
    ]
    return Notices(queue=len(assigned), mentions=mention_count, items=tuple(items))


def _assigned_waiting(db: Engine, agent_id: int) -> list[AnyRow]:
    """People assigned to the agent whom nobody holds and who still wait: a flow's handoff or
    open texts no step could take (the assignment round sweeps the rest later)."""
    person = ASSIGNMENTS.c.subscriber_id
    held = exists().where(CONVERSATIONS.c.subscriber_id == person, *HELD_BY_AGENTS)
    latest_chat = (
        select(func.max(CONVERSATIONS.c.id))
        .where(CONVERSATIONS.c.subscriber_id == person)
        .scalar_subquery()
    )
    statement = (
        select(
            person,
            ASSIGNMENTS.c.assigned_at,
            SUBSCRIBERS.c.phone,
            SUBSCRIBERS.c.first_name,
            latest_chat.label("conversation_id"),
        )
        .join(SUBSCRIBERS, SUBSCRIBERS.c.id == person)
        .where(
            ASSIGNMENTS.c.agent_id == agent_id,
            waits_for_a_human(person),  # as the assignment rounds say
            ~held,
            # Opted out: nobody may text them.
            status_is_not(SUBSCRIBERS.c.status, SubscriberStatus.UNSUBSCRIBED),
        )
        .order_by(ASSIGNMENTS.c.assigned_at.desc(), person)
    )
    with db.connect() as connection:
        return list(connection.execute(statement).all())


def _unread_mention_count(db: Engine, agent_id: int) -> int:
    with db.connect() as connection:
        return connection.execute(
            select(func.count()).where(
                NOTE_MENTIONS.c.agent_id == agent_id, NOTE_MENTIONS.c.read_at.is_(None)
            )
        ).scalar_one()


def _preview(body: str) -> str:
    if len(body) <= NOTE_PREVIEW_CHARS:
        return body
    return body[: NOTE_PREVIEW_CHARS - 1].rstrip() + "…"

"""Agents' private notes on conversations, and the colleagues they mention with `@name`.

A note is for agents only: it is stored beside the texts, never queued, never sent. Each
colleague a note names gets a mention row, unread until they mark it read; the queue page
lists a person's unread mentions (a live notification channel can read the same rows).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import insert, select, update
from sqlalchemy.engine import Engine

from bot.domain.mentions import Colleague, mentioned
from bot.store.db import transaction
from bot.store.tables import (
    AGENTS,
    CONVERSATION_NOTES,
    CONVERSATIONS,
    NOTE_MENTIONS,
    SUBSCRIBERS,
    AnyRow,
    max_length,
)

MAX_NOTE_CHARS = max_length(CONVERSATION_NOTES.c.body)
MENTIONS_SHOWN = 50  # unread mentions the queue lists, newest first


class NoteRefused(Exception):
    """The note cannot be stored; says why."""


@dataclass(frozen=True)
class NoteAdded:
    """A stored note and the colleagues it mentions (by name)."""

    note_id: int
    mentioned: tuple[str, ...]


def add_note(
    db: Engine, *, conversation_id: int, agent_id: int, body: str, now: datetime
) -> NoteAdded:
    """Store a note on a conversation and a mention for each colleague it names."""
    text = body.strip()
    if not text:
        raise NoteRefused("Write something first.")
    if len(text) > MAX_NOTE_CHARS:
        raise NoteRefused(
            f"A note can be at most {MAX_NOTE_CHARS} characters; this one has {len(text)}."
        )
    with transaction(db) as connection:
        subscriber_id = connection.execute(
            select(CONVERSATIONS.c.subscriber_id).where(CONVERSATIONS.c.id == conversation_id)
        ).scalar_one_or_none()
        if subscriber_id is None:
            raise NoteRefused("There is no such conversation.")
        note_id = connection.execute(
            insert(CONVERSATION_NOTES)
            .values(
                conversation_id=conversation_id,
                subscriber_id=subscriber_id,
                agent_id=agent_id,
                body=text,
                created_at=now,
            )
            .returning(CONVERSATION_NOTES.c.id)
        ).scalar_one()
        colleagues = [
            Colleague(row.id, row.name, row.email)
            for row in connection.execute(
                select(AGENTS.c.id, AGENTS.c.name, AGENTS.c.email)
                .where(AGENTS.c.disabled.is_(False), AGENTS.c.id != agent_id)
                .order_by(AGENTS.c.name)
            )
        ]
        named = mentioned(text, colleagues)
        if named:
            connection.execute(
                insert(NOTE_MENTIONS),
                [{"note_id": note_id, "agent_id": c.id, "created_at": now} for c in named],
            )
    return NoteAdded(note_id, tuple(colleague.name for colleague in named))


def person_notes(db: Engine, subscriber_id: int) -> list[AnyRow]:
    """A person's notes, oldest first, with `agent_name`."""
    with db.connect() as connection:
        return list(
            connection.execute(
                select(CONVERSATION_NOTES, AGENTS.c.name.label("agent_name"))
                .join(AGENTS, AGENTS.c.id == CONVERSATION_NOTES.c.agent_id)
                .where(CONVERSATION_NOTES.c.subscriber_id == subscriber_id)
                .order_by(CONVERSATION_NOTES.c.id)
            ).all()
        )


def unread_mentions(db: Engine, agent_id: int) -> list[AnyRow]:
    """The agent's unread mentions, newest first: the note, who wrote it, whose chat."""
    with db.connect() as connection:
        return list(
            connection.execute(
                select(
                    NOTE_MENTIONS.c.id,
                    CONVERSATION_NOTES.c.body,
                    CONVERSATION_NOTES.c.conversation_id,
                    CONVERSATION_NOTES.c.created_at,
                    AGENTS.c.name.label("author"),
                    SUBSCRIBERS.c.phone,
                    SUBSCRIBERS.c.first_name,
                )
                .join(CONVERSATION_NOTES, CONVERSATION_NOTES.c.id == NOTE_MENTIONS.c.note_id)
                .join(AGENTS, AGENTS.c.id == CONVERSATION_NOTES.c.agent_id)
                .join(SUBSCRIBERS, SUBSCRIBERS.c.id == CONVERSATION_NOTES.c.subscriber_id)
                .where(NOTE_MENTIONS.c.agent_id == agent_id, NOTE_MENTIONS.c.read_at.is_(None))
                .order_by(NOTE_MENTIONS.c.id.desc())
                .limit(MENTIONS_SHOWN)
            ).all()
        )


def mark_mention_read(db: Engine, *, mention_id: int, agent_id: int, now: datetime) -> bool:
    """Mark one of the agent's own mentions read; whether there was such an unread one."""
    with transaction(db) as connection:
        changed = connection.execute(
            update(NOTE_MENTIONS)
            .where(
                NOTE_MENTIONS.c.id == mention_id,
                NOTE_MENTIONS.c.agent_id == agent_id,
                NOTE_MENTIONS.c.read_at.is_(None),
            )
            .values(read_at=now)
        ).rowcount
    return bool(changed)

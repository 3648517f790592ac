"""Labels on conversations: the labels file's and those admins create, put on and taken off."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, insert, select
from sqlalchemy.engine import Connection, Engine

from bot.engine.conversation_labels import LABEL_RULE, LabelsFile, label_name
from bot.store.db import transaction
from bot.store.tables import CONVERSATION_LABELS, CONVERSATIONS, LABELS


class LabelRefused(Exception):
    """The label cannot be created, or put on this conversation; says why."""


@dataclass(frozen=True)
class LabelInfo:
    """A label agents may use, and where it comes from ("file" or "inbox")."""

    name: str
    description: str
    source: str


def known_labels(db: Engine, from_file: LabelsFile) -> list[LabelInfo]:
    """Every label agents may use, by name: the file's, then those created in the inbox."""
    labels = {
        label.name: LabelInfo(label.name, label.description, "file") for label in from_file.labels
    }
    with db.connect() as connection:
        for (name,) in connection.execute(select(LABELS.c.name)):
            labels.setdefault(name, LabelInfo(name, "", "inbox"))
    return sorted(labels.values(), key=lambda label: label.name)


def create_label(
    db: Engine, *, written: str, agent_id: int, known: Collection[str], now: datetime
) -> str:
    """Create a label in the inbox (admins); returns its name as stored."""
    name = label_name(written)
    if name is None:
        raise LabelRefused(f"{LABEL_RULE.capitalize()}.")
    if name in known:
        raise LabelRefused(f"The label {name!r} exists already.")
    with transaction(db) as connection:
        taken = connection.execute(select(LABELS.c.id).where(LABELS.c.name == name)).first()
        if taken is not None:
            raise LabelRefused(f"The label {name!r} exists already.")
        connection.execute(insert(LABELS).values(name=name, created_by=agent_id, created_at=now))
    return name


def add_label(
    db: Engine,
    *,
    conversation_id: int,
    written: str,
    agent_id: int,
    known: Collection[str],
    now: datetime,
) -> str:
    """Put a known label on a conversation (again is nothing new); returns its name."""
    name = label_name(written)
    if name is None or name not in known:
        raise LabelRefused(f"There is no label {written.strip()[:40]!r}: pick one from the list.")
    with transaction(db) as connection:
        _require_conversation(connection, conversation_id)
        present = connection.execute(
            select(CONVERSATION_LABELS.c.id).where(
                CONVERSATION_LABELS.c.conversation_id == conversation_id,
                CONVERSATION_LABELS.c.label == name,
            )
        ).first()
        if present is None:
            connection.execute(
                insert(CONVERSATION_LABELS).values(
                    conversation_id=conversation_id, label=name, added_by=agent_id, added_at=now
                )
            )
    return name


def remove_label(db: Engine, *, conversation_id: int, written: str) -> bool:
    """Take a label off a conversation; whether it was on."""
    name = label_name(written) or ""
    with transaction(db) as connection:
        _require_conversation(connection, conversation_id)
        removed = connection.execute(
            delete(CONVERSATION_LABELS).where(
                CONVERSATION_LABELS.c.conversation_id == conversation_id,
                CONVERSATION_LABELS.c.label == name,
            )
        ).rowcount
    return bool(removed)


def labels_on(db: Engine, conversation_id: int) -> list[str]:
    """The labels on a conversation, by name."""
    with db.connect() as connection:
        return list(
            connection.execute(
                select(CONVERSATION_LABELS.c.label)
                .where(CONVERSATION_LABELS.c.conversation_id == conversation_id)
                .order_by(CONVERSATION_LABELS.c.label)
            ).scalars()
        )


def _require_conversation(connection: Connection, conversation_id: int) -> None:
    found = connection.execute(
        select(CONVERSATIONS.c.id).where(CONVERSATIONS.c.id == conversation_id)
    ).first()
    if found is None:
        raise LabelRefused("There is no such conversation.")

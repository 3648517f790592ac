"""Whether an agent is available for new chats: their own toggle, a live session, recent use."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.engine import Connection, Engine

from bot.store.db import transaction
from bot.store.tables import AGENT_SESSIONS as SESSIONS
from bot.store.tables import AGENTS


def set_available(db: Engine, agent_id: int, available: bool) -> None:
    """The agent's own toggle: available for new chats, or away."""
    with transaction(db) as connection:
        connection.execute(
            update(AGENTS).where(AGENTS.c.id == agent_id).values(available=available)
        )


def available_agents(connection: Connection, *, now: datetime, away_after: timedelta) -> set[int]:
    """Agents available now: their toggle is on, and a live session of theirs made a request
    within `away_after` (a logged-out or idle agent counts as away)."""
    live = (
        select(SESSIONS.c.id)
        .where(
            SESSIONS.c.agent_id == AGENTS.c.id,
            SESSIONS.c.ended_at.is_(None),
            SESSIONS.c.expires_at > now,
            SESSIONS.c.last_seen_at > now - away_after,
        )
        .exists()
    )
    return set(
        connection.execute(
            select(AGENTS.c.id).where(
                AGENTS.c.available.is_(True), AGENTS.c.disabled.is_(False), live
            )
        ).scalars()
    )

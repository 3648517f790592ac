"""Whether an agent is available for new chats: their own toggle, a live session, recent use."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import and_, bindparam, select, update
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


# Built once (a round of assignment asks after every question that queues someone): a
# statement built per call costs more than running it. `now` and `seen_since` are bound.
_LIVE_SESSION = (
    select(SESSIONS.c.id)
    .where(
        SESSIONS.c.agent_id == AGENTS.c.id,
        SESSIONS.c.ended_at.is_(None),
        SESSIONS.c.expires_at > bindparam("now"),
        SESSIONS.c.last_seen_at > bindparam("seen_since"),
    )
    .exists()
)
IS_AVAILABLE = and_(AGENTS.c.available.is_(True), AGENTS.c.disabled.is_(False), _LIVE_SESSION)
_AVAILABLE = select(AGENTS.c.id).where(IS_AVAILABLE)


def presence_params(now: datetime, away_after: timedelta) -> dict[str, datetime]:
    """The values IS_AVAILABLE is bound with."""
    return {"now": now, "seen_since": now - away_after}


def available_agents(connection: Connection, *, now: datetime, away_after: timedelta) -> set[int]:
    """Agents available now: their toggle is on, and a live session of theirs made a request
    within `away_after` (a logged-out or idle agent counts as away)."""
    return set(connection.execute(_AVAILABLE, presence_params(now, away_after)).scalars())

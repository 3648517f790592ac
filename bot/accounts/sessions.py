"""Inbox sessions kept in the database, so that ending one takes effect at once.

The browser's cookie carries a random token; the `agent_session` row keeps only its SHA-256, so
a copy of the table opens nothing. Logging out, "log out everywhere", a password change and
disabling an agent set `ended_at`: a copied cookie is worthless from that moment on.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import and_, delete, insert, select, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.sql.elements import ColumnElement

from bot.store.db import transaction
from bot.store.models import Agent
from bot.store.tables import AGENT_SESSIONS as SESSIONS
from bot.store.tables import AGENTS

SESSION_LIFETIME = timedelta(hours=12)  # a forgotten browser does not stay logged in for ever
SESSION_IDLE = timedelta(hours=2)  # nor does one left alone for a long lunch
# "Last seen" is written at most this often: a page load is a read, not a write, per agent.
LAST_SEEN_EVERY = timedelta(minutes=1)
KEEP_ENDED = timedelta(days=30)  # ended sessions stay this long, for `who was logged in`
MAX_TOKEN_CHARS = 64  # token_urlsafe(32) is 43 characters; longer is not one of ours


class EndReason(StrEnum):
    """Why a session ended, as stored in `agent_session.end_reason`."""

    LOGOUT = "logout"
    LOGOUT_EVERYWHERE = "logout_everywhere"
    PASSWORD_CHANGED = "password_changed"
    DISABLED = "disabled"
    IDLE = "idle"
    EXPIRED = "expired"


def start_session(
    db: Engine, agent_id: int, *, user_agent: str | None, remote_addr: str, now: datetime
) -> str:
    """Record a new session for the agent; returns the token the cookie carries."""
    token = secrets.token_urlsafe(32)
    with transaction(db) as connection:
        connection.execute(
            insert(SESSIONS).values(
                token_hash=_hash(token),
                agent_id=agent_id,
                created_at=now,
                last_seen_at=now,
                expires_at=now + SESSION_LIFETIME,
                user_agent=(user_agent or "")[:255] or None,
                remote_addr=remote_addr[:64],
            )
        )
        # Old sessions of this agent are history nobody reads: keep the table small.
        connection.execute(
            delete(SESSIONS).where(
                SESSIONS.c.agent_id == agent_id, SESSIONS.c.expires_at < now - KEEP_ENDED
            )
        )
    return token


def session_agent(db: Engine, token: object, *, now: datetime, touch: bool = True) -> Agent | None:
    """The enabled agent whose live session this token opens, else None.

    A page load costs one read; "last seen" is written at most once per LAST_SEEN_EVERY, and
    never when `touch` is False (a background poll is not the agent at their desk).
    """
    if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_CHARS:
        return None
    with db.connect() as connection:
        row = connection.execute(
            select(
                AGENTS,
                SESSIONS.c.id.label("session_id"),
                SESSIONS.c.last_seen_at,
                SESSIONS.c.expires_at,
            )
            .join(AGENTS, AGENTS.c.id == SESSIONS.c.agent_id)
            .where(
                SESSIONS.c.token_hash == _hash(token),
                SESSIONS.c.ended_at.is_(None),
                AGENTS.c.disabled.is_(False),
            )
        ).first()
    if row is None:
        return None
    ended = _why_over(row.last_seen_at, row.expires_at, now)
    if ended is not None:
        _end_where(db, SESSIONS.c.id == row.session_id, ended, now)
        return None
    if touch and now - row.last_seen_at >= LAST_SEEN_EVERY:
        with transaction(db) as connection:
            connection.execute(
                update(SESSIONS).where(SESSIONS.c.id == row.session_id).values(last_seen_at=now)
            )
    return Agent(**{column.name: row._mapping[column] for column in AGENTS.c})


def end_session(db: Engine, token: object, reason: EndReason, *, now: datetime) -> None:
    """End the session this token opens (logging out); nothing happens for an unknown token."""
    if isinstance(token, str) and token and len(token) <= MAX_TOKEN_CHARS:
        _end_where(db, SESSIONS.c.token_hash == _hash(token), reason, now)


def end_agent_sessions(
    connection: Connection, agent_id: int, reason: EndReason, *, now: datetime
) -> int:
    """End every open session of an agent, in the caller's transaction; returns how many."""
    return connection.execute(
        update(SESSIONS)
        .where(SESSIONS.c.agent_id == agent_id, SESSIONS.c.ended_at.is_(None))
        .values(ended_at=now, end_reason=reason)
    ).rowcount


def _end_where(db: Engine, which: ColumnElement[bool], reason: EndReason, now: datetime) -> None:
    with transaction(db) as connection:
        connection.execute(
            update(SESSIONS)
            .where(and_(which, SESSIONS.c.ended_at.is_(None)))
            .values(ended_at=now, end_reason=reason)
        )


def _why_over(last_seen_at: datetime, expires_at: datetime, now: datetime) -> EndReason | None:
    if now >= expires_at:
        return EndReason.EXPIRED
    # last_seen_at lags by up to LAST_SEEN_EVERY, so idleness is measured to within a minute.
    if now - last_seen_at >= SESSION_IDLE:
        return EndReason.IDLE
    return None


def _hash(token: str) -> str:
    # A plain SHA-256 suffices: the token is 256 random bits, nothing to guess or stretch.
    return hashlib.sha256(token.encode()).hexdigest()

"""Agent accounts: create, list, disable; log in with a password, slowed down against guessing."""

from __future__ import annotations

import math
import re
from datetime import datetime, timedelta

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError
from werkzeug.security import check_password_hash, generate_password_hash

from bot.db import transaction
from bot.models import Agent
from bot.tables import AGENTS
from bot.tables import LOGIN_ATTEMPTS as ATTEMPTS

MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 1024  # scrypt hashes anything, but a megabyte "password" is an attack
ATTEMPT_WINDOW = timedelta(minutes=15)
MAX_FAILURES_PER_EMAIL = 5  # failures allowed in the window; the next attempt is refused
MAX_FAILURES_PER_ADDRESS = 20
# Whether an email exists must not show in how long a wrong login takes: unknown emails are
# checked against this hash, so every attempt pays for one scrypt.
_NO_SUCH_AGENT_HASH = generate_password_hash("no such agent: never matches", method="scrypt")
EMAIL_SHAPE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class AgentError(ValueError):
    """An agent cannot be created or changed as asked; says why."""


class TooManyAttempts(Exception):
    """Logins for this email or from this address are paused for a while."""

    def __init__(self, minutes: int) -> None:
        unit = "minute" if minutes == 1 else "minutes"
        super().__init__(f"Too many attempts, try again in {minutes} {unit}.")
        self.minutes = minutes


def normalise_email(email: str) -> str:
    """The form emails are stored and looked up in: trimmed, lower case."""
    return email.strip().lower()


def create_agent(
    engine: Engine,
    email: str,
    name: str,
    password: str,
    is_admin: bool = False,
    *,
    now: datetime,
) -> Agent:
    """Add an agent who can log in to the inbox; AgentError when an input is unusable."""
    email = normalise_email(email)
    name = name.strip()
    if not EMAIL_SHAPE.match(email) or len(email) > 254:
        raise AgentError(f"{email!r} is not an email address (expected name@example.com)")
    if not name or len(name) > 100:
        raise AgentError("the name must be 1 to 100 characters")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AgentError(f"the password must be at least {MIN_PASSWORD_LENGTH} characters long")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise AgentError(f"the password must be at most {MAX_PASSWORD_LENGTH} characters long")
    values = {
        "email": email,
        "name": name,
        "password_hash": generate_password_hash(password, method="scrypt"),
        "is_admin": is_admin,
        "disabled": False,
        "created_at": now,
    }
    try:
        with transaction(engine) as connection:
            agent_id = connection.execute(insert(AGENTS).values(values)).inserted_primary_key[0]
    except IntegrityError:
        raise AgentError(f"an agent with email {email} already exists") from None
    return Agent(id=agent_id, **values)


def authenticate(
    engine: Engine, email: str, password: str, remote_addr: str, now: datetime
) -> Agent | None:
    """The enabled agent these credentials belong to, else None (the failure is recorded).

    Raises TooManyAttempts, without checking the password, once an email has failed
    MAX_FAILURES_PER_EMAIL times or an address MAX_FAILURES_PER_ADDRESS times in ATTEMPT_WINDOW.
    """
    email = normalise_email(email)[:254]
    remote_addr = (remote_addr or "unknown")[:64]
    since = now - ATTEMPT_WINDOW
    with transaction(engine) as connection:
        _refuse_when_throttled(connection, email, remote_addr, since, now)
        row = connection.execute(select(AGENTS).where(AGENTS.c.email == email)).first()
        stored_hash = row.password_hash if row is not None else _NO_SUCH_AGENT_HASH
        matches = check_password_hash(stored_hash, password[:MAX_PASSWORD_LENGTH])
        if row is None or not matches or row.disabled:
            connection.execute(
                insert(ATTEMPTS).values(email=email, remote_addr=remote_addr, created_at=now)
            )
            # Old failures count for nothing: keep the table small.
            connection.execute(delete(ATTEMPTS).where(ATTEMPTS.c.created_at < since))
            return None
        connection.execute(delete(ATTEMPTS).where(ATTEMPTS.c.email == email))
        connection.execute(update(AGENTS).where(AGENTS.c.id == row.id).values(last_login_at=now))
        return _agent({**row._mapping, "last_login_at": now})


def enabled_agent(engine: Engine, agent_id: int) -> Agent | None:
    """The agent with this id, or None when there is none or it is disabled."""
    with engine.connect() as connection:
        row = connection.execute(
            select(AGENTS).where(AGENTS.c.id == agent_id, AGENTS.c.disabled.is_(False))
        ).first()
    return _agent(row._mapping) if row is not None else None


def list_agents(engine: Engine) -> list[Agent]:
    """Every agent, by email."""
    with engine.connect() as connection:
        rows = connection.execute(select(AGENTS).order_by(AGENTS.c.email)).all()
    return [_agent(row._mapping) for row in rows]


def set_disabled(engine: Engine, email: str, disabled: bool) -> Agent:
    """Disable (their sessions stop working at once) or re-enable an agent, by email."""
    email = normalise_email(email)
    with transaction(engine) as connection:
        changed = connection.execute(
            update(AGENTS).where(AGENTS.c.email == email).values(disabled=disabled)
        ).rowcount
        if not changed:
            raise AgentError(f"no agent with email {email}")
        row = connection.execute(select(AGENTS).where(AGENTS.c.email == email)).one()
    return _agent(row._mapping)


def _refuse_when_throttled(
    connection: Connection, email: str, remote_addr: str, since: datetime, now: datetime
) -> None:
    for column, value, limit in (
        (ATTEMPTS.c.email, email, MAX_FAILURES_PER_EMAIL),
        (ATTEMPTS.c.remote_addr, remote_addr, MAX_FAILURES_PER_ADDRESS),
    ):
        failures, oldest = connection.execute(
            select(func.count(), func.min(ATTEMPTS.c.created_at)).where(
                column == value, ATTEMPTS.c.created_at >= since
            )
        ).one()
        if failures >= limit:
            # A sliding window: the next attempt is allowed when the oldest failure ages out.
            wait = oldest + ATTEMPT_WINDOW - now
            raise TooManyAttempts(max(1, math.ceil(wait.total_seconds() / 60)))


def _agent(mapping: object) -> Agent:
    return Agent(**dict(mapping))  # type: ignore[call-overload]

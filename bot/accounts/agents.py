"""Agent accounts: create, list, disable, change passwords; log in, slowed down against guessing.

Login limits, and why they take this shape:
- One email from one address (the pair): MAX_FAILURES_PER_PAIR failures in ATTEMPT_WINDOW, then
  that pair is refused until the oldest failure ages out. This is the strict limit, and it
  locks out only the guesser's own address.
- One address, any emails: MAX_FAILURES_PER_ADDRESS, against spraying one password at many
  accounts.
- One email, any addresses: no hard lockout, or anyone could lock an agent out everywhere by
  guessing wrong on purpose. After FREE_FAILURES_PER_EMAIL failures each attempt waits twice as
  long after the newest one (up to MAX_EMAIL_DELAY), which makes a botnet's guessing slow. An
  address the agent had a session from in KNOWN_ADDRESS_FOR is exempt, so the agent's own
  browser keeps working while someone else guesses.
Checking and counting are one atomic step: an attempt is recorded (reserved) before the password
is checked, in a transaction no other reservation runs beside, so N parallel guesses try at most
the limit. A correct password takes its reservation back.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, exists, func, insert, select, text, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError
from werkzeug.security import check_password_hash, generate_password_hash

from bot.accounts.sessions import EndReason, end_agent_sessions
from bot.store.db import is_sqlite, transaction
from bot.store.models import Agent
from bot.store.tables import AGENT_SESSIONS as SESSIONS
from bot.store.tables import AGENTS
from bot.store.tables import LOGIN_ATTEMPTS as ATTEMPTS

MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 1024  # scrypt hashes anything, but a megabyte "password" is an attack
ATTEMPT_WINDOW = timedelta(minutes=15)
MAX_FAILURES_PER_PAIR = 5  # one email from one address: the next attempt is refused
MAX_FAILURES_PER_ADDRESS = 20  # one address, whatever the emails
FREE_FAILURES_PER_EMAIL = 10  # one email from anywhere; then each attempt waits longer
FIRST_EMAIL_DELAY = timedelta(seconds=2)
MAX_EMAIL_DELAY = timedelta(minutes=5)
KNOWN_ADDRESS_FOR = timedelta(days=30)  # an address the agent logged in from is theirs
# Whether an email exists must not show in how long a wrong login takes: unknown emails are
# checked against this hash, so every attempt pays for one scrypt. It is written out rather than
# made at import, which cost every `bot` process a scrypt (0.15 s of CPU) at start-up; a unit test
# keeps its parameters those of `hash_password`, so checking it costs what checking a real one does.
NO_SUCH_AGENT_HASH = (
    "scrypt:32768:8:1$0amR0akbBgY0D1S0$4601493298e545ea012a95126aaf6be1d0ecb2f13d78c887a33102ed"
    "53ae29696bb9ba5b248ffb24e4a67c05ddd79293c34767e2da97b4ca08b8b01269b0c096"
)
EMAIL_SHAPE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")

PasswordCheck = Callable[[str, str], bool]  # (stored hash, password) -> matches
PasswordHasher = Callable[[str], str]  # password -> stored hash


class AgentError(ValueError):
    """An agent cannot be created or changed as asked; says why."""


class TooManyAttempts(Exception):
    """Logins for this email or from this address are paused for a while."""

    def __init__(self, wait: timedelta) -> None:
        seconds = max(1, math.ceil(wait.total_seconds()))
        amount, unit = (seconds, "second") if seconds < 60 else (math.ceil(seconds / 60), "minute")
        super().__init__(f"Too many attempts, try again in {amount} {unit}{'s' * (amount != 1)}.")
        self.seconds = seconds


def normalise_email(email: str) -> str:
    """The form emails are stored and looked up in: trimmed, lower case."""
    return email.strip().lower()


def hash_password(password: str) -> str:
    """The stored form of a password (scrypt); AgentError when it is too short or too long."""
    _require_usable(password)
    return generate_password_hash(password, method="scrypt")


def create_agent(
    db: Engine,
    email: str,
    name: str,
    password: str,
    is_admin: bool = False,
    *,
    now: datetime,
    hasher: PasswordHasher = hash_password,
) -> Agent:
    """Add an agent who can log in to the inbox; AgentError when an input is unusable.

    `hasher` turns the password into its stored form (tests hash their one password once).
    """
    email = normalise_email(email)
    name = name.strip()
    if not EMAIL_SHAPE.match(email) or len(email) > 254:
        raise AgentError(f"{email!r} is not an email address (expected name@example.com)")
    if not name or len(name) > 100:
        raise AgentError("the name must be 1 to 100 characters")
    values: dict[str, Any] = {
        "email": email,
        "name": name,
        "password_hash": hasher(password),
        "is_admin": is_admin,
        "disabled": False,
        "created_at": now,
    }
    try:
        with transaction(db) as connection:
            agent_id = connection.execute(
                insert(AGENTS).values(values).returning(AGENTS.c.id)
            ).scalar_one()
    except IntegrityError:
        raise AgentError(f"an agent with email {email} already exists") from None
    return Agent(id=agent_id, **values)


def authenticate(
    db: Engine,
    email: str,
    password: str,
    remote_addr: str,
    now: datetime,
    *,
    check_password: PasswordCheck = check_password_hash,
) -> Agent | None:
    """The enabled agent these credentials belong to, else None (the failure is recorded).

    Raises TooManyAttempts, without checking the password, while a limit (see the module's
    docstring) holds for this email, this address or the pair.
    """
    agent = _checked_agent(db, email, password, remote_addr, now, check_password)
    if agent is None:
        return None
    with transaction(db) as connection:
        connection.execute(update(AGENTS).where(AGENTS.c.id == agent.id).values(last_login_at=now))
    agent.last_login_at = now
    return agent


def change_password(
    db: Engine,
    agent_id: int,
    current: str,
    new: str,
    remote_addr: str,
    now: datetime,
    *,
    check_password: PasswordCheck = check_password_hash,
) -> None:
    """An agent changes their own password; every session of theirs ends.

    The current password is checked under the login limits, so a stolen session cannot be used
    to guess it. AgentError says what is wrong; TooManyAttempts while a limit holds.
    """
    _require_usable(new)
    agent = enabled_agent(db, agent_id)
    if agent is None:
        raise AgentError("this account is disabled")
    if _checked_agent(db, agent.email, current, remote_addr, now, check_password) is None:
        raise AgentError("the current password is wrong")
    _store_password(db, agent.email, new, now=now)


def set_password(db: Engine, email: str, password: str, *, now: datetime) -> Agent:
    """An admin sets an agent's password (`bot agents set-password`); their sessions end."""
    return _store_password(db, normalise_email(email), password, now=now)


def unlock(db: Engine, *, email: str | None = None, remote_addr: str | None = None) -> int:
    """Forget the failed logins of an email, an address, or the pair when both are given.

    Returns how many failures were forgotten.
    """
    if email is None and remote_addr is None:
        raise AgentError("name an email, an address, or both")
    statement = delete(ATTEMPTS)
    if email is not None:
        statement = statement.where(ATTEMPTS.c.email == normalise_email(email))
    if remote_addr is not None:
        statement = statement.where(ATTEMPTS.c.remote_addr == remote_addr.strip())
    with transaction(db) as connection:
        return connection.execute(statement).rowcount


def enabled_agent(db: Engine, agent_id: int) -> Agent | None:
    """The agent with this id, or None when there is none or it is disabled."""
    with db.connect() as connection:
        row = connection.execute(
            select(AGENTS).where(AGENTS.c.id == agent_id, AGENTS.c.disabled.is_(False))
        ).first()
    return _agent(row._mapping) if row is not None else None


def list_agents(db: Engine) -> list[Agent]:
    """Every agent, by email."""
    with db.connect() as connection:
        rows = connection.execute(select(AGENTS).order_by(AGENTS.c.email)).all()
    return [_agent(row._mapping) for row in rows]


def set_notifications(db: Engine, agent_id: int, *, desktop: bool, sound: bool) -> None:
    """The agent's own choice: a browser notification, a beep, both or neither for news."""
    with transaction(db) as connection:
        connection.execute(
            update(AGENTS)
            .where(AGENTS.c.id == agent_id)
            .values(notify_desktop=desktop, notify_sound=sound)
        )


def set_disabled(db: Engine, email: str, disabled: bool, *, now: datetime) -> Agent:
    """Disable (every session of theirs ends at once) or re-enable an agent, by email."""
    email = normalise_email(email)
    with transaction(db) as connection:
        changed = connection.execute(
            update(AGENTS).where(AGENTS.c.email == email).values(disabled=disabled)
        ).rowcount
        if not changed:
            raise AgentError(f"no agent with email {email}")
        row = connection.execute(select(AGENTS).where(AGENTS.c.email == email)).one()
        if disabled:
            end_agent_sessions(connection, row.id, EndReason.DISABLED, now=now)
    return _agent(row._mapping)


def _checked_agent(
    db: Engine,
    email: str,
    password: str,
    remote_addr: str,
    now: datetime,
    check_password: PasswordCheck,
) -> Agent | None:
    """Reserve an attempt, then check the password (outside the transaction: scrypt is slow)."""
    email = normalise_email(email)[:254]
    remote_addr = (remote_addr or "unknown")[:64]
    row = _reserve_attempt(db, email, remote_addr, now)
    stored_hash = row.password_hash if row is not None else NO_SUCH_AGENT_HASH
    matches = check_password(stored_hash, password[:MAX_PASSWORD_LENGTH])
    if row is None or not matches or row.disabled:
        return None  # the reserved attempt stays: it is a failure
    with transaction(db) as connection:
        # The right password takes back this email's failures, the reservation among them.
        connection.execute(delete(ATTEMPTS).where(ATTEMPTS.c.email == email))
    return _agent(row._mapping)


def _reserve_attempt(db: Engine, email: str, remote_addr: str, now: datetime) -> Any:
    """Count and record an attempt as one step; the agent's row (None: no such email)."""
    since = now - ATTEMPT_WINDOW
    with transaction(db) as connection:
        # SQLite: a write transaction is BEGIN IMMEDIATE, one at a time already. PostgreSQL:
        # this lock mode conflicts with itself, so reservations queue; plain reads go on.
        if not is_sqlite(db):
            connection.execute(text("LOCK TABLE login_attempt IN SHARE ROW EXCLUSIVE MODE"))
        # Old failures count for nothing: keep the table small.
        connection.execute(delete(ATTEMPTS).where(ATTEMPTS.c.created_at < since))
        row = connection.execute(select(AGENTS).where(AGENTS.c.email == email)).first()
        known = row is not None and _known_address(connection, row.id, remote_addr, now)
        wait = _wait_needed(connection, email, remote_addr, known_address=known, now=now)
        if wait is not None:
            raise TooManyAttempts(wait)
        connection.execute(
            insert(ATTEMPTS).values(email=email, remote_addr=remote_addr, created_at=now)
        )
    return row


def _wait_needed(
    connection: Connection, email: str, remote_addr: str, *, known_address: bool, now: datetime
) -> timedelta | None:
    """How long until this attempt may be made, or None when it may be made now."""
    since = now - ATTEMPT_WINDOW
    for condition, limit in (
        (
            (ATTEMPTS.c.email == email) & (ATTEMPTS.c.remote_addr == remote_addr),
            MAX_FAILURES_PER_PAIR,
        ),
        (ATTEMPTS.c.remote_addr == remote_addr, MAX_FAILURES_PER_ADDRESS),
    ):
        failures, oldest = connection.execute(
            select(func.count(), func.min(ATTEMPTS.c.created_at)).where(
                condition, ATTEMPTS.c.created_at >= since
            )
        ).one()
        if failures >= limit:
            # A sliding window: the next attempt is allowed when the oldest failure ages out.
            return oldest + ATTEMPT_WINDOW - now
    if known_address:
        return None
    failures, newest = connection.execute(
        select(func.count(), func.max(ATTEMPTS.c.created_at)).where(
            ATTEMPTS.c.email == email, ATTEMPTS.c.created_at >= since
        )
    ).one()
    if failures < FREE_FAILURES_PER_EMAIL:
        return None
    doublings = min(failures - FREE_FAILURES_PER_EMAIL, 20)
    delay = min(FIRST_EMAIL_DELAY * 2**doublings, MAX_EMAIL_DELAY)
    wait = newest + delay - now
    return wait if wait > timedelta(0) else None


def _known_address(connection: Connection, agent_id: int, remote_addr: str, now: datetime) -> bool:
    """Whether the agent logged in from this address lately (its own browser, most likely)."""
    return bool(
        connection.execute(
            select(
                exists().where(
                    SESSIONS.c.agent_id == agent_id,
                    SESSIONS.c.remote_addr == remote_addr,
                    SESSIONS.c.created_at >= now - KNOWN_ADDRESS_FOR,
                )
            )
        ).scalar()
    )


def _require_usable(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AgentError(f"the password must be at least {MIN_PASSWORD_LENGTH} characters long")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise AgentError(f"the password must be at most {MAX_PASSWORD_LENGTH} characters long")


def _store_password(db: Engine, email: str, password: str, *, now: datetime) -> Agent:
    password_hash = hash_password(password)  # outside the transaction: scrypt is slow
    with transaction(db) as connection:
        row = connection.execute(select(AGENTS).where(AGENTS.c.email == email)).first()
        if row is None:
            raise AgentError(f"no agent with email {email}")
        connection.execute(
            update(AGENTS).where(AGENTS.c.id == row.id).values(password_hash=password_hash)
        )
        end_agent_sessions(connection, row.id, EndReason.PASSWORD_CHANGED, now=now)
    return _agent({**row._mapping, "password_hash": password_hash})


def _agent(mapping: Mapping[Any, Any]) -> Agent:
    return Agent(**dict(mapping))

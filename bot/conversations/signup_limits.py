"""How many sign-ups the public page takes from one address, and for one number, per hour.

Every accepted sign-up may send a text (the double opt-in), which costs the brand and reaches a
stranger's phone, so the page is limited in the database, where every web process counts the
same rows:
- one address (the client, as TRUSTED_PROXIES reveals it), any numbers: against one machine
  signing up a list of strangers;
- one number, from any addresses: against many machines texting one person.
Counting and recording are one step, in a transaction no other reservation runs beside (as the
login limits in `bot/accounts/agents.py`), so N parallel sign-ups pass at most the limit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, delete, func, insert, select, text
from sqlalchemy.engine import Engine

from bot.store.db import is_sqlite, transaction
from bot.store.tables import SIGNUP_ATTEMPTS as ATTEMPTS

WINDOW = timedelta(hours=1)


@dataclass(frozen=True)
class SignupLimits:
    """Sign-ups per WINDOW: from one address, and for one number."""

    per_address: int
    per_number: int


class TooManySignups(Exception):
    """This address or number has had its sign-ups for now; says when to come back."""

    def __init__(self, wait: timedelta) -> None:
        minutes = max(1, math.ceil(wait.total_seconds() / 60))
        super().__init__(
            f"Too many sign-ups from here or for this number. Please try again in {minutes}"
            f" minute{'s' * (minutes != 1)}."
        )
        self.seconds = max(1, math.ceil(wait.total_seconds()))


def reserve_signup(
    db: Engine, limits: SignupLimits, *, remote_addr: str, phone: str, now: datetime
) -> None:
    """Count this sign-up, or raise TooManySignups (counting nothing) when a limit is reached."""
    remote_addr = (remote_addr or "unknown")[:64]
    since = now - WINDOW
    with transaction(db) as connection:
        # SQLite: a write transaction is BEGIN IMMEDIATE, one at a time already. PostgreSQL:
        # this lock mode conflicts with itself, so reservations queue; plain reads go on.
        if not is_sqlite(db):
            connection.execute(text("LOCK TABLE signup_attempt IN SHARE ROW EXCLUSIVE MODE"))
        # A sign-up counts for exactly WINDOW: gone at its end, as Retry-After promises.
        connection.execute(delete(ATTEMPTS).where(ATTEMPTS.c.created_at <= since))
        checks: tuple[tuple[ColumnElement[bool], int], ...] = (
            (ATTEMPTS.c.remote_addr == remote_addr, limits.per_address),
            (ATTEMPTS.c.phone == phone, limits.per_number),
        )
        for condition, limit in checks:
            count, oldest = connection.execute(
                select(func.count(), func.min(ATTEMPTS.c.created_at)).where(
                    condition, ATTEMPTS.c.created_at > since
                )
            ).one()
            if count >= limit:
                # A sliding window: the next sign-up may come when the oldest one ages out.
                raise TooManySignups(oldest + WINDOW - now)
        connection.execute(
            insert(ATTEMPTS).values(remote_addr=remote_addr, phone=phone, created_at=now)
        )

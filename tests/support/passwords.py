"""The one test password, hashed and checked once a run: scrypt costs 0.1-0.2 s of CPU a call.

A login in a test checks the same (stored hash, password) pairs again and again; remembering
the answer of the real check gives the same answer without paying for it again.
"""

from __future__ import annotations

import functools
from datetime import datetime

from sqlalchemy.engine import Engine
from werkzeug.security import check_password_hash

from bot.accounts import agents
from bot.store.models import Agent

hash_once = functools.cache(agents.hash_password)
check_once = functools.cache(check_password_hash)


def authenticate(
    db: Engine,
    email: str,
    password: str,
    remote_addr: str,
    now: datetime,
    *,
    check_password: agents.PasswordCheck = check_once,
) -> Agent | None:
    """`bot.accounts.agents.authenticate`, checking with the remembering check unless told: the
    same limits and answers, without a scrypt for every attempt a test makes."""
    return agents.authenticate(db, email, password, remote_addr, now, check_password=check_password)

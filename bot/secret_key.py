"""The SECRET_KEY every process agrees on: the environment's, else one stored in the database.

Each gunicorn worker that invented its own key could not read the others' cookies, so most
logins failed. `bot db upgrade` stores a generated key once; every process reads the same one.
"""

from __future__ import annotations

import secrets

from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from bot.db import dialect_insert, transaction
from bot.models import Setting

SETTINGS = Setting.__table__
SECRET_KEY_SETTING = "secret_key"
NO_SECRET_KEY = (
    "SECRET_KEY is not set and the database holds none: set SECRET_KEY, "
    "or run `bot db upgrade` to generate one"
)


class NoSecretKey(Exception):
    """Neither the environment nor the database has a SECRET_KEY; the message says what to do."""

    def __init__(self) -> None:
        super().__init__(NO_SECRET_KEY)


def ensure_secret_key(engine: Engine) -> None:
    """Store a random key unless the database has one already (two upgrades at once agree)."""
    statement = (
        dialect_insert(engine.dialect.name, SETTINGS)
        .values(name=SECRET_KEY_SETTING, value=secrets.token_hex(32))
        .on_conflict_do_nothing(index_elements=["name"])
    )
    with transaction(engine) as connection:
        connection.execute(statement)


def stored_secret_key(engine: Engine) -> str | None:
    """The key `bot db upgrade` stored, or None (none yet, or no such table: not migrated)."""
    try:
        with engine.connect() as connection:
            return connection.execute(
                select(SETTINGS.c.value).where(SETTINGS.c.name == SECRET_KEY_SETTING)
            ).scalar()
    except SQLAlchemyError:
        return None


def secret_key(configured: str | None, engine: Engine) -> str:
    """SECRET_KEY from the environment when set (it wins), else the stored one; else NoSecretKey."""
    key = configured or stored_secret_key(engine)
    if not key:
        raise NoSecretKey()
    return key

"""The SECRET_KEY every process agrees on: the environment's, else one stored in the database.

Each gunicorn worker that invented its own key could not read the others' cookies, so most
logins failed. `bot db upgrade` stores a generated key once; every process reads the same one.
"""

from __future__ import annotations

import secrets

from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from bot.store.db import dialect_insert, transaction
from bot.store.schema import Trouble, classify
from bot.store.tables import SETTINGS

SECRET_KEY_SETTING = "secret_key"
NO_SECRET_KEY = (
    "SECRET_KEY is not set and the database holds none: set SECRET_KEY, "
    "or run `bot db upgrade` to generate one"
)


class NoSecretKey(Exception):
    """Neither the environment nor the database has a SECRET_KEY; the message says what to do."""

    def __init__(self) -> None:
        super().__init__(NO_SECRET_KEY)


def ensure_secret_key(db: Engine) -> None:
    """Store a random key unless the database has one already (two upgrades at once agree)."""
    statement = (
        dialect_insert(db.dialect.name, SETTINGS)
        .values(name=SECRET_KEY_SETTING, value=secrets.token_hex(32))
        .on_conflict_do_nothing(index_elements=["name"])
    )
    with transaction(db) as connection:
        connection.execute(statement)


class DatabaseUnreachable(Exception):
    """The database did not answer, so whether it holds a key is not known yet."""


def stored_secret_key(db: Engine) -> str | None:
    """The key `bot db upgrade` stored, or None (none yet, or no such table: not migrated).

    Raises DatabaseUnreachable when the database cannot be asked at all.
    """
    try:
        with db.connect() as connection:
            return connection.execute(
                select(SETTINGS.c.value).where(SETTINGS.c.name == SECRET_KEY_SETTING)
            ).scalar()
    except SQLAlchemyError as error:
        if classify(error).trouble is Trouble.UNREACHABLE:
            raise DatabaseUnreachable(str(error)) from None
        return None


def secret_key(configured: str | None, db: Engine) -> str | None:
    """SECRET_KEY from the environment when set (it wins), else the stored one.

    None when the database cannot be reached yet: a web process that starts during a database
    outage still starts (and /healthz says why it is unhealthy); sessions look the key up on
    first use. Raises NoSecretKey when the database answers and holds no key.
    """
    if configured:
        return configured
    try:
        key = stored_secret_key(db)
    except DatabaseUnreachable:
        return None
    if not key:
        raise NoSecretKey()
    return key

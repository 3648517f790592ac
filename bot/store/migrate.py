"""Runs Alembic migrations from code, for `bot db upgrade` and the tests."""

from __future__ import annotations

from pathlib import Path

from alembic.config import Config

from alembic import command

ALEMBIC_DIR = Path(__file__).resolve().parents[2] / "alembic"


def alembic_config(database_url: str) -> Config:
    """Alembic's configuration for this checkout and database."""
    config = Config()
    config.set_main_option("script_location", str(ALEMBIC_DIR))
    # ConfigParser treats % as interpolation: double it (passwords may contain one).
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    """Bring the schema up to `revision`; at the head, store a SECRET_KEY unless one is."""
    command.upgrade(alembic_config(database_url), revision)
    if revision == "head":
        from bot.store.db import make_db
        from bot.store.secret_key import ensure_secret_key

        db = make_db(database_url)
        try:
            ensure_secret_key(db)
        finally:
            db.dispose()


def current_head() -> str | None:
    """The newest migration in the checkout."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()

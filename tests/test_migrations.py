"""The migrations build exactly the schema the models describe, on both databases."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlmodel import SQLModel

import bot.models  # noqa: F401
from bot.db import make_engine
from bot.migrate import current_head


def test_models_and_migrations_agree(database_url: str) -> None:
    engine = make_engine(database_url)
    with engine.connect() as connection:
        context = MigrationContext.configure(connection)
        assert context.get_current_revision() == current_head()
        differences = compare_metadata(context, SQLModel.metadata)
    engine.dispose()
    assert differences == [], "models changed without a migration: run alembic revision"


def test_every_migration_downgrades_and_upgrades_again(database_url: str) -> None:
    from alembic import command
    from bot.migrate import alembic_config, upgrade

    command.downgrade(alembic_config(database_url), "base")
    upgrade(database_url)
    test_models_and_migrations_agree(database_url)

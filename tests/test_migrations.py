"""The migrations build exactly the schema the models describe, on both databases."""

from __future__ import annotations

from datetime import UTC, datetime

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text
from sqlmodel import Session, SQLModel, select

from alembic import command
from bot.db import make_engine
from bot.migrate import alembic_config, current_head, upgrade
from bot.models import Conversation


def test_models_and_migrations_agree(database_url: str) -> None:
    engine = make_engine(database_url)
    with engine.connect() as connection:
        context = MigrationContext.configure(connection)
        assert context.get_current_revision() == current_head()
        differences = compare_metadata(context, SQLModel.metadata)
    engine.dispose()
    assert differences == [], "models changed without a migration: run alembic revision"


def test_every_migration_downgrades_and_upgrades_again(database_url: str) -> None:
    command.downgrade(alembic_config(database_url), "base")
    upgrade(database_url)
    test_models_and_migrations_agree(database_url)


def test_follow_ups_in_flight_survive_the_move_of_timers_onto_conversations(
    database_url: str,
) -> None:
    """0007: a pending timer becomes its conversation's wakes_at; fired ones are history."""
    due = datetime(2026, 1, 5, 18, 0, tzinfo=UTC)
    command.downgrade(alembic_config(database_url), "0006")
    engine = make_engine(database_url)
    # SQLite keeps naive UTC text, as the models write it.
    stored = due if engine.dialect.name == "postgresql" else due.strftime("%Y-%m-%d %H:%M:%S.%f")
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO subscriber (id, phone, status, attributes, tags, created_at, "
                "updated_at) VALUES (1, '+14155550100', 'subscribed', '{}', '[]', :at, :at)"
            ),
            {"at": stored},
        )
        connection.execute(
            text(
                "INSERT INTO conversation (id, subscriber_id, phone, flow, flow_version, step, "
                "state, status, handled_by, started_at, updated_at) VALUES (7, 1, "
                "'+14155550100', 'nps', 'v1', 'score', '{}', 'active', 'bot', :at, :at)"
            ),
            {"at": stored},
        )
        for kind, status in (("wait", "fired"), ("timeout", "pending")):
            connection.execute(
                text(
                    "INSERT INTO timer (conversation_id, kind, step, due_at, status) "
                    "VALUES (7, :kind, 'score', :at, :status)"
                ),
                {"kind": kind, "at": stored, "status": status},
            )
    engine.dispose()

    upgrade(database_url)
    engine = make_engine(database_url)
    with Session(engine) as session:
        conversation = session.scalars(select(Conversation)).one()
    engine.dispose()
    assert (conversation.wake_kind, conversation.wakes_at) == ("timeout", due)

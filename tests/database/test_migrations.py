"""The migrations build exactly the schema the models describe, on both databases."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TypeVar

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, inspect, text
from sqlmodel import Session, SQLModel, select

from alembic import command
from bot.store.db import make_db
from bot.store.migrate import alembic_config, current_head, upgrade
from bot.store.models import Conversation, Link, Message, UnansweredText

Row = TypeVar("Row", Link, UnansweredText)


def test_models_and_migrations_agree(database_url: str) -> None:
    db = make_db(database_url)
    with db.connect() as connection:
        context = MigrationContext.configure(connection)
        assert context.get_current_revision() == current_head()
        differences = compare_metadata(context, SQLModel.metadata)
    db.dispose()
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
    db = make_db(database_url)
    # SQLite keeps naive UTC text, as the models write it.
    stored = due if db.dialect.name == "postgresql" else due.strftime("%Y-%m-%d %H:%M:%S.%f")
    with db.begin() as connection:
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
    db.dispose()

    upgrade(database_url)
    db = make_db(database_url)
    with Session(db) as session:
        conversation = session.scalars(select(Conversation)).one()
    db.dispose()
    assert (conversation.wake_kind, conversation.wakes_at) == ("timeout", due)


def test_a_text_of_unknown_fate_from_before_the_hand_over_stamp_is_still_looked_up(
    database_url: str,
) -> None:
    """0008: an UNKNOWN row may have reached the provider; it must never pass as unsent."""
    handed = datetime(2026, 1, 5, 18, 0, tzinfo=UTC)
    command.downgrade(alembic_config(database_url), "0007")
    db = make_db(database_url)
    stored = handed if db.dialect.name == "postgresql" else handed.strftime("%Y-%m-%d %H:%M:%S.%f")
    with db.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO message (id, phone, direction, body, media_urls, segments, "
                "encoding, status, attempts, claimed_by, sent_at, created_at, updated_at) "
                "VALUES (5, '+14155550100', 'outbound', 'Hi', '[]', 1, 'GSM-7', 'unknown', 0, "
                "'worker:1', :at, :at, :at)"
            ),
            {"at": stored},
        )
    db.dispose()

    upgrade(database_url)
    db = make_db(database_url)
    with Session(db) as session:
        message = session.get(Message, 5)
    db.dispose()
    assert message is not None
    assert message.handed_over_at == handed


def test_texts_waiting_in_the_old_inbox_conversations_move_to_the_queue(
    database_url: str,
) -> None:
    """0010: an "inbox" conversation waiting for an agent becomes an open unanswered text."""
    at = datetime(2026, 1, 5, 18, 0, tzinfo=UTC)
    command.downgrade(alembic_config(database_url), "0007")
    db = make_db(database_url)
    stored = at if db.dialect.name == "postgresql" else at.strftime("%Y-%m-%d %H:%M:%S.%f")
    with db.begin() as connection:
        for subscriber_id, phone in ((1, "+14155550100"), (2, "+14155550101")):
            connection.execute(
                text(
                    "INSERT INTO subscriber (id, phone, status, attributes, tags, created_at, "
                    "updated_at) VALUES (:id, :phone, 'subscribed', '{}', '[]', :at, :at)"
                ),
                {"id": subscriber_id, "phone": phone, "at": stored},
            )
            connection.execute(
                text(
                    "INSERT INTO message (id, phone, direction, body, media_urls, segments, "
                    "encoding, status, attempts, created_at, updated_at) VALUES (:id, :phone, "
                    "'inbound', 'do you ship to Canada?', '[]', 1, 'GSM-7', 'received', 0, "
                    ":at, :at)"
                ),
                {"id": subscriber_id * 10, "phone": phone, "at": stored},
            )
        # One waits for an agent; the other is already with one, and stays so.
        for conversation_id, subscriber_id, phone, handled_by in (
            (7, 1, "+14155550100", "waiting_for_agent"),
            (8, 2, "+14155550101", "agent"),
        ):
            connection.execute(
                text(
                    "INSERT INTO conversation (id, subscriber_id, phone, flow, flow_version, "
                    "step, state, status, handled_by, handoff_reason, started_at, updated_at) "
                    "VALUES (:id, :subscriber_id, :phone, 'inbox', '-', NULL, '{}', 'active', "
                    ":handled_by, 'the bot did not understand', :at, :at)"
                ),
                {
                    "id": conversation_id,
                    "subscriber_id": subscriber_id,
                    "phone": phone,
                    "handled_by": handled_by,
                    "at": stored,
                },
            )
    db.dispose()

    upgrade(database_url)
    db = make_db(database_url)
    with Session(db) as session:
        [waiting] = session.scalars(select(UnansweredText)).all()
        conversations = {row.id: row for row in session.scalars(select(Conversation))}
    db.dispose()
    assert (waiting.message_id, waiting.subscriber_id, waiting.handled_at) == (10, 1, None)
    assert waiting.context == "the bot did not understand"
    assert (conversations[7].status, conversations[7].end_reason) == ("ended", "moved to the queue")
    assert (conversations[8].status, conversations[8].handled_by) == ("active", "agent")


def test_clicks_from_before_the_count_are_counted(database_url: str) -> None:
    """0013: a link's existing click rows become its click count and its last click."""
    first, last = datetime(2026, 1, 5, 18, 0, tzinfo=UTC), datetime(2026, 1, 6, 9, 30, tzinfo=UTC)
    command.downgrade(alembic_config(database_url), "0012")
    db = make_db(database_url)
    with db.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO link (id, code, url, phone, created_at) VALUES (1, 'aaaaaaa', "
                "'https://shop.example/', '+14155550100', :at), (2, 'bbbbbbb', "
                "'https://shop.example/', '+14155550101', :at)"
            ),
            {"at": _as_stored(db, first)},
        )
        connection.execute(
            text("INSERT INTO click (link_id, clicked_at) VALUES (1, :at)"),
            [{"at": _as_stored(db, at)} for at in (first, last, first)],
        )
    db.dispose()

    links = _rows_after_upgrade(database_url, Link)
    assert [(link.clicks, link.last_clicked_at) for link in links] == [(3, last), (0, None)]


def test_links_lose_the_key_to_their_message_and_keep_their_clicks(database_url: str) -> None:
    """0032: no foreign key on link.message_id (PostgreSQL checked it for every campaign link);
    SQLite copies the table to drop it, and the clicks pointing at its links stay."""
    at = datetime(2026, 1, 5, 18, 0, tzinfo=UTC)
    command.downgrade(alembic_config(database_url), "0031")
    db = make_db(database_url)
    with db.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO message (id, phone, direction, body, media_urls, segments, encoding,"
                " status, attempts, created_at, updated_at) VALUES (7, '+14155550100',"
                " 'outbound', 'hi', '[]', 1, 'GSM-7', 'pending', 0, :at, :at)"
            ),
            {"at": _as_stored(db, at)},
        )
        connection.execute(
            text(
                "INSERT INTO link (id, code, url, phone, message_id, created_at, clicks) VALUES"
                " (1, 'aaaaaaa', 'https://shop.example/', '+14155550100', 7, :at, 1)"
            ),
            {"at": _as_stored(db, at)},
        )
        connection.execute(
            text("INSERT INTO click (link_id, clicked_at) VALUES (1, :at)"),
            {"at": _as_stored(db, at)},
        )
    db.dispose()

    upgrade(database_url)
    db = make_db(database_url)
    with db.connect() as connection:
        keys = inspect(connection).get_foreign_keys("link")
        kept = connection.execute(text("SELECT id, message_id FROM link")).all()
        clicks = connection.execute(text("SELECT link_id FROM click")).scalars().all()
    db.dispose()
    assert [key["referred_table"] for key in keys] == []
    assert [tuple(row) for row in kept] == [(1, 7)] and clicks == [1]


def test_texts_open_from_people_who_opted_out_leave_the_rounds_queue(database_url: str) -> None:
    """0034: an open text whose sender is opted out gets the moment they last changed status;
    open texts of people subscribed, and texts already handled, stay as they were."""
    asked, stopped = (
        datetime(2026, 1, 5, 18, 0, tzinfo=UTC),
        datetime(2026, 1, 5, 18, 5, tzinfo=UTC),
    )
    command.downgrade(alembic_config(database_url), "0033")
    db = make_db(database_url)
    people = [(1, "unsubscribed", stopped), (2, "subscribed", asked), (3, "unsubscribed", stopped)]
    with db.begin() as connection:
        for person, status, changed in people:
            phone = f"+1415555010{person}"
            connection.execute(
                text(
                    "INSERT INTO subscriber (id, phone, status, attributes, tags, created_at,"
                    " updated_at) VALUES (:id, :phone, :status, '{}', '[]', :asked, :changed)"
                ),
                {
                    "id": person,
                    "phone": phone,
                    "status": status,
                    "asked": _as_stored(db, asked),
                    "changed": _as_stored(db, changed),
                },
            )
            connection.execute(
                text(
                    "INSERT INTO message (id, phone, direction, body, media_urls, segments,"
                    " encoding, status, attempts, created_at, updated_at) VALUES (:id, :phone,"
                    " 'inbound', 'where is my order?', '[]', 1, 'GSM-7', 'received', 0, :at, :at)"
                ),
                {"id": person, "phone": phone, "at": _as_stored(db, asked)},
            )
            handled = _as_stored(db, stopped) if person == 3 else None
            connection.execute(
                text(
                    "INSERT INTO unanswered_text (id, message_id, subscriber_id, phone, context,"
                    " created_at, handled_at) VALUES (:id, :id, :id, :phone, 'asked', :at,"
                    " :handled)"
                ),
                {"id": person, "phone": phone, "at": _as_stored(db, asked), "handled": handled},
            )
    db.dispose()

    texts = _rows_after_upgrade(database_url, UnansweredText)
    assert [text.opted_out_at for text in texts] == [stopped, None, None]


def _rows_after_upgrade(database_url: str, model: type[Row]) -> list[Row]:
    """Upgrades the database to the head, then reads every row of a table, by id."""
    upgrade(database_url)
    db = make_db(database_url)
    with Session(db) as session:
        rows = list(session.scalars(select(model).order_by(model.id)).all())  # type: ignore[arg-type]
    db.dispose()
    return rows


def _as_stored(db: Engine, moment: datetime) -> datetime | str:
    """A time as the models write it: SQLite keeps naive UTC text."""
    return moment if db.dialect.name == "postgresql" else moment.strftime("%Y-%m-%d %H:%M:%S.%f")

"""The webhook's statements, through the functions that run them, on both databases: values
keep their types (enums, JSON, aware UTC datetimes), defaults fill what a caller leaves out, an
update sets only what it is given, ON CONFLICT is written per dialect, and a failed statement
raises SQLAlchemy's error and rolls back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from bot.conversations.events import store_event
from bot.domain.inbound import InboundSms
from bot.domain.vocabulary import (
    ConversationStatus,
    HandledBy,
    MessageStatus,
    SubscriberStatus,
    TimerKind,
)
from bot.engine.state import FlowState, Waiting
from bot.store.conversations import (
    Wake,
    claim,
    end_conversation,
    last_started,
    open_conversation,
    record_answer,
    record_visits,
    save_state,
)
from bot.store.db import make_db, transaction
from bot.store.messages import record_inbound
from bot.store.subscribers import add_subscriber, change_status
from bot.store.tables import ANSWERS, CONVERSATIONS, MESSAGES, STEP_VISITS

WHEN = datetime(2026, 11, 25, 9, 30, 15, 123456, tzinfo=UTC)
PHONE = "+14155550100"


def survey_state() -> FlowState:
    return FlowState("nps", "v1", "score", Waiting.ANSWER, WHEN, answers={"score": 9})


def test_a_claim_reads_back_what_was_written_with_its_types(database_url: str) -> None:
    db = make_db(database_url)
    expires = WHEN + timedelta(hours=1, microseconds=7)
    with transaction(db) as connection:
        subscriber = add_subscriber(connection, PHONE, WHEN)
        conversation_id = open_conversation(
            connection,
            subscriber=subscriber,
            state=survey_state(),
            now=WHEN,
            expires_at=expires,
            wake=Wake(TimerKind.WAIT, WHEN + timedelta(days=1)),
        )
    with transaction(db) as connection:
        claimed = claim(connection, PHONE, WHEN)
    assert claimed.subscriber.status is SubscriberStatus.NEW
    assert (claimed.subscriber.attributes, claimed.subscriber.tags) == ({}, [])
    active = claimed.conversation
    assert active is not None and active.id == conversation_id
    assert active.handled_by is HandledBy.BOT
    assert active.state == survey_state()
    assert active.expires_at == expires and active.expires_at.tzinfo is UTC
    assert active.wake == Wake(TimerKind.WAIT, WHEN + timedelta(days=1))


def test_column_defaults_fill_what_the_caller_leaves_out(database_url: str) -> None:
    db = make_db(database_url)
    with transaction(db) as connection:
        record_inbound(connection, InboundSms("SM1", PHONE, "Hello"), WHEN)
        row = connection.execute(select(MESSAGES.c.attempts, MESSAGES.c.status)).one()
    assert (row.attempts, row.status) == (0, MessageStatus.RECEIVED)


def test_an_update_sets_only_the_columns_it_is_given(database_url: str) -> None:
    db = make_db(database_url)
    later = WHEN + timedelta(minutes=5)
    with transaction(db) as connection:
        subscriber = add_subscriber(connection, PHONE, WHEN)
        open_conversation(connection, subscriber=subscriber, state=survey_state(), now=WHEN)
        active = claim(connection, PHONE, WHEN).conversation
        assert active is not None
        active.state = survey_state().with_changes(step="reason")
        save_state(connection, active, later, handoff_reason="asked for a person")
        end_conversation(connection, active.id, "done", later)
        change_status(connection, subscriber, SubscriberStatus.SUBSCRIBED, later)
        row = connection.execute(select(CONVERSATIONS)).one()
    assert (row.step, row.handled_by, row.handoff_reason) == (
        "reason",
        HandledBy.WAITING_FOR_AGENT,
        "asked for a person",
    )
    assert (row.status, row.end_reason, row.ended_at) == (ConversationStatus.ENDED, "done", later)
    assert (row.flow, row.started_at, row.updated_at) == ("nps", WHEN, later)


def test_many_rows_go_in_one_call_and_json_values_round_trip(database_url: str) -> None:
    db = make_db(database_url)
    with transaction(db) as connection:
        subscriber = add_subscriber(connection, PHONE, WHEN)
        conversation_id = open_conversation(
            connection, subscriber=subscriber, state=survey_state(), now=WHEN
        )
        record_visits(connection, conversation_id, "nps", ["ask", "score", "reason"], WHEN)
        record_answer(
            connection,
            conversation_id=conversation_id,
            subscriber_id=subscriber.id,
            phone=PHONE,
            flow="nps",
            step="score",
            name="score",
            value={"score": 9, "tags": ["fast"]},
            now=WHEN,
        )
        visits = connection.execute(select(STEP_VISITS.c.step).order_by(STEP_VISITS.c.id)).scalars()
        answer = connection.execute(select(ANSWERS.c.value)).scalar_one()
        started = last_started(connection, subscriber.id, "nps")
    assert list(visits) == ["ask", "score", "reason"]
    assert answer == {"score": 9, "tags": ["fast"]}
    assert started == WHEN and started.tzinfo is UTC


def test_on_conflict_is_written_for_each_database(database_url: str) -> None:
    db = make_db(database_url)
    with transaction(db) as connection:
        first = record_inbound(connection, InboundSms("SM1", PHONE, "Hello"), WHEN)
        again = record_inbound(connection, InboundSms("SM1", PHONE, "Hello"), WHEN)
        event = store_event(
            connection, event_type="order_placed", phone=PHONE, data={}, external_id="o1", now=WHEN
        )
        retried = store_event(
            connection, event_type="order_placed", phone=PHONE, data={}, external_id="o1", now=WHEN
        )
    assert isinstance(first, int) and again is None
    assert (event.new, retried.new, retried.id) == (True, False, event.id)


def test_a_failed_statement_raises_sqlalchemys_error_and_rolls_back(database_url: str) -> None:
    db = make_db(database_url)
    with pytest.raises(IntegrityError, match=r"(?i)foreign key"), transaction(db) as connection:
        record_inbound(connection, InboundSms("SM1", PHONE, "Hello"), WHEN)
        record_visits(connection, 404, "nps", ["ask"], WHEN)  # no such conversation
    with transaction(db) as connection:
        assert connection.execute(select(MESSAGES.c.id)).first() is None

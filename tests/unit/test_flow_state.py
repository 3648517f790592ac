"""A conversation's state survives the trip through the database's JSON column."""

from __future__ import annotations

import json
from dataclasses import fields
from datetime import UTC, datetime

from bot.engine.state import FlowState, Origin, Waiting


def test_state_round_trips_through_json_with_every_field() -> None:
    state = FlowState(
        flow="nps",
        version="abc123",
        step="score",
        waiting=Waiting.ANSWER,
        started_at=datetime(2026, 1, 5, 18, 0, tzinfo=UTC),
        origin=Origin.EVENT,
        retries=2,
        answers={"score": 9, "reason": "fast"},
        event={"cart_url": "https://shop.example/c/1"},
    )
    stored = json.loads(json.dumps(state.to_json()))
    assert set(stored) == {field.name for field in fields(FlowState)}
    read = FlowState.from_json(stored)
    assert read == state
    # Read back as the enums they are, so `is` comparisons in the engine hold.
    assert read.waiting is Waiting.ANSWER and read.origin is Origin.EVENT


def test_a_state_stored_before_origin_was_recorded_started_with_the_person() -> None:
    stored = {
        "flow": "nps",
        "version": "abc123",
        "step": None,
        "waiting": None,
        "started_at": "2026-01-05T18:00:00+00:00",
    }
    read = FlowState.from_json(stored)
    assert read.origin is Origin.PERSON and read.waiting is None

"""A conversation's state survives the trip through the database's JSON column."""

from __future__ import annotations

import json
from dataclasses import fields
from datetime import UTC, datetime

from bot.engine.state import FlowState


def test_state_round_trips_through_json_with_every_field() -> None:
    state = FlowState(
        flow="nps",
        version="abc123",
        step="score",
        waiting="answer",
        started_at=datetime(2026, 1, 5, 18, 0, tzinfo=UTC),
        origin="event",
        retries=2,
        answers={"score": 9, "reason": "fast"},
        event={"cart_url": "https://shop.example/c/1"},
    )
    stored = json.loads(json.dumps(state.to_json()))
    assert set(stored) == {field.name for field in fields(FlowState)}
    assert FlowState.from_json(stored) == state

"""POST /api/events: stored as sent, idempotent by id, and handed to the flows it concerns."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient
from sqlmodel import Session, func, select

from bot.app import services_of
from bot.settings import Settings
from bot.store.models import Conversation, Event, Message
from tests.support.harness import API_KEY, make_settings
from tests.support.paths import SHIPPED_FLOWS
from tests.support.sms import ALICE

AUTH = {"Authorization": f"Bearer {API_KEY}"}


@pytest.fixture
def settings(database_url: str) -> Settings:
    """The shared `client` fixture runs the shipped flows, which the events start."""
    return make_settings(database_url, FLOWS_DIR=SHIPPED_FLOWS)


def count(client: FlaskClient, model: type) -> int:
    with Session(services_of(client.application).db) as session:
        return session.scalar(select(func.count()).select_from(model))


def post(client: FlaskClient, body: object, headers: dict[str, str] | None = None):
    return client.post("/api/events", json=body, headers=AUTH if headers is None else headers)


def test_an_event_starts_the_flows_it_triggers(client: FlaskClient) -> None:
    response = post(client, {"type": "cart_abandoned", "phone": ALICE, "data": {"cart_url": "x"}})
    assert response.status_code == 202
    assert response.json["duplicate"] is False and isinstance(response.json["id"], int)
    [conversation] = session_rows(client, Conversation)
    assert (conversation.flow, conversation.status) == ("abandoned_cart", "active")
    [event] = session_rows(client, Event)
    assert (event.type, event.phone, event.data) == ("cart_abandoned", ALICE, {"cart_url": "x"})


def session_rows(client: FlaskClient, model: type) -> list:  # type: ignore[type-arg]
    with Session(services_of(client.application).db) as session:
        return list(session.scalars(select(model)))


def test_the_same_id_twice_changes_nothing_the_second_time(client: FlaskClient) -> None:
    body = {"type": "cart_abandoned", "phone": ALICE, "id": "shop-evt-42"}
    first = post(client, body)
    second = post(client, body)
    assert (first.status_code, second.status_code) == (202, 200)
    assert second.json == {"id": first.json["id"], "duplicate": True, "queued": 0}
    assert count(client, Event) == 1 and count(client, Conversation) == 1


def test_numeric_ids_are_ids_too(client: FlaskClient) -> None:
    post(client, {"type": "order_placed", "phone": ALICE, "id": 42})
    assert post(client, {"type": "order_placed", "phone": ALICE, "id": "42"}).json["duplicate"]


def test_an_order_ends_the_cart_reminders(client: FlaskClient) -> None:
    post(client, {"type": "cart_abandoned", "phone": ALICE})
    post(client, {"type": "order_placed", "phone": ALICE, "data": {"amount": 42.5}})
    [conversation] = session_rows(client, Conversation)
    assert conversation.end_reason == "cancelled by order_placed"


def test_unknown_event_types_are_accepted_and_kept(client: FlaskClient) -> None:
    response = post(client, {"type": "newsletter.opened", "phone": "(415) 555-0100"})
    assert response.status_code == 202 and response.json["queued"] == 0
    [event] = session_rows(client, Event)
    assert (event.type, event.phone) == ("newsletter.opened", ALICE)
    assert count(client, Conversation) == 0 and count(client, Message) == 0


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"phone": ALICE}, "type"),
        ({"type": "", "phone": ALICE}, "type"),
        ({"type": "cart abandoned", "phone": ALICE}, "type"),
        ({"type": "x" * 65, "phone": ALICE}, "type"),
        ({"type": "order_placed"}, "phone"),
        ({"type": "order_placed", "phone": "not a phone"}, "phone"),
        ({"type": "order_placed", "phone": ALICE, "data": [1, 2]}, "data"),
        ({"type": "order_placed", "phone": ALICE, "data": "x"}, "data"),
        ({"type": "order_placed", "phone": ALICE, "id": "x" * 129}, "id"),
        ({"type": "order_placed", "phone": ALICE, "id": "  "}, "id"),
        ({"type": "order_placed", "phone": ALICE, "id": [1]}, "id"),
        ([], "body"),
        # What json reads but no database keeps, or no text can carry:
        ({"type": "cart_abandoned", "phone": ALICE, "data": {"url": "a\x00b"}}, "data"),
        ({"type": "cart_abandoned", "phone": ALICE, "data": {"url": "x/\ud800"}}, "data"),
        ({"type": "cart_abandoned", "phone": ALICE, "data": {"total": float("nan")}}, "data"),
        ({"type": "cart_abandoned", "phone": ALICE, "data": {"n": [float("inf")]}}, "data"),
        (
            {
                "type": "cart_abandoned",
                "phone": ALICE,
                "data": {"a": [[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]},
            },
            "data",
        ),
        ({"type": "cart_abandoned", "phone": ALICE, "id": "a\x00b"}, "id"),
    ],
)
def test_a_malformed_event_is_422_naming_the_field_and_stores_nothing(
    client: FlaskClient, body: object, field: str
) -> None:
    response = post(client, body)
    assert response.status_code == 422
    assert response.json["field"] == field
    assert count(client, Event) == 0


def test_events_need_the_api_key(client: FlaskClient) -> None:
    response = post(client, {"type": "order_placed", "phone": ALICE}, headers={})
    assert response.status_code == 401
    assert count(client, Event) == 0


def test_json_nested_past_what_python_can_read_is_422_not_a_crash(client: FlaskClient) -> None:
    nested = "[" * 5000 + "1" + "]" * 5000
    body = f'{{"type": "cart_abandoned", "phone": "{ALICE}", "data": {{"a": {nested}}}}}'
    response = client.post("/api/events", data=body, content_type="application/json", headers=AUTH)
    assert response.status_code == 422
    assert response.json["field"] == "body"
    assert "nested too deeply" in response.json["error"]
    assert count(client, Event) == 0

"""The JSON API: bearer key, web signups with double opt-in, subscriber and message lookups."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient
from sqlmodel import Session, func, select

from bot.sending.gateways.fake import FakeGateway
from bot.store.models import ConsentEvent, Message, Subscriber
from tests.support.databases import REFUSED_BEFORE_ANY_QUERY
from tests.support.harness import API_KEY
from tests.support.sms import ALICE, reply_to

AUTH = {"Authorization": f"Bearer {API_KEY}"}
SIGNUP = {
    "phone": "(415) 555-0100",
    "first_name": "Alice",
    "source": "checkout-form",
    "consent_text": "Yes, text me offers from Acme. Msg & data rates may apply.",
}


@REFUSED_BEFORE_ANY_QUERY
@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("post", "/api/subscribers"),
        ("get", f"/api/subscribers/{ALICE}"),
        ("get", f"/api/messages?phone={ALICE}"),
    ],
)
@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong"},
        {"Authorization": API_KEY},
        {"Authorization": "Basic x"},
    ],
    ids=["none", "wrong key", "no scheme", "basic"],
)
def test_every_api_route_requires_the_key(
    client: FlaskClient, method: str, path: str, headers: dict[str, str]
) -> None:
    response = getattr(client, method)(path, headers=headers, json=SIGNUP)
    assert response.status_code == 401
    assert "Bearer" in response.json["error"]


def test_signup_makes_a_pending_subscriber_and_sends_the_opt_in_text(
    client: FlaskClient, gateway: FakeGateway, session: Session
) -> None:
    response = client.post("/api/subscribers", json=SIGNUP, headers=AUTH)
    assert response.status_code == 201
    assert response.json["phone"] == ALICE
    assert response.json["status"] == "pending"
    assert response.json["first_name"] == "Alice"
    [consent] = response.json["consent"]
    assert consent["kind"] == "opt_in_requested"
    assert consent["source"] == "checkout-form"
    assert consent["text"] == SIGNUP["consent_text"]
    [sent] = gateway.outbox
    assert sent.to == ALICE and "Reply Y" in sent.body
    message = session.exec(select(Message)).one()
    assert message.status == "queued" and message.provider_sid is not None


def test_signup_then_y_by_text_subscribes(client: FlaskClient) -> None:
    client.post("/api/subscribers", json=SIGNUP, headers=AUTH)
    [confirmation] = reply_to(client, "Y")
    assert "subscribed" in confirmation
    shown = client.get(f"/api/subscribers/{ALICE}", headers=AUTH).json
    assert shown["status"] == "subscribed"
    assert [event["kind"] for event in shown["consent"]] == ["opt_in_requested", "opt_in"]


def test_repeated_signup_sends_nothing_more(client: FlaskClient, gateway: FakeGateway) -> None:
    assert client.post("/api/subscribers", json=SIGNUP, headers=AUTH).status_code == 201
    assert client.post("/api/subscribers", json=SIGNUP, headers=AUTH).status_code == 200
    assert len(gateway.outbox) == 1


def test_signup_of_an_opted_out_number_is_refused(
    client: FlaskClient, gateway: FakeGateway, session: Session
) -> None:
    reply_to(client, "STOP")
    response = client.post("/api/subscribers", json=SIGNUP, headers=AUTH)
    assert response.status_code == 409
    assert "START" in response.json["error"]
    assert gateway.outbox == []
    assert session.exec(select(func.count()).select_from(ConsentEvent)).one() == 1


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"phone": "banana"}, "phone"),
        ({"phone": ""}, "phone"),
        ({"phone": None}, "phone"),
        ({"source": ""}, "source"),
        ({"consent_text": None}, "consent_text"),
        ({"first_name": 42}, "first_name"),
    ],
)
def test_bad_signups_are_422_naming_the_field(
    client: FlaskClient, session: Session, change: dict[str, object], field: str
) -> None:
    response = client.post("/api/subscribers", json={**SIGNUP, **change}, headers=AUTH)
    assert response.status_code == 422
    assert response.json["field"] == field
    assert session.exec(select(func.count()).select_from(Subscriber)).one() == 0


def test_missing_field_is_422(client: FlaskClient) -> None:
    body = {k: v for k, v in SIGNUP.items() if k != "consent_text"}
    response = client.post("/api/subscribers", json=body, headers=AUTH)
    assert response.status_code == 422 and response.json["field"] == "consent_text"


@pytest.mark.parametrize(
    ("data", "content_type"),
    [("not json", "application/json"), ("[1, 2]", "application/json"), ("a=b", "text/plain")],
)
def test_a_body_that_is_not_a_json_object_is_422(
    client: FlaskClient, data: str, content_type: str
) -> None:
    response = client.post("/api/subscribers", data=data, content_type=content_type, headers=AUTH)
    assert response.status_code == 422 and response.json["field"] == "body"


def test_unknown_subscriber_is_404(client: FlaskClient) -> None:
    response = client.get(f"/api/subscribers/{ALICE}", headers=AUTH)
    assert response.status_code == 404


def test_subscriber_lookup_accepts_local_format(client: FlaskClient) -> None:
    client.post("/api/subscribers", json=SIGNUP, headers=AUTH)
    response = client.get("/api/subscribers/(415) 555-0100", headers=AUTH)
    assert response.status_code == 200 and response.json["phone"] == ALICE


def test_messages_are_listed_oldest_first(client: FlaskClient) -> None:
    reply_to(client, "JOIN")
    reply_to(client, "Y")
    response = client.get(f"/api/messages?phone={ALICE}", headers=AUTH)
    assert response.status_code == 200
    messages = response.json["messages"]
    assert [(m["direction"], m["body"][:4]) for m in messages] == [
        ("inbound", "JOIN"),
        ("outbound", "Acme"),
        ("inbound", "Y"),
        ("outbound", "Acme"),
    ]
    assert {"status", "created_at"} <= set(messages[0])
    assert messages[0]["status"] == "received"


def test_messages_page_with_after(client: FlaskClient) -> None:
    reply_to(client, "JOIN")
    first = client.get(f"/api/messages?phone={ALICE}&limit=1", headers=AUTH).json["messages"]
    rest = client.get(f"/api/messages?phone={ALICE}&after={first[0]['id']}", headers=AUTH).json[
        "messages"
    ]
    assert len(first) == 1 and len(rest) == 1 and rest[0]["direction"] == "outbound"


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("", "phone"),
        ("phone=nope", "phone"),
        (f"phone={ALICE}&limit=0", "limit"),
        (f"phone={ALICE}&after=x", "after"),
    ],
)
def test_bad_message_queries_are_422(client: FlaskClient, query: str, field: str) -> None:
    response = client.get(f"/api/messages?{query}", headers=AUTH)
    assert response.status_code == 422 and response.json["field"] == field


def test_healthz_needs_no_key(client: FlaskClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200 and response.json["database"] == "ok"


def test_api_is_disabled_without_a_key(database_url: str) -> None:
    from bot.app import create_app
    from tests.support.harness import make_settings

    client = create_app(make_settings(database_url, API_KEY=None)).test_client()
    response = client.get(f"/api/subscribers/{ALICE}", headers={"Authorization": "Bearer "})
    assert response.status_code == 401 and "API_KEY" in response.json["error"]

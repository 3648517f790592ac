"""The API for integrators: one text, a flow for one person, paging through people, profile
changes; through the real app, on both databases."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from werkzeug.test import TestResponse

from bot.accounts.agents import create_agent
from bot.conversations.takeover import take_over
from bot.store.models import ConsentEvent, Conversation, Message, Subscriber
from tests.support.flow_app import START, FlowApp, write
from tests.support.harness import API_KEY, NO_FLOWS
from tests.support.sms import ALICE, BOB

AUTH = {"Authorization": f"Bearer {API_KEY}"}
CAROL = "+14155550102"
NIGHT_IN_CALIFORNIA = datetime(2026, 1, 6, 10, 0, tzinfo=UTC)  # 02:00 in Los Angeles
SHIPPED = {"body": "Your order #1001 has shipped.", "purpose": "transactional"}

ORDER_FLOW = """\
flow: order_update
triggers:
  events: [order_shipped]
steps:
  - id: shipped
    send: "{brand}: order {event.order|?} is on its way."
  - id: rate
    ask: "How did we do? Reply 1 to 5."
    expect: number
"""
LOCKED_FLOW = """\
flow: checkout_help
triggers:
  keywords: [HELPME]
settings:
  interruptible: false
steps:
  - id: which
    ask: "Which order? Reply with its number."
    expect: number
"""
ONCE_FLOW = """\
flow: survey_once
triggers:
  keywords: [ONCE]
  restart: never
steps:
  - end: "Thanks for taking part."
"""
PROMO_FLOW = """\
flow: flash_sale
triggers:
  keywords: [SALE]
settings:
  promotional: true
steps:
  - end: "{brand}: 20% off today only. Reply STOP to opt out."
"""


class IntegratorApp(FlowApp):
    """The app as an integrator's systems see it: JSON over the API, with the bearer key."""

    def post(self, path: str, body: Any) -> TestResponse:
        return self.client.post(path, json=body, headers=AUTH)

    def message(self, **body: Any) -> TestResponse:
        return self.post("/api/messages", {"phone": ALICE, **SHIPPED, **body})

    def start(self, flow: str, **body: Any) -> TestResponse:
        return self.post(f"/api/flows/{flow}/start", {"phone": ALICE, **body})

    def patch(self, body: Any, phone: str = ALICE) -> TestResponse:
        return self.client.patch(f"/api/subscribers/{phone}", json=body, headers=AUTH)

    def page(self, query: str) -> TestResponse:
        return self.client.get(f"/api/subscribers?{query}", headers=AUTH)

    def show(self, phone: str = ALICE) -> dict[str, Any]:
        response = self.client.get(f"/api/subscribers/{phone}", headers=AUTH)
        assert response.status_code == 200, response.json
        return response.json

    def subscribe(self, phone: str = ALICE) -> None:
        self.text("JOIN", phone)
        self.text("Y", phone)

    def sent(self) -> list[str]:
        return [text.body for text in self.gateway.outbox]


@pytest.fixture
def app(database_url: str, flows_dir: Path) -> Iterator[IntegratorApp]:
    """The app over flows of each kind the API may start (the shared `app` fixture is not
    used here: every test speaks to the API through this harness)."""
    for name, flow in (
        ("order_update.yaml", ORDER_FLOW),
        ("checkout_help.yaml", LOCKED_FLOW),
        ("survey_once.yaml", ONCE_FLOW),
        ("flash_sale.yaml", PROMO_FLOW),
    ):
        write(flows_dir, name, flow)
    harness = IntegratorApp(database_url, flows_dir)
    yield harness
    harness.dispose()


# POST /api/messages


def test_a_transactional_text_is_queued_and_sent(app: IntegratorApp) -> None:
    app.subscribe()
    before = len(app.sent())
    response = app.message(id="order-1001-shipped")
    assert response.status_code == 202
    assert response.json == {
        "id": response.json["id"],
        "phone": ALICE,
        "status": "queued",
        "reason": None,
        "send_at": None,
        "duplicate": False,
    }
    assert app.sent()[before:] == [SHIPPED["body"]]
    [message] = [m for m in app.rows(Message) if m.id == response.json["id"]]
    assert (message.purpose, message.external_id, message.status) == (
        "transactional",
        "order-1001-shipped",
        "queued",
    )


def test_a_repeat_with_the_same_id_queues_nothing_and_gets_the_first_answer(
    app: IntegratorApp,
) -> None:
    app.subscribe()
    first = app.message(id=1001)
    again = app.message(id="1001")  # a number and its text are one id
    assert again.status_code == 202
    assert again.json == {**first.json, "duplicate": True}
    assert app.sent().count(SHIPPED["body"]) == 1
    assert [m.external_id for m in app.rows(Message) if m.external_id] == ["1001"]


@pytest.mark.parametrize(
    ("change", "differs"),
    [
        ({"body": "Your order #1002 has shipped."}, "body"),
        ({"phone": BOB}, "phone"),
        ({"purpose": "promotional"}, "purpose"),
        ({"media_urls": ["https://shop.example/p.png"]}, "media_urls"),
    ],
)
def test_the_same_id_for_another_text_is_refused(
    app: IntegratorApp, change: dict[str, Any], differs: str
) -> None:
    app.subscribe()
    app.subscribe(BOB)
    first = app.message(id="k-1")
    response = app.message(id="k-1", **change)
    assert response.status_code == 409 and response.json["field"] == "id"
    assert f"another {differs}" in response.json["error"]
    assert str(first.json["id"]) in response.json["error"]
    assert [m.external_id for m in app.rows(Message) if m.external_id] == ["k-1"]


@pytest.mark.parametrize("odd", [True, 1.0, [1]])
def test_an_id_that_is_neither_text_nor_a_whole_number_is_refused(
    app: IntegratorApp, odd: Any
) -> None:
    app.subscribe()
    response = app.message(id=odd)  # `true` would otherwise be stored as the id "1"
    assert response.status_code == 422 and response.json["field"] == "id"
    assert [m.external_id for m in app.rows(Message) if m.external_id] == []


def test_texts_without_an_id_are_each_sent(app: IntegratorApp) -> None:
    app.subscribe()
    app.message()
    app.message()
    assert app.sent().count(SHIPPED["body"]) == 2


def test_an_unknown_number_is_refused_and_nothing_is_stored(app: IntegratorApp) -> None:
    response = app.message(phone=CAROL, id="x")
    assert response.status_code == 404
    assert CAROL in response.json["error"]
    assert app.rows(Subscriber) == [] and app.rows(Message) == []


def test_an_opted_out_number_is_refused_and_nothing_is_queued(app: IntegratorApp) -> None:
    app.subscribe()
    app.text("STOP")
    before = app.rows(Message)
    response = app.message(id="after-stop")
    assert response.status_code == 409 and response.json["field"] == "phone"
    assert "opted out" in response.json["error"] and "START" in response.json["error"]
    assert app.rows(Message) == before


def test_promotional_texts_need_a_confirmed_opt_in_as_the_policy_says(app: IntegratorApp) -> None:
    """A number that texted but never joined may get transactional texts, not marketing."""
    app.text("HELP")  # known, status new
    promotional = app.message(body="20% off today!", purpose="promotional")
    transactional = app.message()
    assert promotional.status_code == 202
    assert (promotional.json["status"], promotional.json["reason"]) == (
        "suppressed",
        "no marketing consent (status new)",
    )
    assert transactional.json["status"] == "queued"
    assert "20% off today!" not in app.sent() and SHIPPED["body"] in app.sent()


def test_a_text_with_only_a_picture(app: IntegratorApp) -> None:
    app.subscribe()
    picture = "https://shop.example/label.png"
    response = app.message(body="", media_urls=[picture])
    assert response.status_code == 202 and response.json["status"] == "queued"
    assert app.gateway.outbox[-1].media_urls == (picture,)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"purpose": "reply"}, "purpose"),
        ({"purpose": None}, "purpose"),
        ({"body": "x" * 1601}, "body"),
        ({"body": "  "}, "body"),
        ({"media_urls": ["ftp://shop.example/a.png"]}, "media_urls"),
        ({"media_urls": ["https://a.example/x"] * 11}, "media_urls"),
        ({"id": ""}, "id"),
        ({"id": "x" * 129}, "id"),
        ({"phone": "banana"}, "phone"),
        ({"mediaUrls": ["https://a.example/x"]}, "mediaUrls"),
    ],
)
def test_bad_texts_are_422_naming_the_field(
    app: IntegratorApp, change: dict[str, Any], field: str
) -> None:
    app.subscribe()
    before = app.rows(Message)
    response = app.message(**change)
    assert response.status_code == 422, response.json
    assert response.json["field"] == field
    assert app.rows(Message) == before


def test_quiet_hours_defer_a_promotional_text_and_the_answer_says_until_when(
    database_url: str, flows_dir: Path
) -> None:
    app = IntegratorApp(database_url, flows_dir)
    app.clock.set(NIGHT_IN_CALIFORNIA)
    app.subscribe()
    offer = {"body": "Acme: boots 20% off. Reply STOP to opt out.", "purpose": "promotional"}
    response = app.message(**offer, id="boots")
    assert response.status_code == 202
    morning = datetime(2026, 1, 6, 16, 0, tzinfo=UTC)  # 08:00 in Los Angeles
    assert response.json["status"] == "deferred"
    assert datetime.fromisoformat(response.json["send_at"]) == morning
    assert response.json["reason"] == "quiet hours in America/Los_Angeles until 08:00"
    assert offer["body"] not in app.sent()

    app.let_time_pass(timedelta(hours=6))
    assert app.sent().count(offer["body"]) == 1
    # Sent since, but a retry still gets the first answer, and nothing more is sent.
    assert app.message(**offer, id="boots").json == {**response.json, "duplicate": True}
    assert app.sent().count(offer["body"]) == 1
    app.dispose()


# POST /api/flows/<name>/start


def test_a_flow_starts_with_the_data_as_its_event(app: IntegratorApp) -> None:
    app.subscribe()
    response = app.start("order_update", data={"order": "#1001"})
    assert response.status_code == 202
    assert response.json == {"flow": "order_update", "phone": ALICE, "started": True, "queued": 2}
    assert app.sent()[-2:] == ["Acme: order #1001 is on its way.", "How did we do? Reply 1 to 5."]
    assert app.text("5") == []  # the flow took the answer
    [conversation] = [c for c in app.rows(Conversation) if c.flow == "order_update"]
    assert conversation.status == "ended" and conversation.end_reason == "completed"


def test_a_flow_that_is_not_in_force_is_404(app: IntegratorApp) -> None:
    app.subscribe()
    response = app.start("no_such_flow")
    assert response.status_code == 404 and "no_such_flow" in response.json["error"]


def test_a_flow_for_an_unknown_number_is_404_and_stores_nothing(app: IntegratorApp) -> None:
    response = app.start("order_update", phone=CAROL)
    assert response.status_code == 404 and response.json["field"] == "phone"
    assert app.rows(Subscriber) == [] and app.rows(Conversation) == []


def refused(response: TestResponse, why: str) -> bool:
    assert response.status_code == 409, response.json
    assert why in response.json["error"], response.json["error"]
    return True


def test_a_flow_that_may_not_be_interrupted_keeps_the_person(app: IntegratorApp) -> None:
    app.subscribe()
    app.text("HELPME")
    assert refused(app.start("order_update"), "in checkout_help, which may not be interrupted")
    [active] = [c for c in app.rows(Conversation) if c.status == "active"]
    assert active.flow == "checkout_help"


def test_an_interruptible_flow_gives_way(app: IntegratorApp) -> None:
    app.subscribe()
    app.start("order_update")
    assert app.start("survey_once").status_code == 202
    flows = {c.flow: (c.status, c.end_reason) for c in app.rows(Conversation)}
    assert flows["order_update"] == ("ended", "interrupted by survey_once")


def test_the_restart_rule_is_kept(app: IntegratorApp) -> None:
    app.subscribe()
    assert app.start("survey_once").status_code == 202
    assert refused(app.start("survey_once"), "starts once per person")


def test_a_flow_whose_texts_the_policy_would_suppress_does_not_start(app: IntegratorApp) -> None:
    app.text("HELP")  # known, never joined
    assert refused(app.start("flash_sale"), "no marketing consent (status new)")
    assert app.start("order_update").status_code == 202  # transactional: allowed
    app.text("STOP")
    assert refused(app.start("order_update"), "recipient opted out")


def test_a_flow_is_not_started_while_an_agent_has_the_chat(app: IntegratorApp) -> None:
    app.subscribe()
    app.start("order_update")
    agent = create_agent(app.db, "ann@acme.test", "Ann", "a long password", now=START, hasher=str)
    [conversation] = [c for c in app.rows(Conversation) if c.status == "active"]
    assert agent.id is not None and conversation.id is not None
    take_over(app.services, conversation_id=conversation.id, agent_id=agent.id)
    assert refused(app.start("survey_once"), "an agent has taken the chat over")


# GET /api/subscribers


def make_people(app: IntegratorApp, count: int) -> list[str]:
    phones = [f"+1415555{2000 + n:04d}" for n in range(count)]
    for n, phone in enumerate(phones):
        app.text("JOIN", phone)
        if n % 2 == 0:
            app.text("Y", phone)
    return phones


def walk(app: IntegratorApp, query: str, between_pages: Any = None) -> list[str]:
    seen: list[str] = []
    after = None
    while True:
        page = app.page(query + ("" if after is None else f"&after={after}"))
        assert page.status_code == 200, page.json
        seen.extend(person["phone"] for person in page.json["subscribers"])
        after = page.json["next"]
        if after is None:
            return seen
        if between_pages is not None:
            between_pages()


def test_pages_walk_every_subscriber_once_in_the_shape_of_one(app: IntegratorApp) -> None:
    phones = make_people(app, 7)
    first = app.page("limit=3").json
    assert len(first["subscribers"]) == 3 and first["next"] is not None
    assert first["subscribers"][0] == app.show(phones[0])
    assert walk(app, "limit=3") == phones
    last = app.page(f"after={first['next']}&limit=100").json
    assert last["next"] is None and len(last["subscribers"]) == 4


def test_a_walk_sees_everyone_once_while_people_are_being_changed(app: IntegratorApp) -> None:
    phones = make_people(app, 12)
    changes = iter(range(100))

    def change_some() -> None:  # people behind and ahead of the page move their updated_at
        n = next(changes)
        app.patch({"attributes": {"seen": n}}, phone=phones[(n * 5) % len(phones)])
        app.patch({"tags": {"add": [f"t{n}"]}}, phone=phones[-1 - n % 3])
        app.text("STOP", phones[(n * 7 + 1) % len(phones)])

    seen = walk(app, "limit=2", change_some)
    assert sorted(seen) == sorted(phones) and len(seen) == len(set(seen))


def test_filters_combine(app: IntegratorApp) -> None:
    phones = make_people(app, 6)  # even: subscribed, odd: pending
    for phone in phones[:3]:
        app.patch({"tags": {"add": ["vip"]}}, phone=phone)
    assert walk(app, "status=subscribed") == phones[0::2]
    assert walk(app, "tag=vip") == phones[:3]
    assert walk(app, "status=subscribed&tag=vip&limit=1") == [phones[0], phones[2]]
    assert walk(app, "status=unsubscribed") == []

    app.clock.advance(timedelta(hours=1))
    since = app.clock().isoformat()
    app.patch({"first_name": "Zed"}, phone=phones[4])
    app.patch({"first_name": "Ann"}, phone=phones[1])
    assert walk(app, f"updated_since={since.replace('+', '%2B')}") == [phones[1], phones[4]]
    assert walk(app, f"updated_since={since}") == [phones[1], phones[4]]  # "+" unencoded
    assert walk(app, f"updated_since={since}&status=subscribed") == [phones[4]]
    assert walk(app, "updated_since=2026-01-05&tag=vip") == phones[:3]  # a date is midnight UTC


def test_no_subscribers_is_an_empty_last_page(app: IntegratorApp) -> None:
    assert app.page("").json == {"subscribers": [], "next": None}


@pytest.mark.parametrize("after", [2**31 - 1, 2**31, 2**63 - 1])
def test_a_page_after_any_allowed_id_is_an_empty_last_page(app: IntegratorApp, after: int) -> None:
    # subscriber.id is 32-bit on PostgreSQL, `after` up to 2^63 - 1: schemathesis found a 500.
    app.subscribe()
    response = app.page(f"after={after}&updated_since=2026-01-05")
    assert (response.status_code, response.json) == (200, {"subscribers": [], "next": None})


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("status=gone", "status"),
        ("updated_since=yesterday", "updated_since"),
        ("updated_since=", "updated_since"),
        ("updated_since=0001-01-01T00:00:00%2B05:00", "updated_since"),
        ("limit=0", "limit"),
        ("limit=1001", "limit"),
        ("after=-1", "after"),
        ("after=x", "after"),
    ],
)
def test_bad_listings_are_422_naming_the_parameter(
    app: IntegratorApp, query: str, field: str
) -> None:
    response = app.page(query)
    assert response.status_code == 422 and response.json["field"] == field


# PATCH /api/subscribers/<phone>


def test_a_profile_changes_field_by_field(app: IntegratorApp) -> None:
    app.subscribe()
    app.patch({"attributes": {"size": "M", "city": "Oslo"}, "tags": {"add": ["vip", "boots"]}})
    response = app.patch(
        {
            "first_name": "Alice",
            "timezone": "Europe/Oslo",
            "attributes": {"size": "L", "city": None, "shoe": 39},
            "tags": {"add": ["vip", "new"], "remove": ["boots"]},
        }
    )
    assert response.status_code == 200
    assert response.json == app.show()
    assert response.json["first_name"] == "Alice"
    assert response.json["timezone"] == "Europe/Oslo"
    assert response.json["attributes"] == {"size": "L", "shoe": 39}
    assert response.json["tags"] == ["vip", "new"]

    cleared = app.patch({"first_name": None, "timezone": None}).json
    assert (cleared["first_name"], cleared["timezone"]) == (None, None)
    assert cleared["attributes"] == {"size": "L", "shoe": 39}  # left out: kept


def test_a_profile_time_zone_moves_quiet_hours(app: IntegratorApp) -> None:
    """10:00 in California is 19:00 in Oslo, 03:00 in Auckland: the zone set decides."""
    app.subscribe()
    app.patch({"timezone": "Pacific/Auckland"})
    offer = {"body": "Acme: a sale. Reply STOP to opt out.", "purpose": "promotional"}
    response = app.message(**offer).json
    assert response["status"] == "deferred"
    assert response["reason"] == "quiet hours in Pacific/Auckland until 08:00"


@pytest.mark.parametrize("field", ["status", "consent"])
def test_consent_cannot_be_patched(app: IntegratorApp, field: str) -> None:
    app.subscribe()
    app.text("STOP")
    before = app.show()
    response = app.patch({field: "subscribed", "first_name": "Alice"})
    assert response.status_code == 422 and response.json["field"] == field
    assert "STOP" in response.json["error"] and "POST /api/subscribers" in response.json["error"]
    assert app.show() == before
    assert before["status"] == "unsubscribed"
    assert len(app.rows(ConsentEvent)) == len(before["consent"])


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"timezone": "Mars/Olympus_Mons"}, "timezone"),
        ({"timezone": ""}, "timezone"),
        ({"first_name": ""}, "first_name"),
        ({"first_name": "Al\nice"}, "first_name"),
        ({"first_name": 42}, "first_name"),
        ({"attributes": {"": 1}}, "attributes"),
        ({"attributes": []}, "attributes"),
        ({"tags": {"add": ["a;b"]}}, "tags"),
        ({"tags": {"add": ["x"], "remove": ["x"]}}, "tags"),
        ({"tags": ["vip"]}, "tags"),
        ({"tags": {"plus": ["vip"]}}, "tags"),
        ({"email": "a@b.example"}, "email"),
    ],
)
def test_bad_profile_changes_are_422_and_change_nothing(
    app: IntegratorApp, body: dict[str, Any], field: str
) -> None:
    app.subscribe()
    before = app.show()
    response = app.patch(body)
    assert response.status_code == 422, response.json
    assert response.json["field"] == field
    assert app.show() == before


def test_an_unknown_number_cannot_be_patched(app: IntegratorApp) -> None:
    response = app.patch({"first_name": "Carol"}, phone=CAROL)
    assert response.status_code == 404
    assert app.rows(Subscriber) == []


ATTRIBUTE_NAMES = st.sampled_from(["size", "city", "shoe", "plan", "vip"])
ATTRIBUTE_VALUES = st.none() | st.integers(-5, 5) | st.text(max_size=5) | st.booleans()


def test_attributes_merge_and_null_removes_whatever_the_order(database_url: str) -> None:
    """Any sequence of patches leaves the attributes a dict merge would, nulls deleting."""
    app = IntegratorApp(database_url, NO_FLOWS)
    app.text("HELP")
    expected: dict[str, Any] = {}

    @given(st.dictionaries(ATTRIBUTE_NAMES, ATTRIBUTE_VALUES, max_size=4))
    @settings(
        max_examples=25,
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def patched(attributes: dict[str, Any]) -> None:
        response = app.patch({"attributes": attributes})
        assert response.status_code == 200, response.json
        for name, value in attributes.items():
            if value is None:
                expected.pop(name, None)
            else:
                expected[name] = value
        assert response.json["attributes"] == expected

    patched()
    app.dispose()

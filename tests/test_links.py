"""Tracked links on both databases: URLs in flow texts become /l/<code>, which counts clicks."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlmodel import Session, select

from bot.app import create_app, services_of
from bot.gateways.fake import FakeGateway
from bot.links import find_urls
from bot.models import Click, Direction, Link, Message
from bot.segments import count_segments
from bot.testing.clock import FakeClock, let_time_pass
from tests.conftest import API_KEY, SHIPPED_FLOWS, make_settings
from tests.sms import ALICE, BOB, reply_to

PUBLIC_URL = "https://sms.acme.example"
SALE_URL = "https://shop.example/sale?utm_source=sms&x=1"
SHORT = re.compile(re.escape(PUBLIC_URL) + r"/l/([0-9A-Za-z]{7})")

SALE_FLOW = f"""\
flow: sale
triggers:
  keywords: [SALE]
steps:
  - end: "Our sale is on: {SALE_URL}. Reply STOP to opt out."
"""


@pytest.mark.parametrize(
    ("text", "urls"),
    [
        ("See https://shop.example/c/42.", ["https://shop.example/c/42"]),
        ("See https://shop.example/c/42, then reply", ["https://shop.example/c/42"]),
        ("(https://shop.example/c/42)", ["https://shop.example/c/42"]),
        ("Go to https://shop.example/c/42!", ["https://shop.example/c/42"]),
        ("Is it https://shop.example/c/42?", ["https://shop.example/c/42"]),
        ('"https://shop.example/c/42"', ["https://shop.example/c/42"]),
        ("https://en.wikipedia.org/wiki/Foo_(bar).", ["https://en.wikipedia.org/wiki/Foo_(bar)"]),
        ("https://a.example/?q=1&r=two#top ok", ["https://a.example/?q=1&r=two#top"]),
        (
            "http://a.example/x and https://b.example/y",
            ["http://a.example/x", "https://b.example/y"],
        ),
        ("HTTPS://SHOP.EXAMPLE/C", ["HTTPS://SHOP.EXAMPLE/C"]),
        ("http://localhost:5000/cart", ["http://localhost:5000/cart"]),
        ("Visit www.shop.example today", []),
        ("no link here", []),
        ("https:// is not a link", []),
        ("", []),
    ],
)
def test_find_urls(text: str, urls: list[str]) -> None:
    assert [text[start:end] for start, end in find_urls(text)] == urls


class LinkApp:
    """An app with the sale flow, PUBLIC_URL set unless told otherwise, and a fake gateway."""

    def __init__(self, database_url: str, flows_dir: Path, **overrides: object) -> None:
        (flows_dir / "sale.yaml").write_text(SALE_FLOW)
        settings = make_settings(
            database_url, FLOWS_DIR=flows_dir, **{"PUBLIC_URL": PUBLIC_URL, **overrides}
        )
        self.app: Flask = create_app(settings, gateway=FakeGateway())
        self.client: FlaskClient = self.app.test_client()
        self.engine = services_of(self.app).engine

    def rows(self, model: type) -> list:  # type: ignore[type-arg]
        with Session(self.engine) as session:
            return list(session.scalars(select(model).order_by(model.id)))

    def dispose(self) -> None:
        self.engine.dispose()


@pytest.fixture
def flows_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "flows"
    folder.mkdir()
    return folder


@pytest.fixture
def shop(database_url: str, flows_dir: Path):  # type: ignore[no-untyped-def]
    app = LinkApp(database_url, flows_dir)
    yield app
    app.dispose()


def code_in(body: str) -> str:
    match = SHORT.search(body)
    assert match is not None, body
    return match.group(1)


def test_a_flow_text_is_sent_with_a_tracked_link(shop: LinkApp) -> None:
    [reply] = reply_to(shop.client, "SALE")
    code = code_in(reply)
    assert reply == f"Our sale is on: {PUBLIC_URL}/l/{code}. Reply STOP to opt out."
    [message] = [row for row in shop.rows(Message) if row.direction is Direction.OUTBOUND]
    assert message.body == reply  # stored as sent
    assert message.segments == count_segments(reply).segments == 1
    [link] = shop.rows(Link)
    assert (link.code, link.url, link.phone) == (code, SALE_URL, ALICE)
    assert (link.flow, link.campaign, link.message_id) == ("sale", None, message.id)


def test_the_same_person_keeps_the_same_code(shop: LinkApp) -> None:
    first = code_in(reply_to(shop.client, "SALE")[0])
    second = code_in(reply_to(shop.client, "SALE")[0])
    assert first == second
    [link] = shop.rows(Link)
    assert link.message_id == min(row.id for row in shop.rows(Message) if row.flow == "sale")


def test_different_people_get_different_codes(shop: LinkApp) -> None:
    alice = code_in(reply_to(shop.client, "SALE", phone=ALICE)[0])
    bob = code_in(reply_to(shop.client, "SALE", phone=BOB)[0])
    assert alice != bob
    assert {(link.code, link.phone) for link in shop.rows(Link)} == {(alice, ALICE), (bob, BOB)}


def test_following_a_link_redirects_and_records_a_click(shop: LinkApp) -> None:
    code = code_in(reply_to(shop.client, "SALE")[0])
    browser = "Mozilla/5.0 " + "x" * 400
    response = shop.client.get(f"/l/{code}", headers={"User-Agent": browser})
    assert response.status_code == 302
    assert response.headers["Location"] == SALE_URL
    assert response.headers["Cache-Control"] == "no-store"
    assert "Set-Cookie" not in response.headers  # a stateless route: no session
    shop.client.get(f"/l/{code}", headers={"User-Agent": ""})
    [link] = shop.rows(Link)
    clicks = shop.rows(Click)
    assert [click.link_id for click in clicks] == [link.id, link.id]
    assert clicks[0].user_agent == browser[:255]
    assert clicks[1].user_agent is None
    assert clicks[0].clicked_at is not None


@pytest.mark.parametrize("code", ["AAAAAAA", "abc", "toolong12", "abc-def", "a/b/cdefg", ""])
def test_an_unknown_or_malformed_code_is_a_404_page(shop: LinkApp, code: str) -> None:
    reply_to(shop.client, "SALE")
    response = shop.client.get(f"/l/{code}")
    assert response.status_code == 404
    assert response.mimetype == "text/html"
    assert "This link does not exist or has expired." in response.get_data(as_text=True)
    assert shop.rows(Click) == []


def test_without_public_url_nothing_is_rewritten(database_url: str, flows_dir: Path) -> None:
    app = LinkApp(database_url, flows_dir, PUBLIC_URL=None)
    try:
        assert reply_to(app.client, "SALE") == [
            f"Our sale is on: {SALE_URL}. Reply STOP to opt out."
        ]
        assert app.rows(Link) == []
    finally:
        app.dispose()


def test_compliance_texts_are_not_rewritten(database_url: str, flows_dir: Path) -> None:
    app = LinkApp(database_url, flows_dir, SUPPORT_CONTACT="https://acme.example/help")
    try:
        [answer] = reply_to(app.client, "HELP")
        assert "https://acme.example/help" in answer
        assert app.rows(Link) == []
    finally:
        app.dispose()


def test_the_cart_reminders_carry_one_tracked_link(database_url: str) -> None:
    """The shipped flow, through an event and timers: every reminder reuses the person's link."""
    clock = FakeClock(datetime(2026, 1, 5, 18, 0, tzinfo=UTC))  # 10:00 in San Francisco
    gateway = FakeGateway()
    settings = make_settings(
        database_url, FLOWS_DIR=SHIPPED_FLOWS, PUBLIC_URL=PUBLIC_URL, SEND_RATE=1000
    )
    app = create_app(settings, gateway=gateway, clock=clock)
    services = services_of(app)
    try:
        client = app.test_client()
        reply_to(client, "JOIN")
        reply_to(client, "Y")
        cart = {
            "type": "cart_abandoned",
            "phone": ALICE,
            "data": {"cart_url": "https://shop.example/c/42"},
        }
        response = client.post(
            "/api/events", json=cart, headers={"Authorization": f"Bearer {API_KEY}"}
        )
        assert response.status_code == 202, response.json
        let_time_pass(services, clock, timedelta(days=2))
        reminders = [text.body for text in gateway.outbox if "cart" in text.body]
        assert len(reminders) == 3
        assert "https://shop.example" not in " ".join(reminders)
        assert len({code_in(body) for body in reminders}) == 1
        with Session(services.engine) as session:
            [link] = session.scalars(select(Link)).all()
            rows = session.scalars(select(Message).where(Message.flow == "abandoned_cart")).all()
        assert (link.url, link.flow) == ("https://shop.example/c/42", "abandoned_cart")
        assert all(row.segments == count_segments(row.body).segments for row in rows)
    finally:
        services.engine.dispose()

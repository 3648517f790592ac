"""Tracked links on both databases: URLs in flow texts become /l/<code>, which counts clicks."""

from __future__ import annotations

import csv
import io
import re
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from sqlmodel import Session, select

from bot.app import create_app, services_of
from bot.campaigns.send import send_campaign
from bot.domain.segments import count_segments
from bot.domain.urls import find_urls, urls_written_by_brand
from bot.domain.vocabulary import Direction
from bot.engine.runtime import BRAND_NAMES
from bot.engine.templates import parse_template
from bot.privacy.bulk import import_subscribers
from bot.sending.gateways.fake import FakeGateway
from bot.sending.links import CLICK_ROWS_PER_LINK, CLICK_WINDOW
from bot.services import build_services
from bot.store.models import Click, Link, Message
from bot.testing.clock import FakeClock, let_time_pass
from tests.support.harness import API_KEY, AppHarness, make_settings
from tests.support.paths import SHIPPED_FLOWS
from tests.support.sms import ALICE, BOB, reply_to

PUBLIC_URL = "https://sms.acme.example"
NOW = datetime(2026, 11, 30, 18, 0, tzinfo=UTC)  # 10:00 in San Francisco: not quiet hours
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


class LinkApp(AppHarness):
    """An app with the sale flow, PUBLIC_URL set unless told otherwise."""

    def __init__(self, database_url: str, flows_dir: Path, **overrides: object) -> None:
        (flows_dir / "sale.yaml").write_text(SALE_FLOW)
        super().__init__(
            database_url, now=NOW, flows_dir=flows_dir, **{"PUBLIC_URL": PUBLIC_URL, **overrides}
        )


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
    shop.clock.advance(CLICK_WINDOW)
    shop.client.get(f"/l/{code}", headers={"User-Agent": ""})
    [link] = shop.rows(Link)
    clicks = shop.rows(Click)
    assert [click.link_id for click in clicks] == [link.id, link.id]
    assert clicks[0].user_agent == browser[:255]
    assert clicks[1].user_agent is None
    assert [click.clicked_at for click in clicks] == [NOW, NOW + CLICK_WINDOW]
    assert (link.clicks, link.last_clicked_at) == (2, NOW + CLICK_WINDOW)


def test_repeats_within_a_minute_are_one_click(shop: LinkApp) -> None:
    code = code_in(reply_to(shop.client, "SALE")[0])
    for _ in range(3):
        assert shop.client.get(f"/l/{code}").status_code == 302
        shop.clock.advance(timedelta(seconds=29))
    assert shop.client.get(f"/l/{code}").status_code == 302  # 87 s after the counted one
    assert [click.clicked_at for click in shop.rows(Click)] == [NOW, NOW + timedelta(seconds=87)]
    assert shop.rows(Link)[0].clicks == 2


PREVIEWERS = [
    "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_11_1) AppleWebKit/601.2.4 (KHTML, like Gecko)"
    " Version/9.0.1 Safari/601.2.4 facebookexternalhit/1.1 Facebot Twitterbot/1.0",  # iMessage
    "WhatsApp/2.23.20.0 A",
    "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)",
]


@pytest.mark.parametrize("agent", PREVIEWERS)
def test_a_link_preview_is_sent_on_but_is_no_click(shop: LinkApp, agent: str) -> None:
    code = code_in(reply_to(shop.client, "SALE")[0])
    response = shop.client.get(f"/l/{code}", headers={"User-Agent": agent})
    assert (response.status_code, response.headers["Location"]) == (302, SALE_URL)
    assert shop.rows(Click) == []
    assert (shop.rows(Link)[0].clicks, shop.rows(Link)[0].last_clicked_at) == (0, None)
    shop.client.get(f"/l/{code}", headers={"User-Agent": "Mozilla/5.0 (iPhone)"})
    assert len(shop.rows(Click)) == 1  # the person's own tap, right after the preview


def test_the_click_rows_kept_per_link_are_bounded(shop: LinkApp) -> None:
    """A script that clicks every minute keeps counting, but the rows stop at the bound."""
    code = code_in(reply_to(shop.client, "SALE")[0])
    visits = CLICK_ROWS_PER_LINK + 10
    for visit in range(visits):
        shop.client.get(f"/l/{code}", headers={"User-Agent": f"script {visit}"})
        shop.clock.advance(CLICK_WINDOW)
    clicks = shop.rows(Click)
    last = NOW + (visits - 1) * CLICK_WINDOW
    assert len(clicks) == CLICK_ROWS_PER_LINK
    assert (clicks[-1].clicked_at, clicks[-1].user_agent) == (last, f"script {visits - 1}")
    assert (shop.rows(Link)[0].clicks, shop.rows(Link)[0].last_clicked_at) == (visits, last)


def test_parallel_fetches_of_one_code_count_once(shop: LinkApp) -> None:
    """200 fetches at one moment on threads, each its own request and transaction."""
    code = code_in(reply_to(shop.client, "SALE")[0])
    fetchers = 200
    start = threading.Barrier(fetchers)
    statuses: list[int] = []

    def fetch() -> None:
        client = shop.app.test_client()
        start.wait()  # all at once
        statuses.append(client.get(f"/l/{code}").status_code)

    threads = [threading.Thread(target=fetch) for _ in range(fetchers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses == [302] * fetchers
    assert len(shop.rows(Click)) == 1
    assert shop.rows(Link)[0].clicks == 1


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
    settings = make_settings(database_url, FLOWS_DIR=SHIPPED_FLOWS, PUBLIC_URL=PUBLIC_URL)
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
        with Session(services.db) as session:
            [link] = session.scalars(select(Link)).all()
            rows = session.scalars(select(Message).where(Message.flow == "abandoned_cart")).all()
        assert (link.url, link.flow) == ("https://shop.example/c/42", "abandoned_cart")
        assert all(row.segments == count_segments(row.body).segments for row in rows)
    finally:
        services.close()


EVIL = "https://evil.example/login"


def subscribe(client: FlaskClient, *, first_name: str) -> list[str]:
    """Sign ALICE up from a web form with this first name and confirm: the texts she gets."""
    response = client.post(
        "/api/subscribers",
        json={
            "phone": ALICE,
            "first_name": first_name,
            "source": "web-form",
            "consent_text": "Yes, text me deals. Reply STOP to opt out.",
        },
        headers={"Authorization": f"Bearer {API_KEY}"},
    )
    assert response.status_code == 201, response.json
    return reply_to(client, "Y")


@pytest.mark.parametrize(
    ("source", "values", "expected"),
    [
        (
            "{first_name}, see https://shop.example/a",
            {"first_name": EVIL},
            ["https://shop.example/a"],
        ),
        ("https://shop.example/u/{first_name}", {"first_name": "x.evil"}, []),
        ("{first_name}https://shop.example/a", {"first_name": "x"}, []),  # no URL found at all
        (
            "Go: https://shop.example/c/{event.id}!",
            {"event": {"id": "42"}},
            ["https://shop.example/c/42"],
        ),
        (
            "{brand} https://{support}/help",
            {"brand": "Acme", "support": "acme.example"},
            ["https://acme.example/help"],
        ),
        (
            "{attributes.site} and {first_name|https://shop.example}",
            {"attributes": {"site": EVIL}},
            ["https://shop.example"],
        ),
    ],
)
def test_only_urls_the_brand_wrote_count(
    source: str, values: dict[str, object], expected: list[str]
) -> None:
    filled = parse_template(source).fill(values, trusted=BRAND_NAMES)
    found = [
        filled.text[start:end]
        for start, end in urls_written_by_brand(filled.text, filled.brand_spans)
    ]
    assert found == expected


def test_a_name_that_is_a_url_is_greeted_as_text(database_url: str) -> None:
    """The welcome series greets a signup whose first name is a URL: plain text, no brand link."""
    settings = make_settings(database_url, FLOWS_DIR=SHIPPED_FLOWS, PUBLIC_URL=PUBLIC_URL)
    gateway = FakeGateway()
    app = create_app(settings, gateway=gateway)
    try:
        answered = subscribe(app.test_client(), first_name=EVIL)
        assert services_of(app).action_pool.wait_idle(30.0)  # the coupon, after the answer
        texts = answered + [text.body for text in gateway.outbox]
        [welcome] = [text for text in texts if text.startswith("Welcome")]
        assert welcome.startswith(f"Welcome to Acme, {EVIL}! Your code for your first order")
        assert "/l/" not in " ".join(texts)
        with Session(services_of(app).db) as session:
            assert session.scalars(select(Link)).all() == []
    finally:
        services_of(app).close()


def test_a_url_with_a_persons_value_in_it_is_left_as_written(
    database_url: str, flows_dir: Path
) -> None:
    (flows_dir / "page.yaml").write_text(
        "flow: page\ntriggers: {keywords: [PAGE]}\nsteps:\n"
        '  - end: "Your page: https://shop.example/u/{first_name} or our sale: ' + SALE_URL + '"\n'
    )
    app = LinkApp(database_url, flows_dir)
    try:
        subscribe(app.client, first_name=".evil.example")
        [reply] = reply_to(app.client, "PAGE")
        code = code_in(reply)
        assert (
            reply
            == f"Your page: https://shop.example/u/.evil.example or our sale: {PUBLIC_URL}/l/{code}"
        )
        assert [link.url for link in app.rows(Link)] == [SALE_URL]
    finally:
        app.dispose()


def test_an_imported_attribute_that_is_a_url_stays_text_in_a_campaign(
    database_url: str, flows_dir: Path
) -> None:
    """A CSV attribute goes out as written; the campaign's own URL is still a tracked link."""
    (flows_dir / "campaigns").mkdir()
    (flows_dir / "campaigns" / "boots.yaml").write_text(
        "campaign: boots\nsend_at: now\nvariants:\n"
        '  - text: "{first_name|Hi}, boots near {attributes.city}: https://acme.test/boots'
        ' Reply STOP to opt out."\n'
    )
    settings = make_settings(database_url, FLOWS_DIR=flows_dir, PUBLIC_URL=PUBLIC_URL)
    services = build_services(settings, gateway=FakeGateway(), clock=lambda: NOW)
    try:
        csv_file = (
            "phone,first_name,city,consent_source,consent_text,consent_at\n"
            f"{ALICE},{EVIL},{EVIL}?x=1,web-form,Text me deals,2026-01-02\n"
        )
        report = import_subscribers(
            services.db,
            csv.DictReader(io.StringIO(csv_file)),
            default_region="US",
            now=NOW,
            source_name="people.csv",
        )
        assert report.imported == 1, report.refused
        send_campaign(services, "boots", now=NOW)
        with Session(services.db) as session:
            [text] = session.scalars(select(Message).where(Message.campaign == "boots")).all()
            links = session.scalars(select(Link)).all()
        code = code_in(text.body)
        assert text.body == (
            f"{EVIL}, boots near {EVIL}?x=1: {PUBLIC_URL}/l/{code} Reply STOP to opt out."
        )
        assert [(link.url, link.campaign) for link in links] == [
            ("https://acme.test/boots", "boots")
        ]
    finally:
        services.close()

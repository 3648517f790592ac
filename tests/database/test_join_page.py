"""The sign-up page, /join, as a visitor and the shop see it: the double opt-in text, the
ledger's source and words, the form's errors, its token, its limits, its QR code and headers."""

from __future__ import annotations

import xml.etree.ElementTree as ElementTree
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import segno
from flask.testing import FlaskClient
from sqlalchemy import func
from sqlmodel import Session, select

from bot.app import create_app, services_of
from bot.sending.gateways.fake import FakeGateway
from bot.settings import Settings
from bot.store.models import ConsentEvent, Message, Subscriber
from tests.support.harness import AppHarness, make_settings
from tests.support.join import consent_shown, hidden_fields, sign_up
from tests.support.sms import ALICE, BOB, BRAND_NUMBER, reply_to

NOW = datetime(2026, 6, 1, 15, 0, tzinfo=UTC)
WORDING = (
    "Yes, text me Acme's deals & news (up to 6 msgs/mo). Consent is not a condition of "
    "purchase. Msg & data rates may apply. Reply HELP for help, STOP to cancel."
)


@pytest.fixture
def settings(database_url: str) -> Settings:
    return make_settings(
        database_url,
        TWILIO_FROM=BRAND_NUMBER,
        INCENTIVE="15% off your first order",
        JOIN_CONSENT_TEXT=WORDING.replace("Acme", "{brand}"),
    )


def _counts(client: FlaskClient) -> list[int]:
    db = services_of(client.application).db
    with db.connect() as connection:
        return [
            connection.execute(select(func.count()).select_from(model.__table__)).scalar_one()  # type: ignore[attr-defined]
            for model in (Subscriber, ConsentEvent, Message)
        ]


def test_the_page_shows_the_brand_the_wording_the_fields_and_the_incentive(
    client: FlaskClient,
) -> None:
    page = client.get("/join")
    assert page.status_code == 200
    assert page.mimetype == "text/html"
    assert "Acme" in page.text
    assert consent_shown(page.text) == WORDING
    for field in ('name="phone"', 'name="first_name"', 'type="checkbox" name="consent"'):
        assert field in page.text
    assert "15% off your first order" in page.text
    assert f'href="sms:{BRAND_NUMBER}?&amp;body=JOIN"' in page.text
    assert 'src="/join/qr.svg"' in page.text
    assert "Set-Cookie" not in page.headers  # nothing a framing shop's browser would withhold


def test_a_sign_up_gets_the_double_opt_in_text_and_the_ledger_keeps_the_words_shown(
    client: FlaskClient, gateway: FakeGateway, session: Session
) -> None:
    shown = consent_shown(client.get("/join").text)
    response = sign_up(client, phone="(415) 555-0100")
    assert response.status_code == 200
    assert "Check your phone" in response.text
    [sent] = gateway.outbox
    assert sent.to == ALICE and "Reply Y" in sent.body
    person = session.exec(select(Subscriber)).one()
    assert (person.status, person.first_name) == ("pending", "Alice")
    [consent] = session.exec(select(ConsentEvent)).all()
    assert (consent.kind, consent.source) == ("opt_in_requested", "join-page")
    assert consent.text == shown == WORDING
    [confirmation] = reply_to(client, "Y")
    assert "subscribed" in confirmation


def test_the_source_tag_is_recorded_and_a_bad_one_refused(
    client: FlaskClient, session: Session
) -> None:
    assert sign_up(client, path="/join?source=Instagram").status_code == 200
    assert session.exec(select(ConsentEvent.source)).one() == "join-page:instagram"

    refused = client.get("/join?source=<script>")
    assert refused.status_code == 400
    assert "is not a source tag" in refused.text and "<script>" not in refused.text
    form = {**hidden_fields(client.get("/join").text), "phone": BOB, "consent": "yes"}
    form["source"] = "x" * 30
    before = _counts(client)
    assert client.post("/join", data=form).status_code == 422
    assert _counts(client) == before


@pytest.mark.parametrize(
    "token",
    [None, "", "forged", "eyJuIjoiMSJ9.Zz.bm90IG91cnM"],
    ids=["missing", "empty", "forged", "unsigned"],
)
def test_a_form_without_our_token_is_refused_and_stores_nothing(
    client: FlaskClient, gateway: FakeGateway, token: str | None
) -> None:
    form = {"phone": ALICE, "first_name": "Alice", "consent": "yes"}
    if token is not None:
        form["csrf_token"] = token
    response = client.post("/join", data=form)
    assert response.status_code == 400
    assert "expired" in response.text and response.mimetype == "text/html"
    assert _counts(client) == [0, 0, 0]
    assert gateway.outbox == []
    # The page it answers with is a fresh form that works.
    retry = {**form, **hidden_fields(response.text)}
    assert client.post("/join", data=retry).status_code == 200


def test_a_form_that_showed_other_words_is_refused(
    database_url: str, client: FlaskClient, gateway: FakeGateway
) -> None:
    old_form = hidden_fields(client.get("/join").text)
    reworded = make_settings(database_url, JOIN_CONSENT_TEXT="{brand} texts: " + WORDING)
    app = create_app(reworded, gateway=gateway)
    try:
        response = app.test_client().post(
            "/join", data={**old_form, "phone": ALICE, "consent": "yes"}
        )
        assert response.status_code == 400
        assert consent_shown(response.text) == "Acme texts: " + WORDING  # the new words
        assert "checked" not in response.text  # to be agreed to afresh
        assert _counts(client) == [0, 0, 0]
    finally:
        services_of(app).close()


@pytest.mark.parametrize(
    ("changes", "field", "says"),
    [
        ({"consent": None}, "consent", "tick the box"),
        ({"consent": "no"}, "consent", "tick the box"),
        ({"phone": "555"}, "phone", "not a possible phone number"),
        ({"phone": "call me"}, "phone", "is not a phone number"),
        ({"phone": ""}, "phone", "a phone number is required"),
        ({"first_name": "A" * 101}, "first_name", "at most 100"),
        ({"first_name": "Al\nice"}, "first_name", "one line"),
    ],
)
def test_a_bad_field_is_shown_on_the_form_and_stores_nothing(
    client: FlaskClient, gateway: FakeGateway, changes: dict[str, str | None], field: str, says: str
) -> None:
    values: dict[str, str | None] = {"phone": ALICE, "first_name": "Alice", "consent": "yes"}
    values.update(changes)
    response = sign_up(
        client,
        phone=values["phone"] or "",
        first_name=values["first_name"] or "",
        consent=values["consent"],
    )
    assert response.status_code == 422
    assert says in response.text
    assert f'name="{field}"' in response.text and 'aria-invalid="true"' in response.text
    assert _counts(client) == [0, 0, 0]
    assert gateway.outbox == []


def test_a_number_that_opted_out_by_text_is_told_how_to_rejoin(
    client: FlaskClient, gateway: FakeGateway, session: Session
) -> None:
    reply_to(client, "STOP")
    texts_before = len(gateway.outbox)
    response = sign_up(client)
    assert response.status_code == 409
    assert "opted out by text" in response.text and "START" in response.text
    assert len(gateway.outbox) == texts_before
    assert session.exec(select(Subscriber.status)).one() == "unsubscribed"


@pytest.fixture
def limited(database_url: str) -> Iterator[AppHarness]:
    harness = AppHarness(database_url, now=NOW, JOIN_LIMIT_PER_NUMBER=2, JOIN_LIMIT_PER_ADDRESS=3)
    yield harness
    harness.dispose()


def test_one_number_gets_so_many_sign_ups_an_hour_from_any_address(limited: AppHarness) -> None:
    assert sign_up(limited.client, address="198.51.100.1").status_code == 200
    assert sign_up(limited.client, address="198.51.100.2").status_code == 200
    refused = sign_up(limited.client, address="198.51.100.3")
    assert refused.status_code == 429
    assert "try again in 60 minutes" in refused.text
    assert refused.headers["Retry-After"] == "3600"
    assert sign_up(limited.client, phone=BOB, address="198.51.100.3").status_code == 200

    limited.clock.advance(timedelta(hours=1))
    assert sign_up(limited.client, address="198.51.100.3").status_code == 200


def test_one_address_gets_so_many_sign_ups_an_hour_across_processes(
    limited: AppHarness, database_url: str
) -> None:
    # Another web process: its own app, on the same database, sender and clock.
    other_process = create_app(
        make_settings(database_url, JOIN_LIMIT_PER_NUMBER=2, JOIN_LIMIT_PER_ADDRESS=3),
        gateway=limited.gateway,
        clock=limited.clock,
    )
    try:
        numbers = ["+14155550110", "+14155550111", "+14155550112", "+14155550113"]
        assert sign_up(limited.client, phone=numbers[0]).status_code == 200
        assert sign_up(other_process.test_client(), phone=numbers[1]).status_code == 200
        assert sign_up(limited.client, phone=numbers[2]).status_code == 200
        refused = sign_up(other_process.test_client(), phone=numbers[3])
        assert refused.status_code == 429
        assert limited.sent_to(numbers[3]) == []
        # Someone else, elsewhere, is not held back by this address.
        assert sign_up(limited.client, phone=numbers[3], address="192.0.2.9").status_code == 200
    finally:
        services_of(other_process).close()


def test_behind_a_trusted_proxy_the_limit_counts_the_client(database_url: str) -> None:
    behind = AppHarness(database_url, now=NOW, JOIN_LIMIT_PER_ADDRESS=1, TRUSTED_PROXIES=1)
    try:
        for number, client_address in (("+14155550120", "192.0.2.1"), (BOB, "192.0.2.2")):
            headers = {"X-Forwarded-For": client_address}
            response = sign_up(behind.client, phone=number, address="10.0.0.1", headers=headers)
            assert response.status_code == 200
        again = sign_up(behind.client, phone=ALICE, headers={"X-Forwarded-For": "192.0.2.1"})
        assert again.status_code == 429
    finally:
        behind.dispose()


def test_the_qr_code_is_an_svg_of_the_text_join_link(client: FlaskClient) -> None:
    response = client.get("/join/qr.svg")
    assert response.status_code == 200
    assert response.mimetype == "image/svg+xml"
    root = ElementTree.fromstring(response.data)
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    link = f"sms:{BRAND_NUMBER}?&body=JOIN"
    title = root.find("{http://www.w3.org/2000/svg}title")
    assert title is not None and title.text == link
    # The modules drawn are those of a QR code of exactly that link.
    expected = ElementTree.fromstring(segno.make(link, error="m").svg_inline(scale=8))
    expected_path = expected.find("path")
    drawn = root.find("{http://www.w3.org/2000/svg}path")
    assert drawn is not None and expected_path is not None
    assert drawn.get("d") == expected_path.get("d")


def test_without_a_number_there_is_no_text_link_and_no_qr_code(database_url: str) -> None:
    app = create_app(make_settings(database_url), gateway=FakeGateway())
    try:
        client = app.test_client()
        page = client.get("/join")
        assert page.status_code == 200 and "sms:" not in page.text and "qr.svg" not in page.text
        missing = client.get("/join/qr.svg")
        assert missing.status_code == 404 and "JOIN_SMS_NUMBER" in missing.text
    finally:
        services_of(app).close()


def test_only_the_named_shops_may_frame_the_page(database_url: str, client: FlaskClient) -> None:
    alone = client.get("/join").headers
    assert "frame-ancestors 'none'" in alone["Content-Security-Policy"]
    assert "script-src" not in alone["Content-Security-Policy"]  # default-src 'none' holds
    assert alone["X-Frame-Options"] == "DENY"
    shop = "https://shop.example.com"
    app = create_app(make_settings(database_url, JOIN_EMBED_ORIGINS=shop), gateway=FakeGateway())
    try:
        framed = app.test_client().get("/join").headers
        assert f"frame-ancestors {shop};" not in framed["Content-Security-Policy"]
        assert framed["Content-Security-Policy"].endswith(f"frame-ancestors {shop}")
        assert "X-Frame-Options" not in framed
    finally:
        services_of(app).close()

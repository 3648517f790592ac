"""Shopify, natively: a test plays the shop with signed webhooks, on both databases.

A checkout starts the cart reminders, the order stops them and is credited to the campaign
clicked before; a replayed webhook changes nothing; a bad signature is a 401 and the admin's
test notification a 200, both storing nothing; the customer's SMS consent is kept in sync.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import select, update

from actions.coupons import DEV_SECRET, coupon_code
from bot.campaigns.conversions import attributions
from bot.campaigns.send import send_campaign
from bot.cli import main
from bot.domain.vocabulary import ConsentKind, ConversationStatus, ShopifyWebhookStatus
from bot.domain.vocabulary import SubscriberStatus as Status
from bot.privacy.bulk import erase_subscriber, subscriber_record
from bot.shopify import received
from bot.shopify.processing import handle_due
from bot.shopify.verify import signature_of
from bot.store.tables import CONSENT_EVENTS, CONVERSATIONS, EVENTS, SHOPIFY_WEBHOOKS, SUBSCRIBERS
from tests.support.databases import REFUSED_BEFORE_ANY_QUERY
from tests.support.shopify import SECRET, ShopifyApp, headers, payload
from tests.support.sms import ALICE, BOB, reply_to

NOW = datetime(2026, 1, 5, 18, 0, tzinfo=UTC)  # 10:00 in San Francisco
PUBLIC_URL = "https://parley.test"
BROWSER = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X)"
SHORT_LINK = re.compile(re.escape(PUBLIC_URL) + r"/l/([0-9A-Za-z]{7})")


@pytest.fixture
def shop(database_url: str) -> Iterator[ShopifyApp]:
    app = ShopifyApp(database_url, now=NOW, PUBLIC_URL=PUBLIC_URL)
    yield app
    app.dispose()


def person(shop: ShopifyApp, phone: str = ALICE) -> Any:
    with shop.db.connect() as connection:
        return connection.execute(select(SUBSCRIBERS).where(SUBSCRIBERS.c.phone == phone)).first()


def ledger(shop: ShopifyApp, phone: str = ALICE) -> list[tuple[str, str, str | None]]:
    with shop.db.connect() as connection:
        rows = connection.execute(
            select(CONSENT_EVENTS).where(CONSENT_EVENTS.c.phone == phone).order_by("id")
        )
        return [(row.kind, row.source, row.text) for row in rows]


def conversations(shop: ShopifyApp, flow: str = "abandoned_cart") -> list[Any]:
    with shop.db.connect() as connection:
        query = select(CONVERSATIONS).where(CONVERSATIONS.c.flow == flow).order_by("id")
        return list(connection.execute(query))


def events(shop: ShopifyApp, kind: str) -> list[Any]:
    with shop.db.connect() as connection:
        query = select(EVENTS).where(EVENTS.c.type == kind).order_by("id")
        return list(connection.execute(query))


def texts_to(shop: ShopifyApp, phone: str = ALICE) -> list[str]:
    return [text.body for text in shop.gateway.outbox if text.to == phone]


def subscribe_alice(shop: ShopifyApp) -> None:
    reply_to(shop.client, "JOIN")
    reply_to(shop.client, "Y")
    shop.settle()  # the welcome's coupon step runs after the answer


def test_a_shop_plays_its_part(shop: ShopifyApp) -> None:
    # She agrees to texts at the shop, confirmed there: subscribed, with her profile.
    assert shop.deliver("customers/create", payload("customer")).status_code == 200
    alice = person(shop)
    assert alice.status == Status.SUBSCRIBED
    assert (alice.first_name, alice.tags, alice.attributes) == (
        "Ann",
        ["vip", "boots"],
        {"state": "CA", "coupon_code": coupon_code(ALICE, "default", DEV_SECRET)},
    )
    [(kind, source, words)] = ledger(shop)
    assert (kind, source) == (ConsentKind.OPT_IN, "shopify")
    assert (
        words is not None and "confirmed_opt_in" in words and "2026-01-05T09:58:02-08:00" in words
    )

    # A campaign reaches her (she is a VIP) and she follows its link.
    send_campaign(shop.services, "vip_preview")
    shop.let_time_pass(timedelta(0))
    [code] = {m.group(1) for body in texts_to(shop) if (m := SHORT_LINK.search(body))}
    shop.clock.advance(timedelta(minutes=5))
    assert shop.client.get(f"/l/{code}", headers={"User-Agent": BROWSER}).status_code == 302

    # She leaves a checkout: the reminders start, and an update starts no second run.
    shop.clock.advance(timedelta(minutes=5))
    checkout = payload("checkout")
    assert shop.deliver("checkouts/create", checkout).status_code == 200
    checkout["updated_at"] = "2026-01-05T10:09:12-08:00"
    checkout["line_items"][1]["quantity"] = 3
    assert shop.deliver("checkouts/update", checkout).status_code == 200
    [reminders] = conversations(shop)
    assert reminders.status == ConversationStatus.ACTIVE
    [cart] = events(shop, "cart_abandoned")
    assert cart.phone == ALICE  # her shipping address's (415) 555-0100, read in the US
    assert cart.data["cart_url"] == checkout["abandoned_checkout_url"]
    assert cart.data["total"] == "158.00"
    assert [(item["title"], item["quantity"]) for item in cart.data["line_items"]] == [
        ("Trail Runner Boot", 1),
        ("Wool Hiking Socks", 2),
    ]
    shop.let_time_pass(timedelta(hours=1))
    assert "You left something in your cart" in texts_to(shop)[-1]

    # She orders: the reminders stop, and the order is credited to the campaign she clicked.
    order = payload("order")
    webhook_id = "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043"
    assert shop.deliver("orders/create", order, webhook_id=webhook_id).status_code == 200
    [reminders] = conversations(shop)
    assert (reminders.status, reminders.end_reason) == (
        ConversationStatus.ENDED,
        "cancelled by order_placed",
    )
    sent = len(texts_to(shop))
    shop.let_time_pass(timedelta(days=2))
    assert len(texts_to(shop)) == sent
    with shop.db.connect() as connection:
        [credit] = attributions(connection)
    assert (credit.phone, credit.campaign, credit.amount, credit.by) == (
        ALICE,
        "vip_preview",
        Decimal("158.00"),
        "click",
    )

    # Shopify delivers the order again: the same answer, and nothing changes.
    before = shop.counts()
    again = shop.deliver("orders/create", order, webhook_id=webhook_id)
    assert again.status_code == 200 and again.json is not None and again.json["duplicate"]
    assert shop.counts() == before
    assert [row.status for row in shop.webhooks()] == [ShopifyWebhookStatus.DONE] * 4
    assert all(row.body is None for row in shop.webhooks())  # what the shop sent is not kept


BODY = b'{"token": "c1e2b8a0", "phone": "+14155550100"}'


def _signed(secret: str = SECRET, body: bytes = BODY) -> str:
    return signature_of(secret, body)


@REFUSED_BEFORE_ANY_QUERY
@pytest.mark.parametrize(
    ("signature", "body"),
    [
        pytest.param(None, BODY, id="missing"),
        pytest.param("", BODY, id="empty"),
        pytest.param("bm90IHRoZSBzaWduYXR1cmU=", BODY, id="wrong"),
        pytest.param("Zm9v\u00e9", BODY, id="not base64"),
        pytest.param(_signed("not-" + SECRET), BODY, id="another key"),
        pytest.param(_signed(), BODY.replace(b"c1e2b8a0", b"c1e2b8a1"), id="body changed"),
        pytest.param(_signed()[:-2], BODY, id="cut short"),
    ],
)
def test_a_bad_signature_is_a_401_and_nothing_is_stored(
    shop: ShopifyApp, signature: str | None, body: bytes
) -> None:
    subscribe_alice(shop)
    before = shop.counts()
    sent = headers("checkouts/create", body)
    del sent["X-Shopify-Hmac-Sha256"]
    if signature is not None:
        sent["X-Shopify-Hmac-Sha256"] = signature
    response = shop.client.post("/shopify/webhooks", data=body, headers=sent)
    assert response.status_code == 401
    assert response.json is not None and response.json["field"] == "X-Shopify-Hmac-Sha256"
    assert shop.counts() == before


def test_shopifys_test_notification_is_a_200_and_nothing_is_stored(shop: ShopifyApp) -> None:
    before = shop.counts()
    sample = shop.deliver("orders/create", payload("sample_order"))
    assert sample.status_code == 200
    assert sample.json == {
        "stored": False,
        "reason": "sample data (555-555-SHIP): Shopify's test notification",
    }
    flagged = shop.deliver("customers/update", payload("customer"), **{"X-Shopify-Test": "true"})
    assert flagged.status_code == 200 and flagged.json is not None
    assert flagged.json["stored"] is False
    assert shop.counts() == before


def test_sms_consent_unsubscribed_at_the_shop_opts_the_number_out(shop: ShopifyApp) -> None:
    subscribe_alice(shop)
    assert shop.deliver("checkouts/create", payload("checkout")).status_code == 200
    assert conversations(shop)[0].status == ConversationStatus.ACTIVE
    customer = payload("customer")
    customer["sms_marketing_consent"] = {
        "state": "unsubscribed",
        "opt_in_level": "single_opt_in",
        "consent_updated_at": "2026-01-05T10:30:00-08:00",
        "consent_collected_from": "OTHER",
    }
    assert shop.deliver("customers/update", customer).status_code == 200
    assert person(shop).status == Status.UNSUBSCRIBED
    assert ledger(shop)[-1][:2] == (ConsentKind.OPT_OUT, "shopify")
    assert "2026-01-05T10:30:00-08:00" in (ledger(shop)[-1][2] or "")
    [reminders] = conversations(shop)
    assert (reminders.status, reminders.end_reason) == (ConversationStatus.ENDED, "opted out")
    sent = len(texts_to(shop))
    shop.let_time_pass(timedelta(days=2))
    assert len(texts_to(shop)) == sent  # no reminder, and no confirmation text either

    # The same news again changes nothing; a later "subscribed" cannot undo the opt-out.
    entries = len(ledger(shop))
    assert shop.deliver("customers/update", customer).status_code == 200
    customer["sms_marketing_consent"] = payload("customer")["sms_marketing_consent"]
    assert shop.deliver("customers/update", customer).status_code == 200
    assert person(shop).status == Status.UNSUBSCRIBED
    assert len(ledger(shop)) == entries
    assert "only its owner can rejoin" in (shop.webhooks()[-1].outcome or "")


def test_single_opt_in_gets_the_double_opt_in_text(shop: ShopifyApp) -> None:
    customer = payload("customer")
    customer["sms_marketing_consent"]["opt_in_level"] = "single_opt_in"
    assert shop.deliver("customers/create", customer).status_code == 200
    assert person(shop).status == Status.PENDING
    [ask] = texts_to(shop)
    assert "Reply Y" in ask
    assert [entry[:2] for entry in ledger(shop)] == [(ConsentKind.OPT_IN_REQUESTED, "shopify")]
    assert shop.deliver("customers/update", customer).status_code == 200
    assert len(texts_to(shop)) == 1  # asked once
    reply_to(shop.client, "Y")
    assert person(shop).status == Status.SUBSCRIBED
    assert person(shop).tags == ["vip", "boots"]


def test_a_checkout_of_someone_not_subscribed_starts_nothing_and_stores_no_one(
    shop: ShopifyApp,
) -> None:
    assert shop.deliver("checkouts/create", payload("checkout")).status_code == 200
    assert person(shop) is None and events(shop, "cart_abandoned") == []
    [row] = shop.webhooks()
    assert row.status == ShopifyWebhookStatus.IGNORED
    assert (row.outcome, row.phone) == ("nobody subscribed among its 1 numbers", None)


def test_a_checkout_prefers_a_subscribed_number(shop: ShopifyApp) -> None:
    reply_to(shop.client, "JOIN", phone=BOB)
    reply_to(shop.client, "Y", phone=BOB)
    checkout = payload("checkout")
    checkout["sms_marketing_phone"] = "+14155550199"  # nobody we know
    checkout["billing_address"]["phone"] = "415.555.0101"  # Bob pays
    assert shop.deliver("checkouts/create", checkout).status_code == 200
    [cart] = events(shop, "cart_abandoned")
    assert cart.phone == BOB


def test_a_completed_checkout_ends_the_reminders(shop: ShopifyApp) -> None:
    subscribe_alice(shop)
    checkout = payload("checkout")
    assert shop.deliver("checkouts/create", checkout).status_code == 200
    checkout["completed_at"] = "2026-01-05T10:20:00-08:00"
    assert shop.deliver("checkouts/update", checkout).status_code == 200
    [reminders] = conversations(shop)
    assert (reminders.status, reminders.end_reason) == (
        ConversationStatus.ENDED,
        "cancelled by checkout_completed",
    )
    assert len(events(shop, "checkout_completed")) == 1


def test_an_order_that_comes_before_its_checkout_keeps_the_reminders_off(
    shop: ShopifyApp,
) -> None:
    subscribe_alice(shop)
    assert shop.deliver("orders/create", payload("order")).status_code == 200
    assert shop.deliver("checkouts/update", payload("checkout")).status_code == 200
    assert conversations(shop) == []
    assert shop.webhooks()[-1].outcome == "its order came first: no reminders"
    [order] = events(shop, "order_placed")
    assert order.data["amount"] == "158.00"


def test_an_order_by_no_one_we_know_stores_no_one(shop: ShopifyApp) -> None:
    assert shop.deliver("orders/create", payload("order")).status_code == 200
    assert person(shop) is None and events(shop, "order_placed") == []
    assert shop.webhooks()[0].outcome == "not a number Parley knows"


@pytest.mark.parametrize(
    ("topic", "body", "reason"),
    [
        ("products/update", {"id": 8123456789021, "title": "Trail Runner Boot"}, "does not use"),
        ("checkouts/create", {"token": "c1e2b8a0", "email": "ann@example.com"}, "no phone"),
        ("customers/update", {"id": 7312345678901, "phone": None}, "no phone"),
        ("orders/create", {"id": 6012345678902, "email": "ann@example.com"}, "no phone"),
    ],
)
def test_what_parley_cannot_use_is_a_200_recorded_as_ignored(
    shop: ShopifyApp, topic: str, body: dict[str, Any], reason: str
) -> None:
    response = shop.deliver(topic, body)
    assert response.status_code == 200
    [row] = shop.webhooks()
    assert (row.topic, row.status, row.body) == (topic, ShopifyWebhookStatus.IGNORED, None)
    assert reason in (row.outcome or "")


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"X-Shopify-Webhook-Id": ""}, "X-Shopify-Webhook-Id"),
        ({"X-Shopify-Topic": ""}, "X-Shopify-Topic"),
        ({"X-Shopify-Topic": "x" * 65}, "X-Shopify-Topic"),
    ],
)
def test_a_signed_request_without_shopifys_headers_is_a_400(
    shop: ShopifyApp, change: dict[str, str], field: str
) -> None:
    body = b"{}"
    response = shop.client.post(
        "/shopify/webhooks", data=body, headers={**headers("orders/create", body), **change}
    )
    assert response.status_code == 400
    assert response.json is not None and response.json["field"] == field
    assert shop.webhooks() == []


@pytest.mark.parametrize("body", [b"", b"[1, 2]", b'{"a": ', b"\xff\xfe", b"[" * 5000])
def test_a_signed_body_that_is_not_a_json_object_is_a_400(shop: ShopifyApp, body: bytes) -> None:
    response = shop.client.post(
        "/shopify/webhooks", data=body, headers=headers("orders/create", body)
    )
    assert response.status_code == 400
    assert shop.webhooks() == []


def test_without_a_secret_the_route_is_off(database_url: str) -> None:
    app = ShopifyApp(database_url, now=NOW, SHOPIFY_WEBHOOK_SECRET="")
    try:
        body = b"{}"
        response = app.client.post(
            "/shopify/webhooks", data=body, headers=headers("orders/create", body)
        )
        assert response.status_code == 503
        assert response.json == {"error": "Shopify webhooks are off: set SHOPIFY_WEBHOOK_SECRET"}
        assert app.webhooks() == []
    finally:
        app.dispose()


def test_a_large_order_is_taken(shop: ShopifyApp) -> None:
    subscribe_alice(shop)
    order = payload("order")
    order["line_items"] = order["line_items"] * 400  # about 600 KB
    assert shop.deliver("orders/create", order).status_code == 200
    assert shop.webhooks()[0].status == ShopifyWebhookStatus.DONE


def test_customers_redact_erases_as_bot_subscribers_erase_does(shop: ShopifyApp) -> None:
    subscribe_alice(shop)
    assert shop.deliver("checkouts/create", payload("checkout")).status_code == 200
    assert shop.deliver("orders/create", payload("order")).status_code == 200
    assert shop.deliver("customers/redact", payload("customers_redact")).status_code == 200
    alice = person(shop)
    assert (alice.status, alice.first_name, alice.tags) == (Status.UNSUBSCRIBED, None, [])
    assert ledger(shop)[-1][:2] == (ConsentKind.OPT_OUT, "erasure")
    assert all(event.data == {} for event in events(shop, "order_placed"))
    assert shop.webhooks()[-1].outcome == "erased; 1 orders blanked"
    # Shopify asks again: nothing more is written.
    entries = len(ledger(shop))
    assert shop.deliver("customers/redact", payload("customers_redact")).status_code == 200
    assert len(ledger(shop)) == entries


def test_shop_redact_erases_every_number_the_shop_told_of(shop: ShopifyApp) -> None:
    subscribe_alice(shop)
    reply_to(shop.client, "JOIN", phone=BOB)  # Bob never came through the shop
    assert shop.deliver("customers/update", payload("customer")).status_code == 200
    assert shop.deliver("shop/redact", payload("shop_redact")).status_code == 200
    assert person(shop).status == Status.UNSUBSCRIBED and person(shop).tags == []
    assert person(shop, BOB).status == Status.PENDING
    assert shop.webhooks()[-1].outcome == "acme-outdoor.myshopify.com: 1 of 1 numbers erased"


def test_a_data_request_is_recorded_for_the_operator(shop: ShopifyApp) -> None:
    assert shop.deliver("customers/data_request", payload("data_request")).status_code == 200
    [row] = shop.webhooks()
    assert row.outcome == (
        "data request 9999 for customer 7312345678901: answer it with:"
        " bot subscribers show +14155550100"
    )
    shown = CliRunner().invoke(
        main,
        ["shopify", "webhooks", "--topic", "customers/data_request"],
        env={"DATABASE_URL": str(shop.db.url.render_as_string(hide_password=False))},
    )
    assert shown.exit_code == 0, shown.output
    assert "bot subscribers show +14155550100" in shown.output


def test_the_clock_does_what_the_web_process_left(shop: ShopifyApp) -> None:
    subscribe_alice(shop)
    shop.services.action_pool.shutdown()  # the web process stops before it gets to the work
    assert shop.deliver("checkouts/create", payload("checkout")).status_code == 200
    [row] = shop.webhooks()
    assert (row.status, row.attempts) == (ShopifyWebhookStatus.PENDING, 0)
    assert handle_due(shop.services) == 0  # it still may: its minute is not over
    shop.clock.advance(received.FIRST_TRY_GRACE)
    assert handle_due(shop.services) == 1
    [row] = shop.webhooks()
    assert (row.status, row.attempts) == (ShopifyWebhookStatus.DONE, 1)
    assert conversations(shop)[0].status == ConversationStatus.ACTIVE


def test_a_failing_webhook_is_retried_then_marked_failed(shop: ShopifyApp) -> None:
    shop.services.action_pool.shutdown()
    assert shop.deliver("checkouts/create", payload("checkout")).status_code == 200
    with shop.db.begin() as connection:  # a body the work cannot read: every try fails
        connection.execute(update(SHOPIFY_WEBHOOKS).values(body="{not json"))
    for attempt in range(1, received.MAX_ATTEMPTS + 1):
        shop.clock.advance(
            received.FIRST_TRY_GRACE if attempt == 1 else received.retry_delay(attempt - 1)
        )
        assert handle_due(shop.services) == 1
        assert handle_due(shop.services) == 0  # not again before its next try is due
    [row] = shop.webhooks()
    assert (row.status, row.attempts) == (ShopifyWebhookStatus.FAILED, received.MAX_ATTEMPTS)
    assert (row.outcome or "").startswith(f"try {received.MAX_ATTEMPTS} failed: JSONDecodeError")
    shop.clock.advance(timedelta(days=1))
    assert handle_due(shop.services) == 0
    assert received.retry(shop.db, row.id, shop.clock())  # `bot shopify retry ID`
    assert shop.webhooks()[0].status == ShopifyWebhookStatus.PENDING


def test_a_second_try_is_not_taken_while_the_first_runs(shop: ShopifyApp) -> None:
    shop.services.action_pool.shutdown()
    shop.deliver("checkouts/create", payload("checkout"))
    [row] = shop.webhooks()
    first = received.claim_first(shop.db, row.id, shop.clock())
    assert first is not None
    assert received.claim_first(shop.db, row.id, shop.clock()) is None
    shop.clock.advance(received.FIRST_TRY_GRACE)
    assert received.claim_due(shop.db, shop.clock(), 10) == []  # the first try's claim holds


def test_subscribing_at_the_shop_starts_the_welcome_series(shop: ShopifyApp) -> None:
    assert shop.deliver("customers/create", payload("customer")).status_code == 200
    [welcome] = texts_to(shop)
    assert welcome.startswith("Welcome to Acme, Ann! Your code for your first order: SAVE-")


def test_the_profile_follows_the_shop(shop: ShopifyApp) -> None:
    subscribe_alice(shop)
    customer = payload("customer")
    customer["sms_marketing_consent"] = None
    customer["default_address"]["province_code"] = "OR"
    assert shop.deliver("customers/update", customer).status_code == 200
    alice = person(shop)
    assert (alice.first_name, alice.tags, alice.attributes["state"]) == (
        "Ann",
        ["vip", "boots"],
        "OR",
    )
    assert shop.webhooks()[-1].outcome == "first name Ann; tags vip, boots; state OR"
    updated_at = alice.updated_at
    shop.clock.advance(timedelta(minutes=1))
    assert shop.deliver("customers/update", customer).status_code == 200
    assert person(shop).updated_at == updated_at  # nothing new: nothing written
    assert shop.webhooks()[-1].outcome == "nothing changed"


def test_a_customer_the_shop_never_asked_about_texts_is_not_stored(shop: ShopifyApp) -> None:
    customer = payload("customer")
    customer["sms_marketing_consent"]["state"] = "not_subscribed"
    assert shop.deliver("customers/create", customer).status_code == 200
    assert person(shop) is None
    assert shop.webhooks()[0].outcome == "not an SMS subscriber (consent not_subscribed)"


def test_an_erasure_takes_what_the_shop_sent_and_is_not_handled_yet(shop: ShopifyApp) -> None:
    subscribe_alice(shop)
    shop.services.action_pool.shutdown()
    assert shop.deliver("checkouts/create", payload("checkout")).status_code == 200
    record = subscriber_record(shop.db, ALICE)
    assert record is not None and [row["topic"] for row in record["shopify_webhooks"]] == [
        "checkouts/create"
    ]
    assert erase_subscriber(shop.db, ALICE, shop.clock())
    assert shop.webhooks()[0].body is None
    shop.clock.advance(received.FIRST_TRY_GRACE)
    assert handle_due(shop.services) == 1
    [row] = shop.webhooks()
    assert (row.status, row.outcome) == (
        ShopifyWebhookStatus.IGNORED,
        "its data was erased before it was handled",
    )
    assert events(shop, "cart_abandoned") == []


def test_one_delivery_sent_many_times_at_once_is_stored_and_handled_once(shop: ShopifyApp) -> None:
    """Shopify retrying while the first try is still on its way: 20 at one moment, on threads."""
    subscribe_alice(shop)
    body = json.dumps(payload("checkout")).encode()
    sent = headers("checkouts/create", body)
    senders = 20
    start = threading.Barrier(senders)
    answers: list[tuple[int, bool]] = []

    def send() -> None:
        client = shop.app.test_client()
        start.wait()  # all at once
        response = client.post("/shopify/webhooks", data=body, headers=sent)
        answers.append((response.status_code, bool(response.json and response.json["duplicate"])))

    threads = [threading.Thread(target=send) for _ in range(senders)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert shop.services.action_pool.wait_idle(30.0)
    assert sorted(answers) == [(200, False)] + [(200, True)] * (senders - 1)
    [row] = shop.webhooks()
    assert (row.status, row.attempts) == (ShopifyWebhookStatus.DONE, 1)
    assert len(events(shop, "cart_abandoned")) == 1
    assert len(conversations(shop)) == 1

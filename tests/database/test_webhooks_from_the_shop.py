"""The shop, Parley and the CRM together: what a shop's webhooks change reaches the receivers of
Parley's outbound webhooks, signed, in order, as any other change does."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from bot.campaigns.send import send_campaign
from bot.services import build_webhook_sender
from tests.support.shopify import ShopifyApp, payload
from tests.support.sms import ALICE
from tests.support.webhook_receiver import WebhookReceiver, documented_verify

NOW = datetime(2026, 1, 5, 18, 0, tzinfo=UTC)  # 10:00 in San Francisco
PUBLIC_URL = "https://parley.test"
SHORT_LINK = re.compile(re.escape(PUBLIC_URL) + r"/l/([0-9A-Za-z]{7})")
BROWSER = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X)"
SECRET = "whsec_crm"
TOLD = ("subscriber.", "link.clicked", "order.attributed")  # what this test follows


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as running:
        yield running


def test_consent_an_order_and_an_erasure_at_the_shop_reach_the_crm(
    database_url: str, receiver: WebhookReceiver
) -> None:
    shop = ShopifyApp(
        database_url,
        now=NOW,
        PUBLIC_URL=PUBLIC_URL,
        WEBHOOK_URL=receiver.url,
        WEBHOOK_SECRET=SECRET,
    )
    sender = build_webhook_sender(shop.services.settings, db=shop.db, clock=shop.clock)
    try:
        assert shop.deliver("customers/create", payload("customer")).status_code == 200
        send_campaign(shop.services, "vip_preview")
        shop.let_time_pass(timedelta(0))
        texts = [text.body for text in shop.gateway.outbox if text.to == ALICE]
        [code] = {m.group(1) for body in texts if (m := SHORT_LINK.search(body))}
        shop.clock.advance(timedelta(minutes=5))
        assert shop.client.get(f"/l/{code}", headers={"User-Agent": BROWSER}).status_code == 302
        shop.clock.advance(timedelta(minutes=5))
        assert shop.deliver("orders/create", payload("order")).status_code == 200
        customer = payload("customer")
        customer["sms_marketing_consent"]["state"] = "unsubscribed"
        assert shop.deliver("customers/update", customer).status_code == 200
        while sender.run_round() == 0:  # the worker posts what happened so far
            pass
        assert shop.deliver("customers/redact", payload("customers_redact")).status_code == 200
        while sender.run_round() == 0:
            pass
    finally:
        shop.dispose()

    told = [event for event in receiver.events() if event["type"].startswith(TOLD)]
    assert [event["type"] for event in told] == [
        "subscriber.subscribed",
        "link.clicked",
        "order.attributed",
        "subscriber.opted_out",
        "subscriber.erased",
    ]
    subscribed, click, order, opted_out, erased = (event["data"] for event in told)
    assert (subscribed["source"], subscribed["first_name"]) == ("shopify", "Ann")
    assert click["campaign"] == "vip_preview"
    assert (order["campaign"], order["amount"], order["by"]) == ("vip_preview", "158.00", "click")
    assert (opted_out["source"], opted_out["status"]) == ("shopify", "unsubscribed")
    assert erased["phone"] == ALICE
    verify = documented_verify()
    assert all(
        verify(received.body, received.signature, SECRET, now=shop.clock().timestamp())
        for received in receiver.accepted
    )

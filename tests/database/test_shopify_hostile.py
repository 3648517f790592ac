"""Hypothesis against POST /shopify/webhooks: whatever a body without Shopify's signature holds,
a 401 that stores nothing; whatever a signed JSON body holds, no 5xx and no failed work."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from bot.domain.vocabulary import ShopifyWebhookStatus
from bot.shopify.topics import TOPICS
from bot.shopify.verify import signature_of
from bot.store.tables import SHOPIFY_WEBHOOKS
from tests.support.shopify import SECRET, ShopifyApp, headers, payload
from tests.support.sms import reply_to

NOW = datetime(2026, 1, 5, 18, 0, tzinfo=UTC)
EXAMPLES = settings(
    max_examples=60,
    derandomize=True,  # the same examples every run: CI is repeatable
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
PAYLOADS = ["checkout", "order", "customer", "customers_redact", "shop_redact", "data_request"]
FIELDS = ["token", "phone", "sms_marketing_phone", "customer", "shipping_address"]
FIELDS += ["billing_address", "default_address", "line_items", "total_price", "completed_at"]
FIELDS += ["id", "checkout_token", "sms_marketing_consent", "tags", "first_name"]
FIELDS += ["orders_to_redact", "data_request", "shop_domain"]

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats()
    | st.text(max_size=40)
    | st.sampled_from(["+14155550100", "(415) 555-0100", "555-555-SHIP", "US", "subscribed"]),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=10), children, max_size=5)
    ),
    max_leaves=25,
)
# What a header can carry (printable Latin-1), whatever it means.
header_text = st.text(
    st.characters(min_codepoint=32, max_codepoint=255, exclude_characters="\x7f"), max_size=60
)


@st.composite
def shopify_bodies(draw: st.DrawFn) -> dict[str, Any]:
    """A realistic payload with some fields replaced by anything JSON can hold."""
    body = payload(draw(st.sampled_from(PAYLOADS)))
    body.update(draw(st.dictionaries(st.sampled_from(FIELDS), json_values, max_size=4)))
    return body


@pytest.fixture
def shop(database_url: str) -> Iterator[ShopifyApp]:
    app = ShopifyApp(database_url, now=NOW)
    reply_to(app.client, "JOIN")  # someone the webhooks can concern
    reply_to(app.client, "Y")
    app.settle()  # the welcome's coupon step, after the answer: done before anything is counted
    yield app
    app.dispose()


def test_a_body_without_shopifys_signature_is_a_401_and_stores_nothing(shop: ShopifyApp) -> None:
    before = shop.counts()

    @EXAMPLES
    @given(
        body=st.binary(max_size=300) | shopify_bodies().map(lambda b: json.dumps(b).encode()),
        signature=st.none()
        | header_text
        | st.binary(max_size=32).map(lambda raw: signature_of("not-" + SECRET, raw)),
        topic=st.sampled_from(TOPICS) | header_text,
    )
    def post(body: bytes, signature: str | None, topic: str) -> None:
        sent = headers(topic, body)
        del sent["X-Shopify-Hmac-Sha256"]
        if signature is not None:
            sent["X-Shopify-Hmac-Sha256"] = signature
        response = shop.client.post("/shopify/webhooks", data=body, headers=sent)
        assert response.status_code == 401
        assert shop.counts() == before

    post()


def test_any_signed_json_body_is_answered_and_handled_without_failing(shop: ShopifyApp) -> None:
    @EXAMPLES
    @given(
        body=shopify_bodies() | st.dictionaries(st.text(max_size=10), json_values, max_size=6),
        topic=st.sampled_from(TOPICS) | st.sampled_from(["orders/updated", "app/uninstalled"]),
        again=st.booleans(),
    )
    def post(body: dict[str, Any], topic: str, again: bool) -> None:
        raw = json.dumps(body).encode()
        sent = headers(topic, raw)
        response = shop.client.post("/shopify/webhooks", data=raw, headers=sent)
        assert response.status_code == 200, response.get_data(as_text=True)
        if again:  # Shopify's retry of the same delivery
            response = shop.client.post("/shopify/webhooks", data=raw, headers=sent)
            assert response.status_code == 200 and response.json is not None
            assert response.json.get("duplicate", True)  # a sample is never stored, either time
        assert shop.services.action_pool.wait_idle(30.0)

    post()
    with shop.db.connect() as connection:
        rows = connection.execute(select(SHOPIFY_WEBHOOKS)).all()
    assert rows, "no example was stored"
    handled = {ShopifyWebhookStatus.DONE, ShopifyWebhookStatus.IGNORED}
    # Every stored one was handled, at its first try (or had nothing to do at all).
    failures = [(row.topic, row.outcome) for row in rows if row.status not in handled]
    assert failures == []
    assert max(row.attempts for row in rows) <= 1

"""Shopify's payloads as plain values, its signature, and what its consent means: values only."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.domain.effects import ChangeStatus, ChangeTags, FillFirstName, RecordConsent, SetAttributes
from bot.domain.vocabulary import ConsentKind, SubscriberStatus
from bot.shopify import topics
from bot.shopify.consent import customer_effects, described
from bot.shopify.topics import Checkout, Customer, Order, SmsConsent, Unusable
from bot.shopify.verify import signature_of, signed_by
from bot.store.subscribers import SubscriberRow
from tests.support.shopify import payload

ALICE = "+14155550100"


def read(topic: str, body: dict[str, Any]) -> Any:
    return topics.read(topic, body, default_country="US")


# --- the signature ----------------------------------------------------------------------------


def test_the_signature_is_the_base64_hmac_sha256_of_the_body() -> None:
    # openssl dgst -sha256 -hmac shpss_test -binary | base64
    assert signature_of("shpss_test", b'{"id":1}') == "1GxccvotnkOedTjSm8S0m/VA3yAUKshyqT52ccNYHj4="


@pytest.mark.parametrize(
    ("signature", "expected"),
    [
        ("1GxccvotnkOedTjSm8S0m/VA3yAUKshyqT52ccNYHj4=", True),
        (" 1GxccvotnkOedTjSm8S0m/VA3yAUKshyqT52ccNYHj4= ", True),  # a proxy's stray space
        ("1GxccvotnkOedTjSm8S0m/VA3yAUKshyqT52ccNYHj4", False),
        ("1gxccvotnkoedtjsm8s0m/va3yaukshyqt52ccnyhj4=", False),
        ("", False),
        (None, False),
        ("1GxccvotnkOedTjSm8S0m/VA3yAUKshyqT52ccNYHj4=\u00e9", False),
        ("\ud800", False),
    ],
)
def test_only_shopifys_signature_passes(signature: str | None, expected: bool) -> None:
    assert signed_by("shpss_test", b'{"id":1}', signature) is expected


# --- checkouts and orders ------------------------------------------------------------------


def test_a_checkout_as_plain_values() -> None:
    checkout = read("checkouts/create", payload("checkout"))
    assert isinstance(checkout, Checkout)
    assert checkout.token == "c1e2b8a0f3d94f6e8b7a6c5d4e3f2a10"
    assert checkout.phones == (ALICE,)  # shipping and billing: the same number once
    assert checkout.cart_url is not None and checkout.cart_url.endswith(
        "/recover?key=8d3f0e5b2a7c41e9"
    )
    assert (checkout.total, checkout.currency, checkout.completed) == ("158.00", "USD", False)
    assert checkout.line_items[0] == {
        "title": "Trail Runner Boot",
        "variant_title": "Black / 8",
        "quantity": 1,
        "price": "129.00",
        "sku": "TRB-BLK-8",
        "product_id": "8123456789021",
        "variant_id": "44563741376669",
    }
    assert checkout.event_data()["source"] == "shopify"


def test_a_checkouts_numbers_in_shopifys_order_each_read_in_its_country() -> None:
    body = payload("checkout")
    body["sms_marketing_phone"] = "+1 (212) 555-0102"
    body["phone"] = "07700 900123"  # no "+": read where the checkout ships, Britain
    body["shipping_address"].update(country_code="GB", phone="020 7946 0018")
    body["customer"]["phone"] = "(212) 555-0102"  # the same as the first, written otherwise
    body["billing_address"]["phone"] = "not a number"
    checkout = read("checkouts/update", body)
    assert isinstance(checkout, Checkout)
    assert checkout.phones == ("+12125550102", "+447700900123", "+442079460018")


def test_a_checkout_without_a_number_or_a_token_is_unusable() -> None:
    body = payload("checkout")
    for address in ("shipping_address", "billing_address"):
        body[address]["phone"] = None
    assert read("checkouts/create", body) == Unusable(
        "no phone number in sms_marketing_phone, phone, customer.phone, shipping_address.phone"
        " or billing_address.phone"
    )
    assert read("checkouts/create", {"phone": ALICE}) == Unusable("no checkout token")


def test_a_completed_checkout() -> None:
    body = payload("checkout")
    body["completed_at"] = "2026-01-05T10:20:00-08:00"
    checkout = read("checkouts/update", body)
    assert isinstance(checkout, Checkout) and checkout.completed


def test_an_order_as_plain_values() -> None:
    order = read("orders/create", payload("order"))
    assert isinstance(order, Order)
    assert order.event_data() == {
        "amount": "158.00",
        "currency": "USD",
        "order_id": "6012345678901",
        "order_name": "#1042",
        "checkout_token": "c1e2b8a0f3d94f6e8b7a6c5d4e3f2a10",
        "source": "shopify",
    }


@pytest.mark.parametrize(
    ("total_price", "amount"),
    [
        ("158.00", "158.00"),
        (12, "12"),
        (" 9.5 ", "9.5"),
        ("abc", None),
        ("-1", None),
        (True, None),
        ("NaN", None),
        ("Infinity", None),
        (None, None),
        ({"amount": 1}, None),
    ],
)
def test_an_orders_amount(total_price: Any, amount: str | None) -> None:
    order = read("orders/create", {**payload("order"), "total_price": total_price})
    assert isinstance(order, Order) and order.amount == amount


def test_a_large_cart_keeps_its_first_fifty_lines() -> None:
    body = payload("checkout")
    body["line_items"] = body["line_items"] * 40
    checkout = read("checkouts/create", body)
    assert isinstance(checkout, Checkout) and len(checkout.line_items) == topics.MAX_LINE_ITEMS


# --- customers -----------------------------------------------------------------------------


def test_a_customer_as_plain_values() -> None:
    body = payload("customer")
    body["tags"] = " vip, boots,vip, ,"
    customer = read("customers/update", body)
    assert customer == Customer(
        customer_id="7312345678901",
        phone=ALICE,
        consent=SmsConsent(
            "subscribed", "confirmed_opt_in", "2026-01-05T09:58:02-08:00", "SHOPIFY"
        ),
        first_name="Ann",
        tags=("vip", "boots"),
        state="CA",
    )


def consent(state: str, level: str | None = None) -> SmsConsent:
    return SmsConsent(state, level, "2026-01-05T09:58:02-08:00", "SHOPIFY")


def customer(given: SmsConsent | None, **profile: Any) -> Customer:
    values: dict[str, Any] = {"first_name": None, "tags": (), "state": None, **profile}
    return Customer("1", ALICE, given, **values)


SUBSCRIBE = [ChangeStatus(SubscriberStatus.SUBSCRIBED), RecordConsent(ConsentKind.OPT_IN)]
OPT_OUT = [ChangeStatus(SubscriberStatus.UNSUBSCRIBED), RecordConsent(ConsentKind.OPT_OUT)]
S = SubscriberStatus


@pytest.mark.parametrize(
    ("status", "given", "effects"),
    [
        (S.NEW, consent("subscribed", "confirmed_opt_in"), SUBSCRIBE),
        (S.PENDING, consent("subscribed", "confirmed_opt_in"), SUBSCRIBE),
        (S.SUBSCRIBED, consent("subscribed", "confirmed_opt_in"), []),
        (S.UNSUBSCRIBED, consent("subscribed", "confirmed_opt_in"), []),  # only START rejoins
        (S.NEW, consent("subscribed", "single_opt_in"), []),  # the double opt-in asks instead
        (S.NEW, consent("unsubscribed", "single_opt_in"), OPT_OUT),
        (S.SUBSCRIBED, consent("unsubscribed"), OPT_OUT),
        (S.UNSUBSCRIBED, consent("unsubscribed"), []),
        (S.SUBSCRIBED, consent("not_subscribed"), []),  # not a withdrawal
        (S.SUBSCRIBED, consent("pending", "confirmed_opt_in"), []),
        (S.SUBSCRIBED, None, []),
    ],
)
def test_what_the_shops_consent_does(
    status: S, given: SmsConsent | None, effects: list[Any]
) -> None:
    assert customer_effects(customer(given), SubscriberRow(1, ALICE, status)) == effects


def test_the_profile_changes_only_where_it_differs() -> None:
    shop_says = customer(None, first_name="Ann", tags=("vip", "boots"), state="CA")
    fresh = SubscriberRow(1, ALICE, S.SUBSCRIBED)
    assert customer_effects(shop_says, fresh) == [
        FillFirstName("Ann"),
        ChangeTags(add=("vip", "boots")),
        SetAttributes({"state": "CA"}),
    ]
    known = SubscriberRow(1, ALICE, S.SUBSCRIBED, "Annie", None, {"state": "CA"}, ["boots"])
    assert customer_effects(shop_says, known) == [ChangeTags(add=("vip",))]
    # An opted-out (perhaps erased) number's profile is left as it is.
    gone = SubscriberRow(1, ALICE, S.UNSUBSCRIBED)
    assert customer_effects(shop_says, gone) == []


def test_effects_in_words() -> None:
    words = described([*SUBSCRIBE, FillFirstName("Ann"), ChangeTags(add=("vip",))])
    assert words == ["subscribed", "first name Ann", "tags vip"]


# --- the privacy topics, the test notification, topics Parley does not use --------------------


def test_the_privacy_topics() -> None:
    assert read("customers/redact", payload("customers_redact")) == topics.CustomerRedaction(
        "7312345678901", ALICE, ("6012345678901",)
    )
    assert read("shop/redact", payload("shop_redact")) == topics.ShopRedaction(
        "acme-outdoor.myshopify.com"
    )
    assert read("customers/data_request", payload("data_request")) == topics.DataRequest(
        "9999", "7312345678901", ALICE
    )


def test_shopifys_sample_data_is_recognised() -> None:
    assert topics.sample_phone(payload("sample_order")) == "555-555-SHIP"
    checkout = payload("checkout")
    checkout["customer"]["default_address"]["phone"] = "555-555-BILL"
    assert topics.sample_phone(checkout) == "555-555-BILL"
    for name in ("checkout", "order", "customer", "customers_redact"):
        assert topics.sample_phone(payload(name)) is None


def test_a_topic_parley_does_not_use() -> None:
    assert read("products/update", {"id": 1}) == Unusable(
        "Parley does not use the topic 'products/update': leave it out of the shop's webhooks"
    )


# --- whatever a signed body holds, reading it never raises -----------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=30,
)
# The fields Parley reads, so that most examples reach the code that reads them.
FIELDS = ["token", "phone", "sms_marketing_phone", "customer", "shipping_address"]
FIELDS += ["billing_address", "default_address", "line_items", "total_price", "completed_at"]
FIELDS += ["id", "checkout_token", "sms_marketing_consent", "tags", "orders_to_redact"]
FIELDS += ["data_request", "shop_domain", "country_code", "title", "quantity", "state"]
bodies = st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=8), json_values, max_size=8)


@settings(
    max_examples=300, derandomize=True, deadline=None, suppress_health_check=list(HealthCheck)
)
@given(topic=st.sampled_from(topics.TOPICS), body=bodies)
def test_reading_any_json_object_never_raises(topic: str, body: dict[str, Any]) -> None:
    value = read(topic, body)
    topics.phone_of(value)
    topics.checkout_token(topic, body)
    topics.sample_phone(body)
    if isinstance(value, Checkout):
        value.event_data()

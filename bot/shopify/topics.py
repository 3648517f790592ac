"""Each Shopify topic's payload as plain values: whose numbers (E.164), what, how much.

Shopify's JSON is read defensively: a field of the wrong type counts as missing, text loses the
characters no database keeps (NUL, control characters, half a surrogate pair) and is cut to its
column, lists are bounded. So whatever a signed body holds, reading it never raises.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from bot.domain.phones import InvalidPhone, normalise_phone

CHECKOUT_TOPICS = ("checkouts/create", "checkouts/update")
ORDER_TOPIC = "orders/create"
CUSTOMER_TOPICS = ("customers/create", "customers/update")
CUSTOMER_REDACT_TOPIC = "customers/redact"
SHOP_REDACT_TOPIC = "shop/redact"
DATA_REQUEST_TOPIC = "customers/data_request"
TOPICS = (
    *CHECKOUT_TOPICS,
    ORDER_TOPIC,
    *CUSTOMER_TOPICS,
    CUSTOMER_REDACT_TOPIC,
    SHOP_REDACT_TOPIC,
    DATA_REQUEST_TOPIC,
)

MAX_LINE_ITEMS = 50  # event data stays small: a cart of more lines keeps its first 50
MAX_TAGS = 50
TAG_CHARS = 64
TOKEN_CHARS = 64  # Shopify's tokens are 32 hex digits; the event id built on one must fit 128
# Shopify's "Send test notification" fills addresses with these (555-555-SHIP, 555-555-BILL).
_SAMPLE_PHONE = re.compile(r"^\s*555-555-[A-Z]{4}\s*$")
_UNSTORABLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")


@dataclass(frozen=True)
class Checkout:
    """checkouts/create and checkouts/update: a cart on its way to (or past) the till."""

    token: str
    phones: tuple[str, ...]  # in Shopify's order of preference (sms_marketing_phone first)
    cart_url: str | None
    total: str | None
    currency: str | None
    line_items: tuple[dict[str, Any], ...]
    completed: bool  # completed_at is set: the checkout became an order

    def event_data(self) -> dict[str, Any]:
        """The data of the cart_abandoned event: what the reminders may quote."""
        return _present(
            cart_url=self.cart_url,
            total=self.total,
            currency=self.currency,
            line_items=list(self.line_items),
            checkout_token=self.token,
            source="shopify",
        )


@dataclass(frozen=True)
class Order:
    """orders/create: an order, perhaps of a checkout that has reminders running."""

    order_id: str
    name: str | None  # "#1001"
    checkout_token: str | None
    phones: tuple[str, ...]
    amount: str | None  # total_price, an exact decimal
    currency: str | None

    def event_data(self) -> dict[str, Any]:
        """The data of the order_placed event; `amount` is what campaign attribution credits."""
        return _present(
            amount=self.amount,
            currency=self.currency,
            order_id=self.order_id,
            order_name=self.name,
            checkout_token=self.checkout_token,
            source="shopify",
        )


@dataclass(frozen=True)
class SmsConsent:
    """A customer's sms_marketing_consent as Shopify keeps it."""

    state: str  # subscribed, unsubscribed, not_subscribed, pending, redacted …
    opt_in_level: str | None  # single_opt_in, confirmed_opt_in, unknown
    updated_at: str | None  # consent_updated_at, as Shopify wrote it
    collected_from: str | None  # consent_collected_from: SHOPIFY, OTHER

    def words(self) -> str:
        """For the consent ledger: what Shopify said, and when the customer said it."""
        level = f" ({self.opt_in_level})" if self.opt_in_level else ""
        when = f" at {self.updated_at}" if self.updated_at else ""
        where = f", collected from {self.collected_from}" if self.collected_from else ""
        return f"Shopify SMS marketing consent: {self.state}{level}{when}{where}"


@dataclass(frozen=True)
class Customer:
    """customers/create and customers/update: consent and profile."""

    customer_id: str | None
    phone: str
    consent: SmsConsent | None
    first_name: str | None
    tags: tuple[str, ...]
    state: str | None  # the default address's province (zone, state) code


@dataclass(frozen=True)
class CustomerRedaction:
    """customers/redact: erase what is stored about one customer."""

    customer_id: str | None
    phone: str | None
    order_ids: tuple[str, ...]  # orders_to_redact


@dataclass(frozen=True)
class ShopRedaction:
    """shop/redact: erase what the shop's webhooks brought."""

    shop_domain: str | None


@dataclass(frozen=True)
class DataRequest:
    """customers/data_request: the customer asked the shop for their data."""

    request_id: str | None
    customer_id: str | None
    phone: str | None


@dataclass(frozen=True)
class Unusable:
    """A payload Parley can do nothing with, and why."""

    reason: str


Topic = Checkout | Order | Customer | CustomerRedaction | ShopRedaction | DataRequest


def read(topic: str, payload: Mapping[str, Any], *, default_country: str) -> Topic | Unusable:
    """The topic's payload as a plain value, or why it cannot be used."""
    if topic in CHECKOUT_TOPICS:
        return _checkout(payload, default_country)
    if topic == ORDER_TOPIC:
        return _order(payload, default_country)
    if topic in CUSTOMER_TOPICS:
        return _customer(payload, default_country)
    if topic == CUSTOMER_REDACT_TOPIC:
        customer = _object(payload, "customer")
        return CustomerRedaction(
            _text(customer.get("id")),
            _number(customer.get("phone"), None, default_country),
            tuple(_texts(payload.get("orders_to_redact"))),
        )
    if topic == SHOP_REDACT_TOPIC:
        return ShopRedaction(_text(payload.get("shop_domain")))
    if topic == DATA_REQUEST_TOPIC:
        customer = _object(payload, "customer")
        return DataRequest(
            _text(_object(payload, "data_request").get("id")),
            _text(customer.get("id")),
            _number(customer.get("phone"), None, default_country),
        )
    return Unusable(f"Parley does not use the topic {topic!r}: leave it out of the shop's webhooks")


def checkout_token(topic: str, payload: Mapping[str, Any]) -> str | None:
    """The checkout a checkouts/* or orders/create payload is about, if it says."""
    if topic in CHECKOUT_TOPICS:
        return _token(payload.get("token"))
    if topic == ORDER_TOPIC:
        return _token(payload.get("checkout_token"))
    return None


def sample_phone(payload: Mapping[str, Any]) -> str | None:
    """A phone of Shopify's test notification (555-555-SHIP) anywhere a phone goes, if any."""
    owners = (payload, _object(payload, "customer"))  # a customer, or an order's customer
    raws = [raw for raw, _country in _phone_fields(payload)]
    raws += [_object(owner, "default_address").get("phone") for owner in owners]
    for raw in raws:
        if isinstance(raw, str) and _SAMPLE_PHONE.match(raw):
            return raw.strip()
    return None


def _checkout(payload: Mapping[str, Any], default_country: str) -> Checkout | Unusable:
    token = _token(payload.get("token"))
    if token is None:
        return Unusable("no checkout token")
    phones = _numbers(payload, default_country)
    if not phones:
        return Unusable(f"no phone number in {_WHERE_PHONES}")
    return Checkout(
        token=token,
        phones=phones,
        cart_url=_text(payload.get("abandoned_checkout_url"), 2000),
        total=_amount(payload.get("total_price")),
        currency=_text(payload.get("presentment_currency") or payload.get("currency"), 8),
        line_items=tuple(_line_items(payload.get("line_items"))),
        completed=payload.get("completed_at") not in (None, ""),
    )


def _order(payload: Mapping[str, Any], default_country: str) -> Order | Unusable:
    order_id = _text(payload.get("id"), 64)
    if order_id is None:
        return Unusable("no order id")
    token = _token(payload.get("checkout_token"))
    phones = _numbers(payload, default_country)
    if not phones and token is None:
        return Unusable(f"no checkout token, and no phone number in {_WHERE_PHONES}")
    return Order(
        order_id=order_id,
        name=_text(payload.get("name"), 64),
        checkout_token=token,
        phones=phones,
        amount=_amount(payload.get("total_price")),
        currency=_text(payload.get("presentment_currency") or payload.get("currency"), 8),
    )


def _customer(payload: Mapping[str, Any], default_country: str) -> Customer | Unusable:
    address = _object(payload, "default_address")
    phone = _number(payload.get("phone"), address.get("country_code"), default_country)
    if phone is None:
        return Unusable("no phone number in the customer's phone")
    return Customer(
        customer_id=_text(payload.get("id")),
        phone=phone,
        consent=_consent(_object(payload, "sms_marketing_consent")),
        first_name=_text(payload.get("first_name"), 100),
        tags=tuple(_tags(payload.get("tags"))),
        state=_text(address.get("province_code"), 64),
    )


def _consent(consent: Mapping[str, Any]) -> SmsConsent | None:
    state = _text(consent.get("state"), 32)
    if state is None:
        return None
    return SmsConsent(
        state=state.lower(),
        opt_in_level=_lower(_text(consent.get("opt_in_level"), 32)),
        updated_at=_text(consent.get("consent_updated_at"), 64),
        collected_from=_text(consent.get("consent_collected_from"), 32),
    )


_WHERE_PHONES = (
    "sms_marketing_phone, phone, customer.phone, shipping_address.phone or billing_address.phone"
)


def _phone_fields(payload: Mapping[str, Any]) -> Iterator[tuple[Any, Any]]:
    """The phones of a checkout or an order, in Shopify's order of preference, each with the
    country it is read in when written without "+"."""
    shipping = _object(payload, "shipping_address")
    billing = _object(payload, "billing_address")
    customer = _object(payload, "customer")
    customer_country = _object(customer, "default_address").get("country_code")
    # The checkout's own fields are read in the country it ships (or bills) to.
    country = shipping.get("country_code") or billing.get("country_code") or customer_country
    yield payload.get("sms_marketing_phone"), country
    yield payload.get("phone"), country
    yield customer.get("phone"), customer_country or country
    yield shipping.get("phone"), shipping.get("country_code")
    yield billing.get("phone"), billing.get("country_code")


def _numbers(payload: Mapping[str, Any], default_country: str) -> tuple[str, ...]:
    """The payload's phones as E.164, best first, each once; those that do not parse left out."""
    found: list[str] = []
    for raw, country in _phone_fields(payload):
        number = _number(raw, country, default_country)
        if number is not None and number not in found:
            found.append(number)
    return tuple(found)


def _number(raw: Any, country: Any, default_country: str) -> str | None:
    text = _text(raw, 40)
    if text is None:
        return None
    region = country.upper() if isinstance(country, str) and _is_country(country) else None
    try:
        return normalise_phone(text, region or default_country)
    except InvalidPhone:
        return None


def _is_country(code: str) -> bool:
    return len(code) == 2 and code.isascii() and code.isalpha()


def _line_items(raw: Any) -> Iterator[dict[str, Any]]:
    if not isinstance(raw, list):
        return
    for item in raw[:MAX_LINE_ITEMS]:
        if not isinstance(item, dict):
            continue
        quantity = item.get("quantity")
        yield _present(
            title=_text(item.get("title")),
            variant_title=_text(item.get("variant_title")),
            quantity=quantity
            if isinstance(quantity, int) and not isinstance(quantity, bool)
            else None,
            price=_amount(item.get("price")),
            sku=_text(item.get("sku"), 64),
            product_id=_text(item.get("product_id"), 64),
            variant_id=_text(item.get("variant_id"), 64),
        )


def _tags(raw: Any) -> Iterator[str]:
    """Shopify's tags, "vip, boots", one by one."""
    if not isinstance(raw, str):
        return
    seen: set[str] = set()
    for part in raw.split(","):
        tag = _text(part, TAG_CHARS)
        if tag and tag not in seen and len(seen) < MAX_TAGS:
            seen.add(tag)
            yield tag


def _texts(raw: Any) -> Iterator[str]:
    if isinstance(raw, list):
        for item in raw[:1000]:
            text = _text(item, 64)
            if text is not None:
                yield text


def _amount(raw: Any) -> str | None:
    """A price as exact decimal text ("398.00"); None for anything else."""
    if isinstance(raw, bool) or not isinstance(raw, str | int | float):
        return None
    try:
        amount = Decimal(str(raw).strip())
    except InvalidOperation:
        return None
    if not amount.is_finite() or amount < 0 or len(str(amount)) > 32:
        return None
    return str(amount)


def _token(raw: Any) -> str | None:
    return _text(raw, TOKEN_CHARS)


def _object(payload: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    value = payload.get(name)
    return value if isinstance(value, dict) else {}


def _text(value: Any, limit: int = 255) -> str | None:
    """Text a column keeps: what is unstorable removed, trimmed, cut to `limit`; else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        value = str(value)
    if not isinstance(value, str):
        return None
    cleaned = _UNSTORABLE.sub("", value).strip()[:limit]
    return cleaned or None


def _lower(value: str | None) -> str | None:
    return value.lower() if value is not None else None


def _present(**values: Any) -> dict[str, Any]:
    """The values that are there (None and empty lists left out)."""
    return {name: value for name, value in values.items() if value not in (None, [])}


def phone_of(value: Topic | Unusable) -> str | None:
    """The number a payload is first of all about, if it names one."""
    match value:
        case Checkout(phones=phones) | Order(phones=phones):
            return phones[0] if phones else None
        case Customer(phone=phone) | CustomerRedaction(phone=phone) | DataRequest(phone=phone):
            return phone
    return None

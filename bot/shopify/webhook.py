"""The Shopify edge: POST /shopify/webhooks, verified, stored once, answered at once.

The work a webhook asks for is done after the answer (`bot.shopify.processing`), so Shopify
hears within its few seconds whatever the work costs; the stored row makes it durable.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from flask import Blueprint, Response, jsonify, request

from bot.shopify import received, topics
from bot.shopify.processing import handle_now
from bot.shopify.verify import SIGNATURE_HEADER, signed_by
from bot.web import context
from bot.web.errors import problem

log = logging.getLogger(__name__)

bp = Blueprint("shopify", __name__, url_prefix="/shopify")

# An order of many lines runs to a few hundred KB: more than the app's limit for other routes.
MAX_BODY_BYTES = 2 * 1024 * 1024
WEBHOOK_ID_HEADER = "X-Shopify-Webhook-Id"
TOPIC_HEADER = "X-Shopify-Topic"
SHOP_HEADER = "X-Shopify-Shop-Domain"
TEST_HEADER = "X-Shopify-Test"  # "true" on what the admin's "Send test notification" sends
_HEADER_LIMITS = {WEBHOOK_ID_HEADER: 128, TOPIC_HEADER: 64, SHOP_HEADER: 255}


class BadDelivery(Exception):
    """A signed request that is not a Shopify webhook: answered 400, nothing stored."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass(frozen=True)
class Delivery:
    """One signed delivery: its headers and its JSON object."""

    webhook_id: str
    topic: str
    shop_domain: str | None
    body: str
    payload: Mapping[str, Any]


@bp.before_request
def _room_for_large_orders() -> None:
    request.max_content_length = MAX_BODY_BYTES


@bp.post("/webhooks")
def receive() -> tuple[Response, int]:
    """A webhook from the shop: stored once per X-Shopify-Webhook-Id, answered 200 at once."""
    parley = context.services()
    secret = parley.settings.SHOPIFY_WEBHOOK_SECRET
    if secret is None:
        # Unsigned data is never taken; Shopify retries, so nothing is lost once it is set.
        return problem(503, "Shopify webhooks are off: set SHOPIFY_WEBHOOK_SECRET")
    body = request.get_data()
    if not signed_by(secret, body, request.headers.get(SIGNATURE_HEADER)):
        return problem(
            401,
            f"{SIGNATURE_HEADER} is missing or is not the body's signature with"
            " SHOPIFY_WEBHOOK_SECRET",
            field=SIGNATURE_HEADER,
        )
    try:
        delivery = _delivery(body)
    except BadDelivery as error:
        return problem(400, error.message, field=error.field)
    sample = _test_notification(delivery)
    if sample is not None:
        log.info("Shopify %s %s: %s; nothing stored", delivery.topic, delivery.webhook_id, sample)
        return jsonify({"stored": False, "reason": sample}), 200
    return _store(delivery)


def _store(delivery: Delivery) -> tuple[Response, int]:
    parley = context.services()
    value = topics.read(
        delivery.topic, delivery.payload, default_country=parley.settings.DEFAULT_COUNTRY
    )
    ignored = value.reason if isinstance(value, topics.Unusable) else None
    receipt = received.record(
        parley.db,
        webhook_id=delivery.webhook_id,
        topic=delivery.topic,
        shop_domain=delivery.shop_domain,
        body=delivery.body,
        ignored=ignored,
        phone=topics.phone_of(value),
        checkout_token=topics.checkout_token(delivery.topic, delivery.payload),
        now=context.now(),
    )
    what = f"Shopify {delivery.topic} {delivery.webhook_id}"
    if receipt.duplicate:
        log.info("%s: delivered before (row %d); nothing changed", what, receipt.id)
    elif ignored is not None:
        log.info("%s: ignored: %s", what, ignored)
    else:
        # After the answer, off the request thread; the clock retries if this never happens.
        parley.action_pool.submit(lambda: handle_now(parley, receipt.id), what)
    return jsonify({"id": receipt.id, "duplicate": receipt.duplicate}), 200


def _delivery(body: bytes) -> Delivery:
    headers = {name: _header(name, limit) for name, limit in _HEADER_LIMITS.items()}
    webhook_id, topic = headers[WEBHOOK_ID_HEADER], headers[TOPIC_HEADER]
    if webhook_id is None or topic is None:
        missing = WEBHOOK_ID_HEADER if webhook_id is None else TOPIC_HEADER
        raise BadDelivery(missing, f"{missing} is missing: Shopify sends it with every webhook")
    try:
        text = body.decode("utf-8")
        payload = json.loads(text)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise BadDelivery("body", "the body is not JSON") from None
    if not isinstance(payload, dict):
        raise BadDelivery("body", "the body is not a JSON object")
    return Delivery(webhook_id, topic.lower(), headers[SHOP_HEADER], text, payload)


def _header(name: str, limit: int) -> str | None:
    """A header's value, trimmed; None when absent or empty; BadDelivery when it cannot be one."""
    value = (request.headers.get(name) or "").strip()
    if not value:
        return None
    if len(value) > limit or not value.isprintable():
        raise BadDelivery(name, f"{name} must be printable and at most {limit} characters")
    return value


def _test_notification(delivery: Delivery) -> str | None:
    """Why this is Shopify's test notification (sample data), or None."""
    if (request.headers.get(TEST_HEADER) or "").strip().lower() == "true":
        return f"{TEST_HEADER}: true (the admin's test notification)"
    phone = topics.sample_phone(delivery.payload)
    if phone is not None:
        return f"sample data ({phone}): Shopify's test notification"
    return None

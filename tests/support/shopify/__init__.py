"""Play Shopify: realistic webhook payloads (the JSON files here), signed and posted as it does."""

from __future__ import annotations

import copy
import json
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from werkzeug.test import TestResponse

from bot.shopify.verify import signature_of
from bot.store.tables import (
    CONSENT_EVENTS,
    CONVERSATIONS,
    EVENTS,
    MESSAGES,
    SHOPIFY_WEBHOOKS,
    SUBSCRIBERS,
    AnyRow,
)
from tests.support.harness import AppHarness

SECRET = "shpss_0123456789abcdef0123456789abcdef"
SHOP = "acme-outdoor.myshopify.com"
FOLDER = Path(__file__).resolve().parent
# What a delivery may leave behind; a refused or sample delivery leaves none of it.
STORED = (SHOPIFY_WEBHOOKS, SUBSCRIBERS, CONSENT_EVENTS, EVENTS, CONVERSATIONS, MESSAGES)


def payload(name: str) -> dict[str, Any]:
    """A fresh copy of the payload in `name`.json, to change as a test needs."""
    return copy.deepcopy(json.loads((FOLDER / f"{name}.json").read_text()))


def headers(topic: str, body: bytes, *, webhook_id: str | None = None) -> dict[str, str]:
    """The headers Shopify sends with `body`, signed with SECRET."""
    return {
        "Content-Type": "application/json",
        "X-Shopify-Topic": topic,
        "X-Shopify-Hmac-Sha256": signature_of(SECRET, body),
        "X-Shopify-Shop-Domain": SHOP,
        "X-Shopify-Webhook-Id": webhook_id or str(uuid.uuid4()),
        "X-Shopify-API-Version": "2025-10",
        "X-Shopify-Triggered-At": "2026-01-05T18:00:00.000000Z",
    }


class ShopifyApp(AppHarness):
    """The app with SHOPIFY_WEBHOOK_SECRET set, a fake clock, and Shopify's side of the wire."""

    def __init__(self, database_url: str, *, now: datetime, **settings: object) -> None:
        super().__init__(database_url, now=now, **{"SHOPIFY_WEBHOOK_SECRET": SECRET, **settings})

    def deliver(
        self,
        topic: str,
        body: dict[str, Any] | bytes,
        *,
        webhook_id: str | None = None,
        **extra: str,
    ) -> TestResponse:
        """Post a webhook as Shopify does, and wait until the work it started is done."""
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        sent = {**headers(topic, raw, webhook_id=webhook_id), **extra}
        response = self.client.post("/shopify/webhooks", data=raw, headers=sent)
        assert self.services.action_pool.wait_idle(30.0), "the webhook's work never finished"
        return response

    def webhooks(self) -> list[AnyRow]:
        """Every stored delivery, oldest first."""
        with self.db.connect() as connection:
            return list(
                connection.execute(select(SHOPIFY_WEBHOOKS).order_by(SHOPIFY_WEBHOOKS.c.id))
            )

    def counts(self) -> dict[str, int]:
        """How many rows each table a delivery can touch holds."""
        with self.db.connect() as connection:
            return {
                table.name: connection.execute(select(func.count()).select_from(table)).scalar_one()
                for table in STORED
            }

"""A webhook a web process stored but never handled (it died) is handled by `bot clock`."""

from __future__ import annotations

import json
import os
from datetime import timedelta
from pathlib import Path

from sqlalchemy import insert, select

from bot.domain.vocabulary import ShopifyWebhookStatus, SubscriberStatus
from bot.shopify import received
from bot.store.db import make_db
from bot.store.migrate import upgrade
from bot.store.models import utcnow
from bot.store.tables import EVENTS, SHOPIFY_WEBHOOKS, SUBSCRIBERS
from bot.testing.processes import BIN, started, wait_until
from tests.support.paths import SHIPPED_FLOWS
from tests.support.shopify import SHOP, payload
from tests.support.sms import ALICE
from tests.support.warm_start import warm_start


def test_the_clock_process_does_the_work_a_dead_web_process_left(
    database_url: str, tmp_path: Path
) -> None:
    upgrade(database_url)  # and the SECRET_KEY every process reads
    db = make_db(database_url)
    try:
        now = utcnow()
        with db.begin() as connection:
            connection.execute(
                insert(SUBSCRIBERS).values(
                    phone=ALICE,
                    status=SubscriberStatus.SUBSCRIBED,
                    attributes={},
                    tags=[],
                    created_at=now,
                    updated_at=now,
                )
            )
        checkout = payload("checkout")
        # Stored and answered two minutes ago by a web process that died before its work.
        received.record(
            db,
            webhook_id="0b2c9a4e-5a7f-4b8e-9d31-2f6f4c8e1a70",
            topic="checkouts/create",
            shop_domain=SHOP,
            body=json.dumps(checkout),
            ignored=None,
            phone=ALICE,
            checkout_token=checkout["token"],
            now=now - timedelta(minutes=2),
        )
        env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "FLOWS_DIR": str(SHIPPED_FLOWS),
            "SHOPIFY_WEBHOOK_SECRET": "shpss_test",
        }

        def handled() -> bool:
            with db.connect() as connection:
                status = connection.execute(select(SHOPIFY_WEBHOOKS.c.status)).scalar_one()
            return status == ShopifyWebhookStatus.DONE

        def logged() -> bool:
            # The outcome is logged just after it is committed: wait for both, or the clock may
            # be stopped between the two (CI saw exactly that).
            return "cart_abandoned posted" in log_path.read_text(errors="replace")

        log_path = tmp_path / "clock.log"
        with started([str(BIN / "bot"), "clock"], env, log_path, warm_start) as clock:
            wait_until(handled, [clock], what="the clock to handle the webhook")
            wait_until(logged, [clock], what="the clock to log what it did")
        with db.connect() as connection:
            [cart] = connection.execute(select(EVENTS)).all()
        assert (cart.type, cart.phone) == ("cart_abandoned", ALICE)
    finally:
        db.dispose()

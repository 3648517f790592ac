"""Two `bot worker` processes post webhook events to one receiver: each event once, and each
person's events in the order they happened."""

from __future__ import annotations

import os
import sys
from collections import Counter, defaultdict
from pathlib import Path

from sqlalchemy import Engine, func, select

from bot.domain.vocabulary import DeliveryStatus, WebhookEventType
from bot.store.db import transaction
from bot.store.models import utcnow
from bot.store.tables import WEBHOOK_DELIVERIES
from bot.store.webhook_events import record_webhook_event
from bot.testing.processes import started, wait_until
from tests.support.warm_start import warm_start
from tests.support.webhook_receiver import WebhookReceiver

WORKER = [sys.executable, "-m", "bot", "worker"]
PEOPLE = [f"+1415555{number:04d}" for number in range(6)]
EVENTS_EACH = 10
SECRET = "whsec_workers"


def test_two_workers_deliver_each_event_once_in_order_per_person(
    database_url: str, db: Engine, tmp_path: Path
) -> None:
    total = len(PEOPLE) * EVENTS_EACH
    flows = tmp_path / "flows"
    flows.mkdir()
    logs = [tmp_path / "first.log", tmp_path / "second.log"]
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "GATEWAY": "console",
        "FLOWS_DIR": str(flows),
    }
    with WebhookReceiver() as receiver:
        # Each post takes a while, so the whole lot takes both workers a few of their rounds.
        receiver.delay_seconds = 0.05
        env.update(WEBHOOK_URL=receiver.url, WEBHOOK_SECRET=SECRET)
        with (
            started(WORKER, env, logs[0], warm_start) as first,
            started(WORKER, env, logs[1], warm_start) as second,
        ):
            wait_until(
                lambda: all(b"webhook endpoints in force" in log.read_bytes() for log in logs),
                [first, second],
                what="both workers",
            )
            record_events(db)
            wait_until(
                lambda: sum(posted_by(logs)) == total,
                [first, second],
                what=f"{total} events delivered",
            )
        events = receiver.events()

    assert len(events) == total
    repeats = [
        event_id for event_id, times in Counter(e["id"] for e in events).items() if times > 1
    ]
    assert repeats == [], "an event was posted twice"
    arrived: dict[str, list[int]] = defaultdict(list)
    for event in events:
        arrived[event["data"]["phone"]].append(event["data"]["n"])
    assert arrived == {phone: list(range(EVENTS_EACH)) for phone in PEOPLE}
    assert delivered(db) == total
    print(f"\nposted by each worker: {posted_by(logs)}")


def record_events(db: Engine) -> None:
    """Each person's events, interleaved as they happen."""
    now = utcnow()  # the workers run on the wall clock
    with transaction(db) as connection:
        for sequence in range(EVENTS_EACH):
            for phone in PEOPLE:
                data = {"n": sequence}
                record_webhook_event(
                    connection, WebhookEventType.ANSWER_RECORDED, phone=phone, data=data, now=now
                )


def posted_by(logs: list[Path]) -> list[int]:
    """How many events each worker's log says it delivered."""
    return [log.read_text().count("answer.recorded) to default: delivered") for log in logs]


def delivered(db: Engine) -> int:
    with db.connect() as connection:
        return (
            connection.scalar(
                select(func.count()).where(WEBHOOK_DELIVERIES.c.status == DeliveryStatus.DELIVERED)
            )
            or 0
        )

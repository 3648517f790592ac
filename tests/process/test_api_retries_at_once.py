"""POST /api/messages retried at once: many requests with one id, on gunicorn with several
worker processes and threads, queue one text and send it once (the real twilio client, the
fake Twilio server)."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Engine

from bot.domain.vocabulary import SubscriberStatus
from bot.store.db import transaction
from bot.store.subscribers import change_status, claim_subscriber
from bot.store.tables import MESSAGES
from bot.testing.processes import BIN, free_port, running, twilio_environment
from bot.twilio.fake_server import FakeTwilioServer
from tests.support.sms import ALICE, BOB
from tests.support.warm_start import warm_start

API_KEY = "retry-test-key"
REQUESTS = 20
BODY = "Acme: your order #1001 has shipped."
JOINED = datetime(2026, 12, 1, 20, 0, tzinfo=UTC)


def test_twenty_requests_with_one_id_queue_one_text_and_send_it_once(
    database_url: str, db: Engine
) -> None:
    with transaction(db) as connection:
        for phone in (ALICE, BOB):
            person = claim_subscriber(connection, phone, JOINED)
            change_status(connection, person, SubscriberStatus.SUBSCRIBED, JOINED)
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    with FakeTwilioServer() as twilio:
        env = {
            **twilio_environment(
                database_url, twilio, brand="Acme", sender="+15550000000", send_rate=100
            ),
            "API_KEY": API_KEY,
        }
        web = [str(BIN / "gunicorn"), "webhook:app", "--bind", f"127.0.0.1:{port}"]
        with running([*web, "-w", "2", "--threads", "10"], env, base_url, warm_start):
            same = all_at_once(base_url, [ALICE] * REQUESTS, "order-1001")
            # One id for two numbers at once: whichever request commits first wins the id.
            phones = [(ALICE, BOB)[n % 2] for n in range(REQUESTS)]
            mixed = all_at_once(base_url, phones, "order-1002")

        arrivals = [(arrival.to, arrival.body) for arrival in twilio.arrivals]

    # Twenty answers, one text: the first answer twenty times, nineteen of them as duplicates.
    assert [status for status, _ in same] == [202] * REQUESTS
    assert len({answer["id"] for _, answer in same}) == 1
    assert sorted(answer["duplicate"] for _, answer in same) == [False] + [True] * 19
    assert {answer["status"] for _, answer in same} == {"queued"}

    won = next(answer for status, answer in mixed if status == 202 and not answer["duplicate"])
    for phone, (status, answer) in zip(phones, mixed, strict=True):
        if phone == won["phone"]:
            assert (status, answer["id"]) == (202, won["id"])
        else:
            assert status == 409 and answer["field"] == "id", answer

    with db.connect() as connection:
        stored = connection.execute(
            select(MESSAGES.c.external_id, MESSAGES.c.phone).where(
                MESSAGES.c.external_id.is_not(None)
            )
        ).all()
    assert sorted(stored) == [("order-1001", ALICE), ("order-1002", won["phone"])]
    assert sorted(arrivals) == sorted([(ALICE, BODY), (won["phone"], BODY)])


def all_at_once(base_url: str, phones: list[str], text_id: str) -> list[tuple[int, dict[str, Any]]]:
    """POST the text with this id to each phone from a thread of its own, all released
    together; the answers in the order of `phones`."""
    start = threading.Barrier(len(phones))

    def post(phone: str) -> tuple[int, dict[str, Any]]:
        payload = {"phone": phone, "id": text_id, "body": BODY, "purpose": "transactional"}
        request = urllib.request.Request(
            f"{base_url}/api/messages",
            data=json.dumps(payload).encode(),
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {API_KEY}"},
            method="POST",
        )
        start.wait()
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read())

    with ThreadPoolExecutor(max_workers=len(phones)) as pool:
        return list(pool.map(post, phones))

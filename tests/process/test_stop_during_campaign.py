"""STOP against a running campaign: real web and worker processes, the real twilio client.

Two `bot worker`s send a campaign through the fake Twilio server while recipients text STOP to
gunicorn, signed as Twilio signs. The STOPs aim at the texts the workers have just claimed and
not yet handed over: the moment the promise is easiest to break. The test records when each STOP
was answered and when each text reached the fake Twilio; no text may arrive after its STOP.
"""

from __future__ import annotations

import os
import random
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path
from time import monotonic

from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from twilio.request_validator import RequestValidator

from bot.domain.vocabulary import MessageStatus
from bot.store.tables import MESSAGES
from bot.testing.processes import (
    BIN,
    free_port,
    post_form,
    running,
    started,
    twilio_environment,
    wait_until,
)
from bot.twilio.fake_server import FakeTwilioServer
from tests.support.outbox_rows import queue_campaign
from tests.support.warm_start import warm_start

SENDER = "+15550000000"
BRAND = "Acme"
RECIPIENTS = 150
STOPPERS = 40
WORKERS = 2
RATE = 40  # segments a second, per worker: a claim holds 40 texts for about a second
SEED = 20261129
CAMPAIGN = "flash_sale"
# Noon in California: the texts are queued in sending hours, wherever and whenever CI runs.
QUEUED_AT = datetime(2026, 12, 1, 20, 0, tzinfo=UTC)
STOP_WORDS = ("STOP", "stop", "Stop please", "UNSUBSCRIBE", "please stop texting me", "cancel")


def test_no_text_reaches_a_number_after_its_stop_was_answered(
    database_url: str, db: Engine, tmp_path: Path
) -> None:
    phones = [f"+1415555{number:04d}" for number in range(RECIPIENTS)]
    queue_campaign(db, phones, name=CAMPAIGN, at=QUEUED_AT)
    rng = random.Random(SEED)
    answered: dict[str, float] = {}  # phone → when its STOP's answer came back

    with FakeTwilioServer() as twilio, ExitStack() as processes:
        # The network's delay: a text checked and handed over is a while on its way, and the
        # answer a while on its way back. A STOP may land in either window.
        twilio.latency_seconds = twilio.delay_seconds = 0.05
        env = twilio_environment(database_url, twilio, brand=BRAND, sender=SENDER, send_rate=RATE)
        port = free_port()
        base_url = f"http://127.0.0.1:{port}"
        web = [str(BIN / "gunicorn"), "webhook:app", "--bind", f"127.0.0.1:{port}", "-w", "2"]
        processes.enter_context(running(web, env, base_url, warm_start))
        workers = [
            processes.enter_context(
                started([str(BIN / "bot"), "worker"], env, tmp_path / f"worker-{n}.log", warm_start)
            )
            for n in range(WORKERS)
        ]
        wait_until(lambda: len(twilio.arrivals) > 0, workers, what="the first text")

        for stopper in range(STOPPERS):
            # Every other STOP is aimed at a text on its way to Twilio right now (checked and
            # stamped, its request not yet arrived), the others at one claimed in a batch and
            # still waiting for the sender's pace.
            on_its_way = stopper % 2 == 0
            targets: list[str] = []
            wait_until(
                lambda: (
                    bool(targets.extend(claimed(db, on_its_way) - set(answered)))  # noqa: B023
                    or bool(targets)  # noqa: B023
                    or outbox_empty(db)
                ),
                workers,
                what="a text to stop",
            )
            if not targets:
                break  # the campaign is over
            target = rng.choice(sorted(targets))
            status, twiml = post_signed(base_url, target, rng.choice(STOP_WORDS), env)
            answered[target] = monotonic()
            assert status == 200, twiml
            assert twiml.count("<Message") == 1 and "unsubscribed" in twiml, twiml

        wait_until(lambda: outbox_empty(db), workers, what="the outbox to empty")

    late = [
        f"{arrival.to}: {arrival.monotonic - answered[arrival.to]:.3f} s after its STOP"
        for arrival in twilio.arrivals
        if arrival.to in answered and arrival.monotonic > answered[arrival.to]
    ]
    assert late == [], "texts reached numbers after their STOP was answered"
    # Everyone who did not stop got the campaign exactly once; the race was really run: some
    # STOPs came for texts already claimed, which the last check at hand-over kept back.
    sent_to = sorted(arrival.to for arrival in twilio.arrivals)
    assert sorted(set(sent_to)) == sent_to
    assert set(phones) - set(answered) <= set(sent_to)
    withdrawn = count(db, MessageStatus.SUPPRESSED)
    assert withdrawn + len(sent_to) == RECIPIENTS
    assert withdrawn > 0, "no STOP met a claimed text: the test proved nothing"
    print(f"\n{len(answered)} STOPs, {withdrawn} texts kept back, 0 after a STOP")


def post_signed(base_url: str, phone: str, body: str, env: dict[str, str]) -> tuple[int, str]:
    """Text `body` from `phone`, signed with the auth token as Twilio signs its webhooks."""
    url = f"{base_url}/twilio/sms"
    form = {
        "MessageSid": "SM" + os.urandom(16).hex(),
        "From": phone,
        "To": SENDER,
        "Body": body,
    }
    signature = RequestValidator(env["TWILIO_AUTH_TOKEN"]).compute_signature(url, form)
    return post_form(url, form, {"X-Twilio-Signature": signature})


def claimed(db: Engine, on_its_way: bool) -> set[str]:
    """Numbers whose text a worker holds: handed over (on its way), or waiting its turn."""
    stamped = MESSAGES.c.handed_over_at.is_not(None)
    with db.connect() as connection:
        return set(
            connection.scalars(
                select(MESSAGES.c.phone).where(
                    MESSAGES.c.campaign == CAMPAIGN,
                    MESSAGES.c.status == MessageStatus.UNKNOWN,
                    stamped if on_its_way else ~stamped,
                )
            )
        )


def outbox_empty(db: Engine) -> bool:
    return count(db, MessageStatus.PENDING) + count(db, MessageStatus.UNKNOWN) == 0


def count(db: Engine, status: MessageStatus) -> int:
    with db.connect() as connection:
        return (
            connection.scalar(
                select(func.count()).where(
                    MESSAGES.c.campaign == CAMPAIGN, MESSAGES.c.status == status
                )
            )
            or 0
        )

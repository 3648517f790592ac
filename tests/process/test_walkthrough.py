"""The README's walkthrough on a laptop: `bot serve`, the fake Twilio server, and `bot text`.

A marketer without a Twilio account texts the service as a phone (`bot text`, signed as Twilio
signs), sees the TwiML answer, and sees texts marked delivered: the fake server posts signed
status callbacks for what the real twilio client sent it, and `bot text` reports the TwiML
replies delivered.
"""

from __future__ import annotations

import json
import subprocess
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest

from bot.testing.processes import (
    BIN,
    HUNG_AFTER,
    free_port,
    running,
    twilio_environment,
    wait_until,
)
from bot.twilio.fake_server import FakeTwilioServer
from tests.support.sms import ALICE
from tests.support.warm_start import warm_run, warm_start

API_KEY = "walkthrough-key"
SENDER = "+15550000000"


@dataclass(frozen=True)
class Service:
    """A running `bot serve` sending through a fake Twilio server."""

    base_url: str
    env: dict[str, str]
    twilio: FakeTwilioServer

    def api(self, path: str, body: dict[str, Any] | None = None) -> Any:
        request = urllib.request.Request(
            f"{self.base_url}{path}",
            data=None if body is None else json.dumps(body).encode(),
            headers={"Authorization": f"Bearer {API_KEY}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as answer:
            return json.loads(answer.read())

    def text(self, phone: str, body: str, **env: str) -> subprocess.CompletedProcess[str]:
        """`bot text PHONE BODY` as a marketer runs it, in the service's environment."""
        return warm_run([str(BIN / "bot"), "text", phone, body], {**self.env, **env}, HUNG_AFTER)

    def statuses(self, phone: str) -> dict[str, str]:
        """The outbound texts to a number, body -> status."""
        found = self.api(f"/api/messages?phone={urllib.parse.quote(phone)}")["messages"]
        return {m["body"]: m["status"] for m in found if m["direction"] == "outbound"}


@contextmanager
def walkthrough_env(database_url: str) -> Iterator[tuple[dict[str, str], FakeTwilioServer]]:
    """The environment of the README's walkthrough, with its fake Twilio server running."""
    port = free_port()
    with FakeTwilioServer() as twilio:
        env = {
            **twilio_environment(database_url, twilio, brand="Acme", sender=SENDER, send_rate=100),
            "PORT": str(port),
            "PUBLIC_URL": f"http://127.0.0.1:{port}",  # where the fake posts status callbacks
            "API_KEY": API_KEY,
        }
        yield env, twilio


@pytest.fixture
def service(database_url: str) -> Iterator[Service]:
    with walkthrough_env(database_url) as (env, twilio):
        base_url = env["PUBLIC_URL"]
        with running([str(BIN / "bot"), "serve"], env, base_url, warm_start):
            yield Service(base_url, env, twilio)


@pytest.fixture
def stopped_service(database_url: str) -> Iterator[Service]:
    """The walkthrough's environment with no `bot serve` started: nothing listens at its URL."""
    with walkthrough_env(database_url) as (env, twilio):
        yield Service(env["PUBLIC_URL"], env, twilio)


def test_bot_text_texts_the_service_signed_and_reports_its_replies_delivered(
    service: Service,
) -> None:
    # Signed with another token first: refused, and it stores nothing (one `bot serve` for both).
    refused = service.text(ALICE, "JOIN", TWILIO_AUTH_TOKEN="not-the-token")
    assert refused.returncode == 1
    assert "answered 403" in refused.stderr and "X-Twilio-Signature" in refused.stderr
    assert refused.stdout == ""
    assert service.statuses(ALICE) == {}

    joined = service.text(ALICE, "JOIN")
    assert joined.returncode == 0, joined.stderr
    assert joined.stdout.startswith('<?xml version="1.0" encoding="UTF-8"?><Response><Message')
    assert "Acme: Reply Y to confirm" in joined.stdout
    assert "reported delivered: " in joined.stderr

    confirmed = service.text(ALICE, "Y")
    assert confirmed.returncode == 0, confirmed.stderr
    # The welcome makes a coupon (an action) after the answer, so the confirmation goes
    # through the outbox before it, in order, not in the webhook's answer.
    assert "<Response />" in confirmed.stdout

    def all_delivered() -> bool:
        statuses = service.statuses(ALICE)
        # the opt-in question, its confirmation, the welcome with its coupon
        return len(statuses) == 3 and set(statuses.values()) == {"delivered"}

    wait_until(all_delivered, [], what="the confirmation and the welcome to be delivered")
    assert any(body.startswith("Acme: You are subscribed!") for body in service.statuses(ALICE))
    assert service.api(f"/api/subscribers/{ALICE}")["status"] == "subscribed"

    stopped = service.text(ALICE, "STOP")
    assert "Acme: You are unsubscribed" in stopped.stdout
    assert service.api(f"/api/subscribers/{ALICE}")["status"] == "unsubscribed"


def test_bot_text_says_when_nothing_listens(stopped_service: Service) -> None:
    nobody = stopped_service.text(ALICE, "JOIN")
    assert nobody.returncode == 1
    assert "is `bot serve` running there?" in nobody.stderr
    assert "Traceback" not in nobody.stderr


def test_the_fake_twilio_server_reports_delivery_to_the_app(service: Service) -> None:
    assert service.text(ALICE, "JOIN").returncode == 0
    shipped = service.api(
        "/api/messages",
        {"phone": ALICE, "body": "Acme: order #1001 has shipped.", "purpose": "transactional"},
    )
    assert shipped["status"] == "queued"

    # The dispatcher sends it through the real twilio client; the fake posts what a handset
    # reports, signed with the auth token the service checks.
    reports = service.twilio.wait_for_reports(2)
    assert [(report.status, report.answered) for report in reports] == [
        ("sent", 204),
        ("delivered", 204),
    ]
    assert reports[0].url == f"{service.base_url}/twilio/status?mid={shipped['id']}"
    assert service.statuses(ALICE)["Acme: order #1001 has shipped."] == "delivered"

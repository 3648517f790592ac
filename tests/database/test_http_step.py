"""The `http` step end to end: the app, a real database (both backends) and a local server on a
thread standing in for the shop.

The call is made after the turn is stored, with no transaction open (the server probes for one
from inside every call); its answer is applied in a transaction of its own, only if the
conversation still waits for it; a crash before the call is made good by the step's timer.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import exc, select
from sqlalchemy.engine import Engine

from bot.domain.inbound import InboundSms
from bot.engine.steps.calls import ACTION_PATIENCE
from bot.store.db import is_sqlite, sqlite_path
from bot.store.tables import ANSWERS, CONVERSATIONS, SUBSCRIBERS
from tests.support.harness import API_KEY, AppHarness
from tests.support.sms import ALICE, next_sid
from tests.support.web_server import Answer, Call, WebServer

NOON_IN_SF = datetime(2026, 3, 2, 20, 0, tzinfo=UTC)
TOKEN = "shop-token-123"
BEFORE = "One moment, looking it up."
SORRY = "Sorry, we cannot look that up now."
SHIPPED = "Your order is shipped."


def status_flows(port: int) -> dict[str, str]:
    lookup = f"""\
  - id: lookup
    http:
      method: POST
      url: "http://127.0.0.1:{port}/orders?phone={{phone}}"
      headers: {{Authorization: "Bearer ${{SHOP_TOKEN}}"}}
      body: {{phone: "{{phone}}", source: "{{event.source|sms}}"}}
      timeout: 1s
      save: {{status: order.status}}
      save_attributes: {{tier: customer.tier}}
    on_failure: sorry
  - end: "Your order is {{status}}."
  - id: sorry
    end: "{SORRY}"
"""
    return {
        "status.yaml": f"""\
flow: status
triggers:
  keywords: [STATUS]
  events: [order_question]
steps:
  - send: "{BEFORE}"
{lookup}""",
        "later.yaml": f"""\
flow: later
triggers:
  keywords: [LATER]
steps:
  - id: pause
    wait: 1h
  - send: "{BEFORE}"
{lookup}""",
    }


def shipped(_call: Call) -> Answer:
    return Answer(200, {"order": {"status": "shipped"}, "customer": {"tier": "gold"}})


class ShopApp(AppHarness):
    """The app with the status flows, calling the local shop."""

    def __init__(self, database_url: str, flows_dir: Path, shop: WebServer) -> None:
        for name, text in status_flows(shop.port).items():
            (flows_dir / name).write_text(text, encoding="utf-8")
        super().__init__(database_url, now=NOON_IN_SF, flows_dir=flows_dir, gateway_on_clock=True)

    def answers(self) -> dict[str, Any]:
        with self.db.connect() as connection:
            rows = connection.execute(select(ANSWERS.c.name, ANSWERS.c.value)).all()
        return {name: value for name, value in rows}

    def attributes(self, phone: str = ALICE) -> dict[str, Any]:
        with self.db.connect() as connection:
            return dict(
                connection.execute(
                    select(SUBSCRIBERS.c.attributes).where(SUBSCRIBERS.c.phone == phone)
                ).scalar_one()
            )

    def end_reason(self) -> str | None:
        with self.db.connect() as connection:
            return connection.execute(
                select(CONVERSATIONS.c.end_reason).order_by(CONVERSATIONS.c.id.desc()).limit(1)
            ).scalar_one()


def no_write_transaction_holds(db: Engine, phone: str) -> bool:
    """Whether a writer could take `phone`'s turn right now: no transaction holds SQLite's
    writer lock, or (PostgreSQL) the person's row, as a turn's transaction does."""
    if is_sqlite(db):
        path = sqlite_path(db.url.database, db.url.query)
        assert path is not None
        probe = sqlite3.connect(path, timeout=0, isolation_level=None)
        try:
            probe.execute("BEGIN IMMEDIATE")
            probe.execute("ROLLBACK")
            return True
        except sqlite3.OperationalError:  # "database is locked"
            return False
        finally:
            probe.close()
    with db.connect() as connection, connection.begin():
        try:
            connection.execute(
                select(SUBSCRIBERS.c.id)
                .where(SUBSCRIBERS.c.phone == phone)
                .with_for_update(nowait=True)
            )
            return True
        except exc.OperationalError:  # the row is locked: a turn is open around the call
            return False


@pytest.fixture
def shop() -> Iterator[WebServer]:
    with WebServer({"/orders": shipped}) as server:
        yield server


@pytest.fixture
def app(
    database_url: str, flows_dir: Path, shop: WebServer, monkeypatch: pytest.MonkeyPatch
) -> Iterator[ShopApp]:
    monkeypatch.setenv("SHOP_TOKEN", TOKEN)
    harness = ShopApp(database_url, flows_dir, shop)
    outside: list[bool] = []
    shop.during_call = lambda call: outside.append(no_write_transaction_holds(harness.db, ALICE))
    yield harness
    shop.release.set()
    harness.services.action_pool.shutdown()
    harness.dispose()
    assert all(outside), "an http step's call was made inside a write transaction"


def _by_text(app: ShopApp) -> None:
    assert app.text("STATUS") == []  # the answer is empty: every text goes by the outbox
    app.settle()


def _by_event(app: ShopApp) -> None:
    body = {"type": "order_question", "phone": ALICE, "data": {"source": "shop"}}
    auth = {"Authorization": f"Bearer {API_KEY}"}
    assert app.client.post("/api/events", json=body, headers=auth).status_code == 202
    app.settle()


def _by_timer(app: ShopApp) -> None:
    assert app.text("LATER") == []
    app.let_time_pass(timedelta(hours=1))


TRIGGERS: dict[str, Callable[[ShopApp], None]] = {
    "text": _by_text,
    "event": _by_event,
    "timer": _by_timer,
}


@pytest.mark.parametrize("trigger", sorted(TRIGGERS))
def test_a_call_that_answers_saves_its_fields_and_the_flow_goes_on(
    app: ShopApp, shop: WebServer, trigger: str
) -> None:
    TRIGGERS[trigger](app)
    assert app.sent_to(ALICE) == [BEFORE, SHIPPED]
    assert app.answers() == {"status": "shipped"}
    assert app.attributes()["tier"] == "gold"
    assert app.end_reason() == "completed"
    [call] = shop.calls
    assert call.method == "POST" and call.path == "/orders?phone=%2B14155550100"
    assert call.headers["Authorization"] == f"Bearer {TOKEN}"
    assert call.json() == {"phone": ALICE, "source": "shop" if trigger == "event" else "sms"}


def _timing_out(call: Call) -> Answer:
    return Answer(200, {"order": {"status": "shipped"}}, hold=True)  # beyond the step's 1 s


FAILURES: dict[str, tuple[Callable[[Call], Answer], str]] = {
    "not 2xx": (lambda _call: Answer(503, {"error": "maintenance"}), "the answer was HTTP 503"),
    "not JSON": (lambda _call: Answer(200, b"<html>"), "the answer (HTTP 200) is not JSON"),
    "a field missing": (
        lambda _call: Answer(200, {"order": {"status": "shipped"}}),
        "the answer has no customer.tier",
    ),
    "a timeout": (_timing_out, "no answer within 1 s"),
}


@pytest.mark.parametrize("failure", sorted(FAILURES))
def test_a_call_that_fails_goes_to_on_failure_saves_nothing_and_logs_why(
    app: ShopApp, shop: WebServer, failure: str, caplog: pytest.LogCaptureFixture
) -> None:
    route, reason = FAILURES[failure]
    shop.routes["/orders"] = route
    with caplog.at_level(logging.WARNING, logger="bot.conversations.flows"):
        _by_text(app)
    assert app.sent_to(ALICE) == [BEFORE, SORRY]
    assert app.answers() == {} and "tier" not in app.attributes()
    assert app.end_reason() == "completed"
    assert len(shop.calls) == 1
    assert f"http call POST http://127.0.0.1:{shop.port}/orders" in caplog.text
    assert reason in caplog.text


def test_a_secret_not_set_fails_the_call_without_making_it(
    app: ShopApp, shop: WebServer, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.delenv("SHOP_TOKEN")
    with caplog.at_level(logging.WARNING, logger="bot.conversations.flows"):
        _by_text(app)
    assert app.sent_to(ALICE) == [BEFORE, SORRY]
    assert shop.calls == []
    assert "environment variable SHOP_TOKEN is not set" in caplog.text


def test_a_stop_while_the_call_is_out_drops_its_result(app: ShopApp, shop: WebServer) -> None:
    stopped: list[list[str]] = []

    def stop_meanwhile(call: Call) -> Answer:
        stopped.append(app.text("STOP"))  # Alice texts STOP while the shop has her call
        return shipped(call)

    shop.routes["/orders"] = stop_meanwhile
    _by_text(app)
    [[confirmation]] = stopped
    assert "unsubscribed" in confirmation
    assert app.sent_to(ALICE) == [BEFORE]  # nothing after the STOP
    assert app.end_reason() == "opted out"
    assert app.answers() == {} and "tier" not in app.attributes()
    app.let_time_pass(ACTION_PATIENCE * 2)  # the guard timer ended with the flow
    assert len(shop.calls) == 1 and app.sent_to(ALICE) == [BEFORE]


def test_a_crash_before_the_call_is_made_good_by_the_clock(app: ShopApp, shop: WebServer) -> None:
    sms = InboundSms(message_sid=next_sid(), from_phone=ALICE, body="STATUS")
    # The turn is stored, then the process dies before it makes the call.
    result = app.services.conversations.handle_inbound(sms)
    assert result.action is not None and shop.calls == []
    app.let_time_pass(ACTION_PATIENCE - timedelta(seconds=1))
    assert app.sent_to(ALICE) == [BEFORE] and shop.calls == []
    app.let_time_pass(timedelta(seconds=1))
    assert app.sent_to(ALICE) == [BEFORE, SHIPPED]
    assert len(shop.calls) == 1

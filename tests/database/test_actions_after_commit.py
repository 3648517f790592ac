"""Custom actions are called outside any transaction: a slow action server stalls nobody else.

A turn that reaches an `action:` step is stored first; the action is called with no transaction
open, and its result applied in a transaction of its own, if the conversation still waits for it.
Web requests do not even wait for the call: the webhook (or POST /api/events) answers first, and
the action runs on the app's action pool, so a held action server ties up no request thread.
The action server here is a real HTTP server that holds each call until the test lets it answer.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from bot.accounts.agents import create_agent
from bot.actions.background import ACTION_THREADS
from bot.actions.remote import RemoteActionRunner
from bot.conversations.takeover import hand_back, take_over
from bot.domain.inbound import InboundSms
from bot.domain.vocabulary import Direction
from bot.engine.runtime import FLOW_CHANGED_TEXT
from bot.engine.steps.action import ACTION_PATIENCE
from bot.store.models import Conversation, Message, Subscriber
from tests.support.harness import API_KEY, GENEROUS, AppHarness
from tests.support.passwords import hash_once
from tests.support.sms import ALICE, BOB, next_sid, reply_to
from tests.support.web_server import HOLD_LIMIT, Answer, WebServer

NOON_IN_SF = datetime(2026, 3, 2, 20, 0, tzinfo=UTC)

ORDER_FLOW = """\
flow: order
triggers:
  keywords: [ORDER]
  events: [order_question]
steps:
  - send: "One moment, looking it up."
  - id: lookup
    action: action_order_status
    provides: [order_status]
  - end: "Status: {order_status}. Reply HELP for help."
"""
LATER_FLOW = """\
flow: later
triggers:
  keywords: [LATER]
steps:
  - id: pause
    wait: 1h
  - send: "One moment, looking it up."
  - id: lookup
    action: action_order_status
    provides: [order_status]
  - end: "Status: {order_status}. Reply HELP for help."
"""
BEFORE = "One moment, looking it up."
UTTERED = "Your order has shipped."
CLOSING = "Status: shipped. Reply HELP for help."


# What the action server answers to each call it is let to answer.
ACTION_ANSWER = {
    "events": [{"event": "slot", "name": "order_status", "value": "shipped"}],
    "responses": [{"text": UTTERED}],
}


class ActionApp(AppHarness):
    """The app with the order flows and the held action server."""

    def __init__(self, database_url: str, flows_dir: Path, server: WebServer) -> None:
        super().__init__(
            database_url,
            now=NOON_IN_SF,
            flows_dir=flows_dir,
            gateway_on_clock=True,
            ACTION_SERVER_URL=server.url("/webhook"),
        )
        # The real client, with room for however long a test holds the server (default 5 s).
        flows = self.services.conversations.flows
        assert flows is not None
        flows.actions = RemoteActionRunner(server.url("/webhook"), timeout=HOLD_LIMIT * 2)

    def text(self, body: str, phone: str = ALICE) -> list[str]:
        """The webhook's answer (a client per call: tests text from several threads)."""
        return reply_to(self.app.test_client(), body, phone=phone)

    def latest_conversation(self) -> Any:
        table = Conversation.__table__
        with self.services.db.connect() as connection:
            return connection.execute(select(table).order_by(table.c.id.desc())).first()

    def attributes(self, phone: str) -> dict[str, Any]:
        table = Subscriber.__table__
        with self.services.db.connect() as connection:
            return connection.execute(
                select(table.c.attributes).where(table.c.phone == phone)
            ).scalar_one()


@pytest.fixture
def held() -> Iterator[WebServer]:
    """A Rasa action server's webhook that holds every call until `release` is set."""
    with WebServer({"/webhook": lambda _call: Answer(200, ACTION_ANSWER, hold=True)}) as server:
        yield server


@pytest.fixture
def orders(database_url: str, tmp_path: Path, held: WebServer) -> Iterator[ActionApp]:
    folder = tmp_path / "flows"
    folder.mkdir()
    (folder / "order.yaml").write_text(ORDER_FLOW, encoding="utf-8")
    (folder / "later.yaml").write_text(LATER_FLOW, encoding="utf-8")
    app = ActionApp(database_url, folder, held)
    yield app
    held.release.set()
    app.services.action_pool.shutdown()
    app.services.close()


def _by_text(app: ActionApp) -> None:
    assert app.text("ORDER") == []  # the answer is empty: every text goes by the outbox


def _by_event(app: ActionApp) -> None:
    outcome = app.services.conversations.handle_event(ALICE, "order_question", {})
    app.services.dispatcher.send(outcome.message_ids)


def _by_timer(app: ActionApp) -> None:
    app.let_time_pass(timedelta(hours=1))


TRIGGERS: dict[str, Callable[[ActionApp], None]] = {
    "text": _by_text,
    "event": _by_event,
    "timer": _by_timer,
}


def _while_held(held: WebServer, work: Callable[[], Any]) -> Any:
    """Run `work` while the action server holds Alice's call; then let the server answer."""
    assert held.called.wait(GENEROUS), "the action was never called"
    with ThreadPoolExecutor(1) as pool:
        meanwhile = pool.submit(work)
        try:
            return meanwhile.result(timeout=GENEROUS)
        finally:
            held.release.set()


@pytest.mark.parametrize("trigger", sorted(TRIGGERS))
def test_other_people_are_answered_while_an_action_server_holds_a_call(
    orders: ActionApp, held: WebServer, trigger: str
) -> None:
    if trigger == "timer":
        assert orders.text("LATER") == []
    with ThreadPoolExecutor(1) as pool:
        alice: Future[None] = pool.submit(TRIGGERS[trigger], orders)
        [help_text] = _while_held(held, lambda: orders.text("HELP", phone=BOB))
        alice.result(timeout=GENEROUS)
    orders.settle()
    assert "help" in help_text.lower()
    # Then the action's texts and slots land, after the flow's own text and before its next.
    assert orders.sent_to(ALICE) == [BEFORE, UTTERED, CLOSING]
    assert orders.attributes(ALICE)["order_status"] == "shipped"
    assert orders.latest_conversation().end_reason == "completed"
    assert len(held.calls) == 1


def test_the_webhook_answers_before_the_action_and_everyone_else_is_answered_meanwhile(
    orders: ActionApp, held: WebServer
) -> None:
    with ThreadPoolExecutor(1) as pool:
        # Waiting for Alice's answer here, not for the action: it must come while the call is held.
        assert pool.submit(orders.text, "ORDER").result(timeout=GENEROUS) == []
    assert held.called.wait(GENEROUS), "the action was never called"
    assert not held.release.is_set() and orders.sent_to(ALICE) == [BEFORE]
    [help_text] = orders.text("HELP", phone=BOB)
    [confirmation] = orders.text("STOP", phone=BOB)
    assert "help" in help_text.lower() and "unsubscribed" in confirmation
    held.release.set()
    orders.settle()
    assert orders.sent_to(ALICE) == [BEFORE, UTTERED, CLOSING]
    assert orders.latest_conversation().end_reason == "completed"
    assert len(held.calls) == 1


def test_an_event_is_accepted_before_its_action_answers(orders: ActionApp, held: WebServer) -> None:
    body = {"type": "order_question", "phone": ALICE, "data": {}}
    post = orders.app.test_client().post
    auth = {"Authorization": f"Bearer {API_KEY}"}
    with ThreadPoolExecutor(1) as pool:
        response = pool.submit(post, "/api/events", json=body, headers=auth).result(GENEROUS)
    assert response.status_code == 202
    assert held.called.wait(GENEROUS), "the action was never called"
    [help_text] = orders.text("HELP", phone=BOB)
    assert "help" in help_text.lower()
    held.release.set()
    orders.settle()
    assert orders.sent_to(ALICE) == [BEFORE, UTTERED, CLOSING]
    assert orders.attributes(ALICE)["order_status"] == "shipped"


def test_an_action_that_finds_every_action_thread_busy_is_called_by_the_clock(
    orders: ActionApp, held: WebServer
) -> None:
    held.release.set()  # the server answers at once
    gate = threading.Event()
    busy = orders.services.action_pool
    assert all(busy.submit(lambda: gate.wait(GENEROUS), "busy") for _ in range(ACTION_THREADS * 2))
    try:
        assert orders.text("ORDER") == []  # answered; no room for the action
    finally:
        gate.set()
    orders.settle()
    assert held.calls == [] and orders.sent_to(ALICE) == []
    orders.let_time_pass(ACTION_PATIENCE)
    assert orders.sent_to(ALICE) == [BEFORE, UTTERED, CLOSING]
    assert len(held.calls) == 1


def test_a_stop_during_the_action_wins(orders: ActionApp, held: WebServer) -> None:
    with ThreadPoolExecutor(1) as pool:
        alice = pool.submit(orders.text, "ORDER")
        [confirmation] = _while_held(held, lambda: orders.text("STOP"))
        alice.result(timeout=GENEROUS)
    orders.settle()
    assert "unsubscribed" in confirmation
    assert orders.sent_to(ALICE) == [BEFORE]  # sent before the action was called
    table = Message.__table__
    with orders.services.db.connect() as connection:
        bodies = connection.execute(
            select(table.c.direction, table.c.body).where(table.c.phone == ALICE).order_by("id")
        ).all()
    assert [body for _, body in bodies][-2:] == ["STOP", confirmation]  # nothing after it
    assert (bodies[-1].direction, bodies[-2].direction) == (Direction.OUTBOUND, Direction.INBOUND)
    assert orders.latest_conversation().end_reason == "opted out"
    assert "order_status" not in orders.attributes(ALICE)
    orders.let_time_pass(ACTION_PATIENCE * 2)
    assert len(held.calls) == 1 and orders.sent_to(ALICE) == [BEFORE]


def test_an_agent_who_takes_the_chat_during_the_action_gets_it_quiet_and_the_flow_goes_on_after(
    orders: ActionApp, held: WebServer
) -> None:
    services = orders.services
    agent = create_agent(
        services.db,
        "ada@acme.test",
        "Ada",
        "a long password!",
        now=orders.clock(),
        hasher=hash_once,
    )
    with ThreadPoolExecutor(1) as pool:
        alice = pool.submit(orders.text, "ORDER")
        conversation_id = _while_held(held, lambda: _take_over(orders, agent.id))
        alice.result(timeout=GENEROUS)
    orders.settle()
    assert orders.sent_to(ALICE) == [BEFORE]  # the agent has the chat: the result is dropped
    assert "order_status" not in orders.attributes(ALICE)
    orders.let_time_pass(ACTION_PATIENCE * 2)
    assert orders.sent_to(ALICE) == [BEFORE]  # the flow's timers wait for the agent
    hand_back(services, conversation_id=conversation_id, agent_id=agent.id)
    orders.let_time_pass(timedelta(seconds=1))  # the clock's next tick: the step calls again
    assert orders.sent_to(ALICE) == [BEFORE, UTTERED, CLOSING]
    assert len(held.calls) == 2


def _take_over(orders: ActionApp, agent_id: int) -> int:
    conversation_id = int(orders.latest_conversation().id)
    take_over(orders.services, conversation_id=conversation_id, agent_id=agent_id)
    return conversation_id


def test_a_flow_edited_during_the_action_drops_the_result_and_says_goodbye(
    orders: ActionApp, held: WebServer, tmp_path: Path
) -> None:
    edited = ORDER_FLOW.split("  - id: lookup")[0] + '  - end: "Order status by phone only."\n'
    with ThreadPoolExecutor(1) as pool:
        alice = pool.submit(orders.text, "ORDER")
        _while_held(held, lambda: _edit(orders, tmp_path / "flows" / "order.yaml", edited))
        alice.result(timeout=GENEROUS)
    orders.settle()
    assert orders.sent_to(ALICE) == [BEFORE]
    orders.let_time_pass(ACTION_PATIENCE)
    assert orders.sent_to(ALICE) == [BEFORE, FLOW_CHANGED_TEXT]
    assert orders.latest_conversation().end_reason == "flow changed"


def _edit(orders: ActionApp, path: Path, text: str) -> None:
    path.write_text(text, encoding="utf-8")
    orders.services.flows.reload()


def test_a_crash_between_the_commit_and_the_result_is_made_good_by_the_clock(
    orders: ActionApp, held: WebServer
) -> None:
    held.release.set()  # the server answers at once
    sms = InboundSms(message_sid=next_sid(), from_phone=ALICE, body="ORDER")
    # The turn is stored, then the process dies before it calls the action.
    result = orders.services.conversations.handle_inbound(sms)
    assert result.replies == () and result.action is not None and held.calls == []
    assert (orders.latest_conversation().step, orders.latest_conversation().wake_kind) == (
        "lookup",
        "action",
    )
    orders.let_time_pass(ACTION_PATIENCE - timedelta(seconds=1))
    assert orders.sent_to(ALICE) == [BEFORE]  # a dispatcher sends what waits in the outbox
    orders.let_time_pass(timedelta(seconds=1))
    assert orders.sent_to(ALICE) == [BEFORE, UTTERED, CLOSING]
    assert len(held.calls) == 1

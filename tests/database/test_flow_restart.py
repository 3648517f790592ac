"""How often a trigger may start a flow for one person (`restart:`), through the real webhook."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from bot.store.models import Conversation
from tests.support.flow_app import ASK_FLOW, FlowApp, write
from tests.support.paths import SHIPPED_FLOWS
from tests.support.sms import ALICE

GREETING_FLOW = """\
flow: greeting
triggers:
  events: [subscribed]
  restart: 30d
steps:
  - end: "Hello again, welcome!"
"""


@pytest.fixture
def shipped(database_url: str) -> FlowApp:
    return FlowApp(database_url, SHIPPED_FLOWS)


def flows_of(app: FlowApp) -> list[str]:
    return [conversation.flow for conversation in app.rows(Conversation)]


def test_stop_start_stop_start_welcomes_once(shipped: FlowApp) -> None:
    shipped.text("JOIN")
    subscribed, welcome = shipped.text("Y")
    assert "You are subscribed" in subscribed and "Welcome to Acme" in welcome
    assert "Your code for your first order: SAVE-" in welcome  # the welcome's code, this once only
    for _ in range(2):
        assert "unsubscribed" in shipped.text("STOP")[0]
        [again] = shipped.text("START")  # subscribed again, and nothing else
        assert "Welcome" not in again
    assert flows_of(shipped) == ["welcome"]
    assert shipped.wait(timedelta(days=3)) == []  # STOP ended the series; nothing restarts it


def test_a_restart_period_that_has_passed_starts_the_flow_again(
    database_url: str, flows_dir: Path
) -> None:
    write(flows_dir, "greeting.yaml", GREETING_FLOW)
    app = FlowApp(database_url, flows_dir)
    app.text("JOIN")
    assert app.text("Y")[1:] == ["Hello again, welcome!"]
    app.clock.advance(timedelta(days=29))
    app.text("STOP")
    assert app.text("START")[1:] == []  # within 30 days of the last greeting
    app.clock.advance(timedelta(days=1))
    app.text("STOP")
    assert app.text("START")[1:] == ["Hello again, welcome!"]
    assert flows_of(app) == ["greeting", "greeting"]


def test_a_keyword_flow_may_be_taken_again_unless_it_says_never(
    database_url: str, flows_dir: Path
) -> None:
    write(flows_dir, "quiz.yaml", ASK_FLOW)
    write(
        flows_dir,
        "poll.yaml",
        ASK_FLOW.replace("flow: quiz", "flow: poll")
        .replace("[QUIZ]", "[POLL]\n  restart: never")
        .replace("Favourite colour?", "Poll: favourite colour?"),
    )
    app = FlowApp(database_url, flows_dir)
    for _ in range(2):  # by default a person may retake a keyword's flow on purpose
        assert app.text("QUIZ") == ["Favourite colour? Reply red or blue."]
        app.text("red")
        assert app.text("S") == ["Thanks!"]
    assert app.text("POLL") == ["Poll: favourite colour? Reply red or blue."]
    # Taken once: POLL is now an ordinary text, here an answer to the question in progress.
    assert app.text("POLL") == ["Sorry, I didn't get that. Please send one of: red, blue (or 1-2)."]
    assert flows_of(app) == ["quiz", "quiz", "poll"]


CART_FLOW = """\
flow: cart
triggers:
  events: [cart_abandoned]
  restart: 1d
steps:
  - id: an_hour
    wait: 1h
  - end: "Your cart: {event.cart_url}"
"""


def test_an_event_held_back_by_restart_leaves_the_flow_in_progress_alone(
    database_url: str, flows_dir: Path
) -> None:
    write(flows_dir, "cart.yaml", CART_FLOW)
    app = FlowApp(database_url, flows_dir)
    conversations = app.services.conversations
    conversations.handle_event(ALICE, "cart_abandoned", {"cart_url": "x/1"})
    app.clock.advance(timedelta(minutes=30))
    conversations.handle_event(ALICE, "cart_abandoned", {"cart_url": "x/2"})
    assert app.wait(timedelta(minutes=30)) == ["Your cart: x/1"]  # not interrupted, not restarted
    app.clock.advance(timedelta(days=1))
    conversations.handle_event(ALICE, "cart_abandoned", {"cart_url": "x/3"})
    assert app.wait(timedelta(hours=1)) == ["Your cart: x/3"]
    assert flows_of(app) == ["cart", "cart"]

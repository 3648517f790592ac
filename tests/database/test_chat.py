"""`bot chat` is a sandbox: its time and texts are its own, and it says what it held back."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.authoring.chat import ChatSession
from bot.settings import Settings
from bot.store.models import Conversation, Message, Subscriber
from bot.testing.clock import FakeClock
from bot.timers.scheduler import ClockLock
from tests.support.flow_app import START, FlowApp, write
from tests.support.harness import make_settings
from tests.support.paths import SHIPPED_FLOWS
from tests.support.sms import ALICE, BOB, reply_to

NIGHT = datetime(2026, 1, 6, 6, 0, tzinfo=UTC)  # 22:00 in San Francisco

DEALS_FLOW = """\
flow: deals
triggers:
  keywords: [DEALS]
settings:
  promotional: true
steps:
  - end: "This week: 20% off everything. Reply STOP to opt out."
"""
CART_FLOW = """\
flow: cart
triggers:
  events: [cart_abandoned]
settings:
  promotional: true
steps:
  - end: "Your cart misses you. Reply STOP to opt out."
"""


class Chat:
    """A chat session whose lines the test reads."""

    def __init__(self, settings: Settings, clock: FakeClock) -> None:
        self.lines: list[str] = []
        self.session = ChatSession(settings, ALICE, say=self.lines.append, clock=clock)

    def type(self, *typed: str) -> list[str]:
        """What the chat prints for these lines."""
        before = len(self.lines)
        for line in typed:
            self.session.handle(line)
        return self.lines[before:]


@pytest.fixture
def open_chat() -> Iterator[Callable[..., Chat]]:
    chats: list[Chat] = []

    def opened(settings: Settings, clock: FakeClock | None = None) -> Chat:
        chats.append(Chat(settings, clock or FakeClock(START)))
        return chats[-1]

    yield opened
    for chat in chats:
        chat.session.close()


def test_wait_leaves_everyone_else_alone(database_url: str, open_chat: Callable[..., Chat]) -> None:
    service = FlowApp(database_url, SHIPPED_FLOWS)
    assert "recommend us" in reply_to(service.client, "SURVEY", phone=BOB)[0]
    [bobs_survey] = service.rows(Conversation)
    chat = open_chat(make_settings(database_url, FLOWS_DIR=SHIPPED_FLOWS))
    assert "recommend us" in chat.type("SURVEY")[0]
    # Alice's nudge comes after a day; Bob's, due at the same time, is not the chat's to fire.
    assert chat.type("/wait 2d") == [
        "(2d later)",
        "bot> Acme: Got a second? Reply 0-10: how likely are you to recommend us?",
    ]
    [after] = service.rows(Conversation)
    assert (after.status, after.step, after.wake_kind, after.wakes_at) == (
        "active",
        bobs_survey.step,
        "timeout",
        START + timedelta(days=1),
    )
    assert [(row.phone, row.direction) for row in service.rows(Message)] == [
        (BOB, "inbound"),
        (BOB, "outbound"),
    ]
    assert service.rows(Subscriber)[0].phone == BOB and len(service.rows(Subscriber)) == 1
    assert service.wait(timedelta(days=1)) == [  # the service's own clock fires Bob's, once
        "Acme: Got a second? Reply 0-10: how likely are you to recommend us?"
    ]


def test_a_text_the_policy_refuses_is_explained(
    database_url: str, flows_dir: Path, open_chat: Callable[..., Chat]
) -> None:
    write(flows_dir, "deals.yaml", DEALS_FLOW)
    chat = open_chat(make_settings(database_url, FLOWS_DIR=flows_dir))
    assert chat.type("DEALS") == [  # Alice never joined: no marketing for her
        "(not sent, no marketing consent (status new): "
        "'This week: 20% off everything. Reply STOP to opt out.')"
    ]


def test_a_deferred_text_and_an_event_are_explained_with_the_profile_copied(
    database_url: str, flows_dir: Path, open_chat: Callable[..., Chat]
) -> None:
    write(flows_dir, "cart.yaml", CART_FLOW)
    service = FlowApp(database_url, flows_dir)
    service.text("JOIN")
    service.text("Y")
    chat = open_chat(make_settings(database_url, FLOWS_DIR=flows_dir), FakeClock(NIGHT))
    assert chat.lines[0].startswith(f"(on a scratch database, with {ALICE}'s profile from ")
    assert chat.lines[0].endswith("(subscribed); nothing you do here changes it)")
    assert chat.type("/event cart_abandoned", "/event order_placed") == [
        "(event cart_abandoned posted)",
        "(held until 2026-01-06 16:00 UTC, quiet hours in America/Los_Angeles until 08:00: "
        "'Your cart misses you. Reply STOP to opt out.')",
        "(event order_placed posted; no flow starts on it)",
    ]
    assert chat.type("/wait 12h") == [
        "(12h later)",
        "bot> Your cart misses you. Reply STOP to opt out.",
    ]


def test_a_database_a_running_service_uses_is_warned_of(
    database_url: str, open_chat: Callable[..., Chat]
) -> None:
    settings = make_settings(database_url)
    assert open_chat(settings).lines == [
        f"(on a scratch database: {ALICE} is new to {_shown(database_url)}; nothing you do "
        "here changes it)"
    ]
    service = FlowApp(database_url, SHIPPED_FLOWS)
    clock_lock = ClockLock(service.services.db)
    clock_lock.acquire(wait=False)  # as `bot serve` or `bot clock` does
    try:
        lines = open_chat(settings).lines
    finally:
        clock_lock.release()
    assert lines[1] == (
        f"warning: a running Parley service uses {_shown(database_url)} (its clock holds the "
        f"lock). This chat leaves it alone, and texts it sends {ALICE} do not show here."
    )
    assert len(open_chat(settings).lines) == 1  # the clock stopped: no warning


def _shown(database_url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(database_url).render_as_string(hide_password=True)

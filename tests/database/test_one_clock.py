"""One clock: every time Parley stores comes from the injected clock, never the wall's directly."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlmodel import SQLModel

from bot.accounts.agents import create_agent
from bot.app import create_app, services_of
from bot.campaigns.send import send_campaign
from bot.conversations.takeover import agent_reply, hand_back, take_over
from bot.domain.vocabulary import HandledBy
from bot.sending.gateways.fake import FakeGateway
from bot.store.models import Conversation, Message, UtcDateTime
from bot.testing.clock import FakeClock
from tests.support.harness import API_KEY, make_settings
from tests.support.passwords import hash_once
from tests.support.paths import ROOT
from tests.support.sms import ALICE, BOB, reply_to

BOT = ROOT / "bot"

# --- the guard: no module reads the wall clock but the clock's own home -------------------------

WALL_CLOCK_CALLS = {"datetime.now", "datetime.utcnow", "datetime.today", "date.today", "time.time"}
DATABASE_CLOCK_CALLS = {"func.now", "func.current_timestamp", "func.localtimestamp"}
COLUMN_DEFAULT_KEYWORDS = {"default", "onupdate", "server_default", "server_onupdate"}
# Where reading the wall clock is the point, by file and the function or class doing it.
ALLOWED = {
    ("bot/store/models.py", "utcnow"): "the default clock itself",
    ("bot/timers/scheduler.py", "_wall_now"): "APScheduler's run times: moments to run, not stored",
    ("bot/authoring/chat.py", "ShiftedClock"): "a clock: real time plus what /wait skipped",
    ("bot/twilio/fake_server.py", "FakeTwilioServer"): "the fake provider's own default clock",
}


def _dotted(node: ast.expr) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    return ""


class _WallClockReads(ast.NodeVisitor):
    """Finds calls of the wall (or database) clock and columns stamped by it."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.scopes: list[str] = []
        self.found: list[str] = []

    def _scoped(self, node: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) -> None:
        self.scopes.append(node.name)
        self.generic_visit(node)
        self.scopes.pop()

    visit_FunctionDef = visit_AsyncFunctionDef = visit_ClassDef = _scoped

    def visit_Call(self, node: ast.Call) -> None:
        name = _dotted(node.func)
        suffix = ".".join(name.split(".")[-2:])
        if name == "utcnow" or name.endswith(".utcnow") or suffix in WALL_CLOCK_CALLS:
            self._report(node, f"{name}()")
        if suffix in DATABASE_CLOCK_CALLS:
            self._report(node, f"{name}() (the database's clock)")
        for keyword in node.keywords:
            if keyword.arg in COLUMN_DEFAULT_KEYWORDS and _dotted(keyword.value) == "utcnow":
                self._report(node, f"{keyword.arg}=utcnow (stamps rows with the wall clock)")
        self.generic_visit(node)

    def _report(self, node: ast.AST, what: str) -> None:
        if any((self.path, scope) in ALLOWED for scope in self.scopes):
            return
        line = getattr(node, "lineno", 0)
        self.found.append(f"{self.path}:{line}: {what} in {'.'.join(self.scopes) or 'module'}")


def _wall_clock_reads() -> Iterator[str]:
    for source in sorted(BOT.rglob("*.py")):
        path = source.relative_to(ROOT).as_posix()
        visitor = _WallClockReads(path)
        visitor.visit(ast.parse(source.read_text(encoding="utf-8"), path))
        yield from visitor.found


def test_no_module_reads_the_wall_clock_but_the_clock() -> None:
    """Take `now` from the caller (the service's clock), or a `clock` you were given."""
    assert list(_wall_clock_reads()) == []


def test_the_guard_sees_each_way_of_reading_the_wall_clock() -> None:
    sample = """
from datetime import datetime, date
import time
class Thing:
    stamped = Field(default=utcnow)
def work():
    a = utcnow()
    b = datetime.now(UTC)
    c = models.utcnow()
    d = time.time()
    e = date.today()
    f = func.now()
"""
    visitor = _WallClockReads("bot/sample.py")
    visitor.visit(ast.parse(sample))
    lines = [int(re.split(":", found)[1]) for found in visitor.found]
    assert lines == [5, 7, 8, 9, 10, 11, 12]


# --- a whole journey on a clock far from the wall's ---------------------------------------------

# Years from the wall clock, at noon in San Francisco (no quiet hours), and frozen: every time
# stored during the journey must be exactly this, or a moment computed from it.
FAR = datetime(2041, 3, 5, 20, 0, 0, 250_000, tzinfo=UTC)
PUBLIC_URL = "https://sms.acme.example"
# Due times (timers, expiries, deferred sends) lie ahead of the moment that set them.
DUE_COLUMNS = {"wakes_at", "expires_at", "send_after"}

FLOWS = {
    "quiz.yaml": """\
flow: quiz
triggers:
  keywords: [QUIZ]
steps:
  - id: color
    ask: "Favourite colour? Reply red or blue."
    expect: choice
    options: [red, blue]
  - id: human
    handoff: "A teammate will text you."
    reason: wants a person
  - end: "Thanks! Our picks: https://shop.example/picks"
""",
    "shipped.yaml": """\
flow: shipped
triggers:
  events: [order_shipped]
steps:
  - end: "Order {event.order} is on its way: https://shop.example/track"
""",
    "campaigns/spring.yaml": """\
campaign: spring
segment: {}
send_at: now
variants:
  - name: a
    text: "Spring sale today! Reply STOP to opt out."
""",
}


@pytest.fixture
def journey_app(database_url: str, tmp_path: Path) -> Iterator[Flask]:
    folder = tmp_path / "flows"
    (folder / "campaigns").mkdir(parents=True)
    for name, text in FLOWS.items():
        (folder / name).write_text(text, encoding="utf-8")
    clock = FakeClock(FAR)
    app = create_app(
        make_settings(database_url, FLOWS_DIR=folder, PUBLIC_URL=PUBLIC_URL),
        gateway=FakeGateway(clock=clock),
        clock=clock,
    )
    yield app
    services_of(app).close()


def _every_stored_time(app: Flask) -> list[tuple[str, str, datetime]]:
    found = []
    with services_of(app).db.connect() as connection:
        for table in SQLModel.metadata.sorted_tables:
            for column in [c for c in table.columns if isinstance(c.type, UtcDateTime)]:
                for value in connection.execute(select(column)).scalars():
                    if value is not None:
                        found.append((table.name, column.name, value))
    return found


def _journey(app: Flask, client: FlaskClient) -> None:
    services = services_of(app)
    now = services.conversations.clock
    auth = {"Authorization": f"Bearer {API_KEY}"}
    # Join with the double opt-in, then a flow with an answer and a hand-off.
    assert reply_to(client, "JOIN")
    assert reply_to(client, "Y")
    assert reply_to(client, "QUIZ") == ["Favourite colour? Reply red or blue."]
    assert reply_to(client, "red") == ["A teammate will text you."]
    agent = create_agent(
        services.db, "ada@acme.test", "Ada", "a long password!", now=now(), hasher=hash_once
    )
    conversation_id = _active_conversation(app, ALICE)
    take_over(services, conversation_id=conversation_id, agent_id=agent.id)
    agent_reply(services, conversation_id=conversation_id, agent_id=agent.id, body="Hi, Ada here")
    hand_back(services, conversation_id=conversation_id, agent_id=agent.id)
    # The shop's event, a web-form signup, a campaign; the dispatcher sends what waits.
    event = {"type": "order_shipped", "phone": ALICE, "data": {"order": "A1"}}
    assert client.post("/api/events", json=event, headers=auth).status_code == 202
    signup = {"phone": BOB, "source": "web form", "consent_text": "Yes, text me"}
    assert client.post("/api/subscribers", json=signup, headers=auth).status_code == 201
    send_campaign(services, "spring")
    while services.dispatcher.run_once():
        pass
    # Twilio reports on a text, Alice follows a link, then says STOP.
    with services.db.connect() as connection:
        reported = connection.execute(
            select(Message.__table__.c.id, Message.__table__.c.provider_sid).where(
                Message.__table__.c.provider_sid.is_not(None)
            )
        ).first()
    assert reported is not None
    status = {"MessageSid": reported.provider_sid, "MessageStatus": "delivered"}
    assert client.post("/twilio/status", data=status).status_code == 204
    [link] = re.findall(rf"{re.escape(PUBLIC_URL)}(/l/\w+)", _bodies(app))[:1]
    assert client.get(link).status_code == 302
    assert "unsubscribed" in reply_to(client, "STOP")[0]


def _active_conversation(app: Flask, phone: str) -> int:
    table = Conversation.__table__
    with services_of(app).db.connect() as connection:
        return connection.execute(
            select(table.c.id).where(
                table.c.phone == phone,
                table.c.status == "active",
                table.c.handled_by == HandledBy.WAITING_FOR_AGENT,
            )
        ).scalar_one()


def _bodies(app: Flask) -> str:
    with services_of(app).db.connect() as connection:
        return "\n".join(connection.execute(select(Message.__table__.c.body)).scalars())


def test_a_whole_journey_is_stamped_with_the_injected_clock(journey_app: Flask) -> None:
    _journey(journey_app, journey_app.test_client())
    stored = _every_stored_time(journey_app)
    tables = {table for table, _, _ in stored}
    assert {"subscriber", "consent_event", "message", "conversation", "answer"} <= tables
    assert {"step_visit", "event", "agent", "link", "click", "campaign_send"} <= tables
    off_the_clock = [
        (table, column, moment)
        for table, column, moment in stored
        if not (
            FAR < moment <= FAR + timedelta(days=30) if column in DUE_COLUMNS else moment == FAR
        )
    ]
    assert off_the_clock == []

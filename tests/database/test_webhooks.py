"""Outbound webhooks on both databases: events written with their change, posted signed to a
local receiver, in order per person, retried on a fake clock until the receiver is back."""

from __future__ import annotations

import itertools
import re
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine, func, select

from bot.cli import main
from bot.domain.vocabulary import DeliveryStatus, Direction, WebhookEventType
from bot.privacy.bulk import erase_subscriber
from bot.sending.links import shorten_links
from bot.services import build_webhook_sender
from bot.store.db import make_db, transaction
from bot.store.driver_sql import DriverStatement
from bot.store.tables import MESSAGES, WEBHOOK_DELIVERIES, WEBHOOK_EVENTS
from bot.store.webhook_events import record_webhook_event
from bot.testing.clock import FakeClock
from bot.webhooks.delivery import _DUE, _UNROUTED_EVENTS, BACKOFF_CAP, CLAIM_LEASE, WebhookSender
from bot.webhooks.endpoints import ALL_EVENTS, Endpoint, Endpoints
from bot.webhooks.queue import Filters, requeue_given_up
from tests.support.databases import SqliteTemplate
from tests.support.harness import API_KEY, AppHarness
from tests.support.sms import ALICE, BOB
from tests.support.webhook_receiver import WebhookReceiver, documented_verify

NOW = datetime(2026, 12, 4, 18, 0, tzinfo=UTC)  # 10:00 in San Francisco
SECRET = "whsec_test_4b1d"
PUBLIC_URL = "https://sms.acme.example"
SHORT_LINK = re.compile(re.escape(PUBLIC_URL) + r"/l/([0-9A-Za-z]{7})")
SURVEY_FLOW = """\
flow: survey
triggers:
  keywords: [SURVEY]
steps:
  - id: email
    ask: "What's your email? Our lookbook: https://shop.example/lookbook"
    expect: email
  - end: "Thanks, we'll write to {email}."
"""
FIT_FLOW = """\
flow: fit
triggers:
  keywords: [FIT]
steps:
  - id: size
    ask: "Your size, 1 to 5?"
    expect: number
  - id: shoe
    ask: "And your shoe size?"
    expect: number
  - end: "Thanks!"
"""
HANDOFF_FLOW = """\
flow: concierge
triggers:
  keywords: [HUMAN]
steps:
  - id: person
    handoff: "A teammate will text you shortly."
    reason: asked for a person
"""


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as running:
        yield running


class WebhookApp(AppHarness):
    """The app with a survey and a concierge flow, tracked links, and WEBHOOK_URL set."""

    def __init__(self, database_url: str, flows_dir: Path, receiver: WebhookReceiver) -> None:
        (flows_dir / "survey.yaml").write_text(SURVEY_FLOW)
        (flows_dir / "concierge.yaml").write_text(HANDOFF_FLOW)
        (flows_dir / "fit.yaml").write_text(FIT_FLOW)
        super().__init__(
            database_url,
            now=NOW,
            flows_dir=flows_dir,
            PUBLIC_URL=PUBLIC_URL,
            WEBHOOK_URL=receiver.url,
            WEBHOOK_SECRET=SECRET,
        )
        self.sender = build_webhook_sender(self.services.settings, db=self.db, clock=self.clock)

    def deliver(self) -> None:
        """Rounds of the worker until nothing more is due now."""
        deliver(self.sender)

    def outbound_ids(self) -> list[int]:
        with self.db.connect() as connection:
            return list(
                connection.scalars(
                    select(MESSAGES.c.id)
                    .where(MESSAGES.c.direction == Direction.OUTBOUND)
                    .order_by(MESSAGES.c.id)
                )
            )

    def campaign_link(self, campaign: str, url: str) -> str:
        """The code of a tracked link a campaign sent to Alice."""
        with transaction(self.db) as connection:
            text, _ids = shorten_links(
                connection,
                url,
                brand_spans=[(0, len(url))],
                phone=ALICE,
                public_url=PUBLIC_URL,
                campaign=campaign,
                now=self.clock(),
            )
        found = SHORT_LINK.search(text)
        assert found is not None, text
        return found.group(1)


@pytest.fixture
def parley(database_url: str, flows_dir: Path, receiver: WebhookReceiver) -> Iterator[WebhookApp]:
    app = WebhookApp(database_url, flows_dir, receiver)
    yield app
    app.dispose()


def test_join_y_an_answer_a_click_and_stop_arrive_signed_and_in_order(
    parley: WebhookApp, receiver: WebhookReceiver
) -> None:
    parley.text("JOIN")
    parley.text("Y")
    question = parley.text("SURVEY")[0]
    parley.clock.advance(timedelta(minutes=1))
    parley.text("sure, it's Ann.Lee@Example.COM")
    code = SHORT_LINK.search(question)
    assert code is not None, question
    assert parley.client.get(f"/l/{code.group(1)}").status_code == 302
    parley.text("STOP")
    assert receiver.accepted == []  # nothing is posted on a request's path
    parley.deliver()

    events = receiver.events()
    assert [event["type"] for event in events] == [
        "subscriber.subscribed",
        "answer.recorded",
        "subscriber.updated",
        "flow.completed",
        "link.clicked",
        "subscriber.opted_out",
    ]
    subscribed, answer, updated, completed, click, opted_out = (event["data"] for event in events)
    assert subscribed == {
        "phone": ALICE,
        "status": "subscribed",
        "first_name": None,
        "email": None,
        "tags": [],
        "source": "sms",
        "keyword": "Y",
    }
    assert answer == {
        "phone": ALICE,
        "flow": "survey",
        "step": "email",
        "name": "email",
        "value": "Ann.Lee@example.com",
    }
    # The e-mail tool hears of the address when it is given.
    assert (updated["email"], updated["changed"]) == ("Ann.Lee@example.com", ["email"])
    assert completed == {
        "phone": ALICE,
        "flow": "survey",
        "answers": {"email": "Ann.Lee@example.com"},
    }
    assert click == {
        "phone": ALICE,
        "url": "https://shop.example/lookbook",
        "flow": "survey",
        "campaign": None,
    }
    assert opted_out["email"] == "Ann.Lee@example.com"  # the address joined the profile
    assert (opted_out["status"], opted_out["source"], opted_out["keyword"]) == (
        "unsubscribed",
        "sms",
        "STOP",
    )
    assert len({event["id"] for event in events}) == 6
    assert all(event["id"].startswith("evt_") for event in events)
    assert events[0]["created_at"] == "2026-12-04T18:00:00.000Z"

    verify = documented_verify()
    sent_at = parley.clock().timestamp()
    for received in receiver.accepted:
        assert received.headers["Content-Type"] == "application/json"
        assert verify(received.body, received.signature, SECRET, now=sent_at)
        assert not verify(received.body, received.signature, "another secret", now=sent_at)
        assert not verify(received.body + b" ", received.signature, SECRET, now=sent_at)
        assert not verify(received.body, received.signature, SECRET, now=sent_at + 301)

    profile = parley.client.get(
        f"/api/subscribers/{ALICE}", headers={"Authorization": f"Bearer {API_KEY}"}
    )
    assert profile.get_json()["email"] == "Ann.Lee@example.com"
    assert delivery_states(parley.db) == {DeliveryStatus.DELIVERED: 6}


def test_a_receiver_that_was_down_gets_every_event_afterwards_each_once(
    parley: WebhookApp, receiver: WebhookReceiver
) -> None:
    receiver.go_down()
    people = [f"+1415555{number:04d}" for number in range(3)]
    recorded: dict[str, list[int]] = defaultdict(list)
    for sequence in range(4):  # the people's events interleaved, as they happen
        for phone in people:
            record(parley.db, phone, WebhookEventType.ANSWER_RECORDED, {"n": sequence})
            recorded[phone].append(sequence)

    tried_at: dict[int, list[datetime]] = defaultdict(list)  # per delivery, its attempts
    end_of_outage = NOW + timedelta(hours=7)
    while parley.clock() < end_of_outage:
        parley.deliver()
        for delivery, count in attempts(parley.db).items():
            tried_at[delivery] += [parley.clock()] * (count - len(tried_at[delivery]))
        parley.clock.advance(timedelta(minutes=1))
    # Only each person's first event was tried while the receiver was down, ever more rarely:
    # within a minute, then at most hourly (the rounds here are a minute apart).
    assert tried_events(parley.db) == {phone: [0] for phone in people}
    assert len(tried_at) == len(people)
    for times in tried_at.values():
        gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
        assert gaps[0] <= timedelta(minutes=1)
        assert BACKOFF_CAP / 2 <= gaps[-1] <= BACKOFF_CAP + timedelta(minutes=1)
        assert len(times) < 20

    receiver.come_up()
    parley.clock.advance(BACKOFF_CAP)
    parley.deliver()

    events = receiver.events()
    assert len(events) == 12
    assert len({event["id"] for event in events}) == 12, "an event arrived twice"
    arrived: dict[str, list[int]] = defaultdict(list)
    for event in events:
        arrived[event["data"]["phone"]].append(event["data"]["n"])
    assert arrived == recorded
    assert delivery_states(parley.db) == {DeliveryStatus.DELIVERED: 12}


def test_an_event_given_up_lets_the_next_through_and_can_be_retried(
    database_url: str, db: Engine, receiver: WebhookReceiver
) -> None:
    clock = FakeClock(NOW)
    sender = sender_to(db, receiver, clock, retry_window=timedelta(hours=1))
    record(db, ALICE, WebhookEventType.SUBSCRIBED, {"n": 1})
    record(db, ALICE, WebhookEventType.OPTED_OUT, {"n": 2})
    receiver.status = 500
    while clock() < NOW + timedelta(hours=2):
        deliver(sender)
        clock.advance(timedelta(minutes=5))
    receiver.status = 200
    clock.advance(BACKOFF_CAP)
    deliver(sender)
    assert [event["data"]["n"] for event in receiver.events()] == [2]  # once 1 was given up
    assert delivery_states(db) == {DeliveryStatus.GAVE_UP: 1, DeliveryStatus.DELIVERED: 1}

    with transaction(db) as connection:
        assert requeue_given_up(connection, Filters(endpoint="elsewhere"), now=clock()) == 0
        assert requeue_given_up(connection, Filters(phone=ALICE), now=clock()) == 1
    deliver(sender)
    assert [event["data"]["n"] for event in receiver.events()] == [2, 1]
    assert delivery_states(db) == {DeliveryStatus.DELIVERED: 2}


def test_a_claim_that_runs_out_is_posted_by_another_worker(
    db: Engine, receiver: WebhookReceiver
) -> None:
    clock = FakeClock(NOW)
    first = sender_to(db, receiver, clock, worker_id="first")
    second = sender_to(db, receiver, clock, worker_id="second")
    record(db, ALICE, WebhookEventType.SUBSCRIBED, {})
    endpoints = first.endpoints()
    assert endpoints is not None
    first.route(endpoints, clock())
    assert len(first.claim(clock())) == 1  # and then the first worker dies mid-post
    assert second.claim(clock()) == []
    clock.advance(CLAIM_LEASE)
    deliver(second)
    assert len(receiver.events()) == 1


def test_events_go_to_the_endpoints_that_want_them(db: Engine, receiver: WebhookReceiver) -> None:
    clock = FakeClock(NOW)
    consent = frozenset({WebhookEventType.SUBSCRIBED, WebhookEventType.OPTED_OUT})
    endpoints = Endpoints({"crm": Endpoint("crm", receiver.url, consent, SECRET)})
    sender = WebhookSender(db=db, endpoints=lambda: endpoints, clock=clock)
    record(db, ALICE, WebhookEventType.SUBSCRIBED, {})
    record(db, ALICE, WebhookEventType.LINK_CLICKED, {"url": "https://shop.example"})
    record(db, BOB, WebhookEventType.MESSAGE_FAILED, {})
    deliver(sender)
    assert [event["type"] for event in receiver.events()] == ["subscriber.subscribed"]
    with db.connect() as connection:
        # What no endpoint wants is not kept.
        assert connection.scalar(select(func.count()).select_from(WEBHOOK_EVENTS)) == 1


def test_events_wait_unrouted_while_the_endpoints_are_unknown(
    db: Engine, receiver: WebhookReceiver
) -> None:
    clock = FakeClock(NOW)
    endpoints: list[Endpoints | None] = [None]  # a broken webhooks file, nothing good yet
    sender = WebhookSender(db=db, endpoints=lambda: endpoints[0], clock=clock)
    record(db, ALICE, WebhookEventType.SUBSCRIBED, {})
    deliver(sender)
    endpoints[0] = Endpoints({"crm": Endpoint("crm", receiver.url, ALL_EVENTS, SECRET)})
    deliver(sender)
    assert [event["type"] for event in receiver.events()] == ["subscriber.subscribed"]


def test_erasure_drops_what_waits_and_tells_receivers_to_erase(
    parley: WebhookApp, receiver: WebhookReceiver
) -> None:
    parley.text("JOIN")
    parley.text("Y")
    parley.deliver()
    receiver.go_down()
    parley.text("SURVEY")
    parley.text("ann@example.com")
    parley.deliver()  # fails: the answer waits for the receiver
    assert erase_subscriber(parley.db, ALICE, parley.clock())
    receiver.come_up()
    parley.clock.advance(BACKOFF_CAP)
    parley.deliver()

    events = receiver.events()
    assert [event["type"] for event in events] == ["subscriber.subscribed", "subscriber.erased"]
    assert events[1]["data"] == {"phone": ALICE, "email": "ann@example.com"}
    with parley.db.connect() as connection:
        kept = connection.execute(select(WEBHOOK_EVENTS.c.type, WEBHOOK_EVENTS.c.data)).all()
    assert {row.type: row.data for row in kept if row.type != "subscriber.erased"} == {
        "subscriber.subscribed": {"phone": ALICE},
        "answer.recorded": {"phone": ALICE},
        "subscriber.updated": {"phone": ALICE},
        "flow.completed": {"phone": ALICE},
    }
    assert delivery_states(parley.db) == {
        DeliveryStatus.DELIVERED: 2,
        DeliveryStatus.DROPPED: 3,
    }


def test_a_completed_flow_tells_every_answer_given_over_its_turns(
    parley: WebhookApp, receiver: WebhookReceiver
) -> None:
    for text in ("JOIN", "Y", "FIT", "3", "9"):
        parley.text(text)
    parley.deliver()

    events = receiver.events()
    answers = {
        e["data"]["name"]: e["data"]["value"] for e in events if e["type"] == "answer.recorded"
    }
    [completed] = [e["data"] for e in events if e["type"] == "flow.completed"]
    assert set(answers) == {"size", "shoe"}  # one answered a turn before the flow ended
    assert completed == {"phone": ALICE, "flow": "fit", "answers": answers}


def test_a_handoff_a_failed_text_and_an_attributed_order_are_told(
    parley: WebhookApp, receiver: WebhookReceiver
) -> None:
    parley.text("JOIN")
    parley.text("Y")
    parley.text("HUMAN")
    texts = parley.outbound_ids()
    failed = parley.client.post(
        "/twilio/status",
        data={"MessageSid": "SM" + "f" * 32, "MessageStatus": "undelivered", "ErrorCode": "30003"},
        query_string={"mid": texts[-1]},
    )
    assert failed.status_code == 204
    campaign_link = parley.campaign_link("winter_sale", "https://shop.example/sale")
    parley.clock.advance(timedelta(hours=1))
    assert parley.client.get(f"/l/{campaign_link}").status_code == 302
    parley.clock.advance(timedelta(hours=1))
    order = parley.client.post(
        "/api/events",
        json={"type": "order_placed", "phone": ALICE, "data": {"amount": "49.90"}, "id": "o-1"},
        headers={"Authorization": f"Bearer {API_KEY}"},
    )
    assert order.status_code == 202, order.get_data(as_text=True)
    parley.deliver()

    told = {event["type"]: event["data"] for event in receiver.events()}
    assert told["conversation.handoff"] == {
        "phone": ALICE,
        "flow": "concierge",
        "reason": "asked for a person",
    }
    assert told["message.failed"]["status"] == "undelivered"
    assert told["message.failed"]["error_code"] == 30003
    assert told["order.attributed"] == {
        "phone": ALICE,
        "order_id": "o-1",
        "amount": "49.90",
        "campaign": "winter_sale",
        "variant": None,
        "by": "click",
    }


# -- helpers --------------------------------------------------------------------------------------


def record(db: Engine, phone: str, event_type: WebhookEventType, data: dict[str, Any]) -> None:
    with transaction(db) as connection:
        record_webhook_event(connection, event_type, phone=phone, data=data, now=NOW)


def sender_to(
    db: Engine, receiver: WebhookReceiver, clock: FakeClock, **options: Any
) -> WebhookSender:
    endpoints = Endpoints({"crm": Endpoint("crm", receiver.url, ALL_EVENTS, SECRET)})
    return WebhookSender(db=db, endpoints=lambda: endpoints, clock=clock, **options)


def deliver(sender: WebhookSender) -> None:
    while sender.run_round() == 0:
        pass


def delivery_states(db: Engine) -> dict[DeliveryStatus, int]:
    with db.connect() as connection:
        rows = connection.execute(
            select(WEBHOOK_DELIVERIES.c.status, func.count()).group_by(WEBHOOK_DELIVERIES.c.status)
        ).all()
    return {DeliveryStatus(status): count for status, count in rows}


def attempts(db: Engine) -> dict[int, int]:
    """Each delivery's attempts so far."""
    with db.connect() as connection:
        rows = connection.execute(select(WEBHOOK_DELIVERIES.c.id, WEBHOOK_DELIVERIES.c.attempts))
        return {delivery: count for delivery, count in rows if count}


def tried_events(db: Engine) -> dict[str, list[int]]:
    """Per person, the `n` of each event that has been tried at least once."""
    with db.connect() as connection:
        rows = connection.execute(
            select(WEBHOOK_EVENTS.c.phone, WEBHOOK_EVENTS.c.data)
            .join(WEBHOOK_DELIVERIES, WEBHOOK_DELIVERIES.c.event_id == WEBHOOK_EVENTS.c.id)
            .where(WEBHOOK_DELIVERIES.c.attempts > 0)
            .order_by(WEBHOOK_EVENTS.c.id)
        ).all()
    tried: dict[str, list[int]] = defaultdict(list)
    for phone, data in rows:
        tried[phone].append(data["n"])
    return dict(tried)


# -- bot webhooks ---------------------------------------------------------------------------------


@pytest.fixture
def cli(
    database_url: str, flows_dir: Path, receiver: WebhookReceiver, monkeypatch: pytest.MonkeyPatch
) -> CliRunner:
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("FLOWS_DIR", str(flows_dir))
    monkeypatch.setenv("WEBHOOK_URL", receiver.url)
    monkeypatch.setenv("WEBHOOK_SECRET", SECRET)
    return CliRunner()


def test_bot_webhooks_test_sends_a_signed_ping_to_each_endpoint(
    cli: CliRunner, receiver: WebhookReceiver, flows_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = cli.invoke(main, ["webhooks", "test"])
    assert result.exit_code == 0, result.output
    assert result.output == f"default {receiver.url}: HTTP 200 (ok)\n"
    (ping,) = receiver.accepted
    assert ping.event["type"] == "ping" and ping.event["data"] == {}
    assert documented_verify()(ping.body, ping.signature, SECRET)

    (flows_dir / "webhooks.yaml").write_text(
        "endpoints:\n  - name: down\n    url: http://127.0.0.1:9/x\n"
        "    events: ['*']\n    secret_env: DOWN_SECRET\n"
    )
    monkeypatch.setenv("DOWN_SECRET", "s")
    receiver.status = 503
    failed = cli.invoke(main, ["webhooks", "test"])
    assert failed.exit_code == 1
    assert f"default {receiver.url}: HTTP 503: no (FAILED)" in failed.output
    assert "down http://127.0.0.1:9/x: cannot reach http://127.0.0.1:9/x" in failed.output


def test_bot_webhooks_list_and_retry(cli: CliRunner, db: Engine, receiver: WebhookReceiver) -> None:
    clock = FakeClock(NOW)
    sender = sender_to(db, receiver, clock, retry_window=timedelta(hours=1))
    record(db, ALICE, WebhookEventType.SUBSCRIBED, {})
    record(db, BOB, WebhookEventType.SUBSCRIBED, {})
    receiver.status = 500
    deliver(sender)
    pending = cli.invoke(main, ["webhooks", "list", "--phone", "(415) 555-0100"])
    assert pending.exit_code == 0, pending.output
    (line,) = pending.output.splitlines()
    assert re.fullmatch(
        r"2026-12-04 18:00:00 evt_\w+ subscriber\.subscribed \+14155550100 → crm: pending,"
        r" 1 attempt, next try 2026-12-04 18:00:\d\d; last: HTTP 500: no",
        line,
    ), line
    clock.advance(timedelta(hours=2))
    deliver(sender)
    deliver(sender)
    gave_up = cli.invoke(main, ["webhooks", "list", "--status", "gave_up"])
    assert gave_up.output.count("gave up after 2 attempts; last: still failing after 1h") == 2

    receiver.status = 200
    retried = cli.invoke(main, ["webhooks", "retry", "--phone", BOB])
    assert (
        retried.output == "1 given-up delivery pending again; a running `bot worker` posts them\n"
    )
    deliver(sender)
    assert [event["data"]["phone"] for event in receiver.events()] == [BOB]
    delivered = cli.invoke(main, ["webhooks", "list", "--status", "delivered"])
    assert "+14155550101 → crm: delivered 2026-12-04 20:00:00 (3 attempts)" in delivered.output
    none = cli.invoke(main, ["webhooks", "list", "--type", "link.clicked"])
    assert none.output == "no webhook deliveries\n"


# What the workers read every round, idle or not: only rows that wait, never the history.
WORKER_READS = [
    ("routing", _UNROUTED_EVENTS, {}),
    ("a claim", _DUE, {"now": NOW, "limit": 10}),
]
WAITING_ONLY = ("ix_webhook_event_unrouted", "ix_webhook_delivery_pending")  # partial indexes


@pytest.mark.parametrize(("what", "statement", "params"), WORKER_READS, ids=["route", "claim"])
def test_the_workers_read_what_waits_never_the_history(
    what: str,
    statement: Any,
    params: dict[str, Any],
    sqlite_template: SqliteTemplate,
    tmp_path: Path,
) -> None:
    db = make_db(sqlite_template.fresh(tmp_path))
    with transaction(db) as connection:
        plan = DriverStatement(statement).explain(connection, params)
    db.dispose()
    scans = [step for step in plan if step.startswith("SCAN")]
    assert all(step.endswith(WAITING_ONLY) for step in scans), f"{what}: {plan}"
    assert all(step.startswith(("SCAN", "SEARCH", "CORRELATED")) for step in plan), plan

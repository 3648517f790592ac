"""Provider outages: the dispatcher rides them out instead of failing texts. Fake clock only.

The worker loop's rounds (`Dispatcher.run_round`) are driven by hand: each returns how long the
loop would nap, and the fake clock moves on by exactly that, so minutes pass in milliseconds.
"""

from __future__ import annotations

import logging
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.engine import Engine

from bot.campaigns.stats import campaign_stats
from bot.domain.pacing import Pacer
from bot.domain.vocabulary import MessageStatus
from bot.sending.dispatcher import Dispatcher
from bot.sending.gateways.base import Gateway, OutboundText, SendOutcome, SendResult
from bot.sending.gateways.fake import FakeGateway
from bot.sending.outbox import Waiting, waiting_on_provider
from bot.store.tables import MESSAGES
from bot.testing.clock import FakeClock
from bot.twilio.fake_server import FakeTwilioServer
from bot.twilio.gateway import TwilioGateway
from tests.support.outbox_rows import queue_campaign

START = datetime(2024, 5, 1, 16, 0, tzinfo=UTC)  # noon in New York: inside sending hours
SENDER = "+15550000000"
RATE = 10  # segments a second: a toll-free number
PEOPLE = [f"+1415555{number:04d}" for number in range(100)]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


@dataclass
class Recording:
    """Wraps a gateway and notes when each hand-over happened and how it went."""

    gateway: Gateway
    clock: Callable[[], datetime]
    sends: list[tuple[datetime, str, SendOutcome]] = field(default_factory=list)
    name: str = "recording"

    def send(self, text: OutboundText) -> SendResult:
        result = self.gateway.send(text)
        self.sends.append((self.clock(), text.to, result.outcome))
        return result

    def lookup(self, *args: Any, **kwargs: Any) -> SendResult | None:
        return self.gateway.lookup(*args, **kwargs)  # type: ignore[attr-defined]

    def accepted_at(self) -> list[datetime]:
        return [at for at, _, outcome in self.sends if outcome is SendOutcome.ACCEPTED]


def dispatcher_for(db: Engine, gateway: Gateway, clock: FakeClock, **options: Any) -> Dispatcher:
    """A paced dispatcher whose pacer, like everything else, runs on the fake clock."""
    pacer = Pacer(
        RATE,
        clock=lambda: (clock() - START).total_seconds(),
        sleep=lambda seconds: clock.advance(timedelta(seconds=seconds)),
    )
    return Dispatcher(
        db=db,
        gateway=gateway,
        dispatcher_id="worker:1",
        pacer=pacer,
        clock=clock,
        rng=random.Random(11),
        **options,
    )


def campaign(
    db: Engine, phones: list[str] = PEOPLE, name: str = "sale", *, at: datetime = START
) -> None:
    """One promotional text each, in the outbox, as `bot campaign send` leaves them."""
    queue_campaign(db, phones, name=name, at=at)


def run_until(
    dispatcher: Dispatcher, clock: FakeClock, done: Callable[[], bool], *, limit: timedelta
) -> None:
    """The worker loop on the fake clock: a round, then the nap it asks for, until `done`."""
    while not done():
        assert clock() - START < limit, "still not done when the fake clock ran out"
        clock.advance(timedelta(seconds=dispatcher.run_round(clock(), idle_seconds=0.5)))


def rows(db: Engine) -> list[Any]:
    with db.connect() as connection:
        return connection.execute(select(MESSAGES).order_by(MESSAGES.c.id)).all()


def settled(db: Engine) -> bool:
    """Every text has its fate: none waits in the outbox, none is unknown."""
    waiting = (MessageStatus.PENDING, MessageStatus.UNKNOWN)
    return not any(row.status in waiting for row in rows(db))


def count(db: Engine, status: MessageStatus) -> int:
    return sum(1 for row in rows(db) if row.status is status)


def outage_lines(caplog: pytest.LogCaptureFixture) -> tuple[int, int]:
    messages = [record.getMessage() for record in caplog.records]
    started = sum(message.startswith("provider outage:") for message in messages)
    ended = sum(message.startswith("provider back after") for message in messages)
    return started, ended


# -- the promise: an outage shorter than the retry window loses nothing --------------------------


def test_a_90_second_503_outage_delays_a_100_person_campaign_and_loses_no_text(
    db: Engine, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="bot.sending.dispatcher")
    campaign(db)
    recovered_at = START + timedelta(seconds=90)
    with FakeTwilioServer(clock=clock) as server:
        server.go_down(recovered_at)
        twilio = TwilioGateway(
            server.account_sid, server.auth_token, from_number=SENDER, api_base_url=server.base_url
        )
        gateway = Recording(twilio, clock)
        dispatcher = dispatcher_for(db, gateway, clock)

        run_until(dispatcher, clock, lambda: settled(db), limit=timedelta(minutes=10))
        received = Counter(message["To"] for message in server.messages)
        failed_hand_overs = server.answered_down

    lost = len(set(PEOPLE) - set(received))
    assert lost == 0
    assert all(times == 1 for times in received.values()), "a text went twice"
    assert count(db, MessageStatus.FAILED) == 0
    # The outage cost a few texts a try, not a hundred texts five tries each.
    assert failed_hand_overs <= 12, failed_hand_overs
    assert max(row.attempts for row in rows(db)) <= 1
    # Full pace again within a minute of the recovery: the first text accepted after it starts
    # a run in which the other 99 go at the sender's rate.
    accepted = gateway.accepted_at()
    resumed_after = (accepted[0] - recovered_at).total_seconds()
    assert 0 <= resumed_after < 60
    assert accepted[-1] - accepted[0] <= timedelta(seconds=(len(PEOPLE) - 1) / RATE + 1)
    assert outage_lines(caplog) == (1, 1)  # one line when it began, one when it ended
    print(
        f"\n90 s outage, {len(PEOPLE)} texts: {lost} lost, {failed_hand_overs} hand-overs failed,"
        f" full pace again {resumed_after:.1f} s (fake clock) after the provider recovered"
    )


def test_refused_connections_are_an_outage_too(db: Engine, clock: FakeClock) -> None:
    campaign(db, PEOPLE[:10])
    server = FakeTwilioServer(clock=clock).start()
    port, base_url = server._server.server_port, server.base_url  # type: ignore[union-attr]
    twilio = TwilioGateway(
        server.account_sid, server.auth_token, from_number=SENDER, api_base_url=base_url
    )
    server.stop()  # nobody listens: every connection is refused
    try:
        dispatcher = dispatcher_for(db, twilio, clock)
        run_until(
            dispatcher, clock, lambda: dispatcher.outage is not None, limit=timedelta(minutes=1)
        )
        run_until(
            dispatcher,
            clock,
            lambda: clock() - START > timedelta(minutes=3),
            limit=timedelta(minutes=4),
        )
        assert count(db, MessageStatus.PENDING) == 10  # waiting, none failed, none unknown

        server.start(port)  # the provider is back
        run_until(
            dispatcher,
            clock,
            lambda: count(db, MessageStatus.QUEUED) == 10,
            limit=timedelta(minutes=5),
        )
        assert sorted(message["To"] for message in server.messages) == PEOPLE[:10]
    finally:
        server.stop()


def test_texts_wait_on_the_provider_with_the_moment_it_began(db: Engine, clock: FakeClock) -> None:
    campaign(db, PEOPLE[:20])
    gateway = FakeGateway(clock=clock)
    gateway.down_until = START + timedelta(hours=1)
    dispatcher = dispatcher_for(db, gateway, clock)

    run_until(
        dispatcher, clock, lambda: clock() - START > timedelta(minutes=10), limit=timedelta(hours=1)
    )

    stored = rows(db)
    assert {row.status for row in stored} == {MessageStatus.PENDING}
    # Tried or not, every text knows it is waiting on the provider, and since when.
    assert all(row.retrying_since is not None for row in stored)
    assert max(row.retrying_since for row in stored) - START < timedelta(seconds=5)
    with db.connect() as connection:
        assert waiting_on_provider(connection) == Waiting(20, START)
        stats = campaign_stats(connection, "sale", price_per_segment=0.01, currency="USD")
    assert (stats.total.waiting_on_provider, stats.total.sent, stats.total.failed) == (20, 0, 0)
    assert len(gateway.attempts) < 3 + 10 * 60 / 15  # probes, not 20 texts × every backoff


# -- an outage longer than the window fails texts -------------------------------------------------


def test_an_evening_outage_that_runs_into_quiet_hours_fails_no_text(db: Engine) -> None:
    """45 minutes of 503s from 20:30 in New York: the texts wait for the morning, not fail."""
    evening = datetime(2024, 5, 2, 0, 30, tzinfo=UTC)
    clock = FakeClock(evening)
    new_yorkers = [f"+1212555{number:04d}" for number in range(4)]
    campaign(db, new_yorkers, at=evening)
    gateway = FakeGateway(clock=clock)
    gateway.down_until = evening + timedelta(minutes=45)  # back at 21:15, in quiet hours
    dispatcher = dispatcher_for(db, gateway, clock)

    morning = datetime(2024, 5, 2, 12, 0, tzinfo=UTC)  # 08:00 in New York
    done = morning + timedelta(minutes=5)
    run_until(dispatcher, clock, lambda: clock() > done, limit=done - START + timedelta(hours=1))

    assert [row.status for row in rows(db)] == [MessageStatus.QUEUED] * 4
    assert sorted(held.text.to for held in gateway.held) == new_yorkers
    assert all(held.created_at >= morning for held in gateway.held), [
        (h.text.to, h.created_at) for h in gateway.held
    ]


def test_an_outage_longer_than_the_retry_window_fails_every_waiting_text(
    db: Engine, clock: FakeClock
) -> None:
    campaign(db, PEOPLE[:20])
    gateway = FakeGateway(clock=clock)
    gateway.down_until = START + timedelta(minutes=40)
    dispatcher = dispatcher_for(db, gateway, clock, retry_window=timedelta(minutes=30))

    run_until(
        dispatcher, clock, lambda: clock() - START > timedelta(minutes=29), limit=timedelta(hours=1)
    )
    assert count(db, MessageStatus.FAILED) == 0  # inside the window: waiting

    run_until(
        dispatcher, clock, lambda: clock() - START > timedelta(minutes=32), limit=timedelta(hours=1)
    )
    stored = rows(db)
    assert {row.status for row in stored} == {MessageStatus.FAILED}
    for row in stored:
        assert row.error_message.startswith(
            "gave up: the provider still failed it after the 30m retry window; last error: "
        )
        assert "503" in row.error_message

    # The provider comes back: nothing that failed goes out on its own.
    run_until(
        dispatcher, clock, lambda: clock() - START > timedelta(minutes=45), limit=timedelta(hours=1)
    )
    assert gateway.outbox == []


# -- per-text errors are not outages --------------------------------------------------------------


def test_a_bad_number_and_an_opted_out_one_fail_at_once_while_the_rest_go(
    db: Engine, clock: FakeClock
) -> None:
    campaign(db, PEOPLE[:10])
    gateway = FakeGateway(clock=clock)
    gateway.invalid_numbers.add(PEOPLE[0])
    gateway.opted_out.add(PEOPLE[1])
    dispatcher = dispatcher_for(db, gateway, clock)

    run_until(
        dispatcher,
        clock,
        lambda: count(db, MessageStatus.PENDING) == 0,
        limit=timedelta(minutes=1),
    )

    stored = rows(db)
    assert [(row.status, row.error_code, row.attempts) for row in stored[:2]] == [
        (MessageStatus.FAILED, 21211, 0),
        (MessageStatus.FAILED, 21610, 0),
    ]
    assert {row.status for row in stored[2:]} == {MessageStatus.QUEUED}
    assert dispatcher.outage is None
    assert clock() - START < timedelta(seconds=2)  # ten texts at ten a second: no pause


def test_after_an_outage_permanent_errors_still_fail_at_once(db: Engine, clock: FakeClock) -> None:
    campaign(db, PEOPLE[:10])
    gateway = FakeGateway(clock=clock)
    gateway.down_until = START + timedelta(seconds=90)
    gateway.invalid_numbers.add(PEOPLE[5])
    dispatcher = dispatcher_for(db, gateway, clock)

    run_until(
        dispatcher,
        clock,
        lambda: count(db, MessageStatus.PENDING) == 0,
        limit=timedelta(minutes=5),
    )

    stored = {row.phone: row for row in rows(db)}
    bad = stored.pop(PEOPLE[5])
    assert (bad.status, bad.error_code) == (MessageStatus.FAILED, 21211)
    assert {row.status for row in stored.values()} == {MessageStatus.QUEUED}
    assert sorted(text.to for text in gateway.outbox) == sorted(stored)


def test_one_text_the_provider_keeps_failing_does_not_hold_up_the_others(
    db: Engine, clock: FakeClock
) -> None:
    class OneBadText(FakeGateway):
        def send(self, text: OutboundText) -> SendResult:
            if text.to == PEOPLE[0]:
                return SendResult(SendOutcome.RETRYABLE, error_code=20500, error_message="oops")
            return super().send(text)

    campaign(db, PEOPLE[:30])
    gateway = OneBadText(clock=clock)
    dispatcher = dispatcher_for(db, gateway, clock)

    run_until(
        dispatcher,
        clock,
        lambda: count(db, MessageStatus.QUEUED) == 29,
        limit=timedelta(minutes=1),
    )

    assert dispatcher.outage is None
    assert clock() - START < timedelta(seconds=4)  # 29 texts at ten a second
    first = rows(db)[0]
    assert (first.status, first.retrying_since) == (MessageStatus.PENDING, START)

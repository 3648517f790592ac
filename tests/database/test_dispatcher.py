"""The outbox dispatcher: claims, pacing, retries, reconciliation, consent at claim time, and
concurrent dispatchers that never send one row twice. Both databases, a fake gateway, fake time."""

from __future__ import annotations

import itertools
import random
import threading
from collections import Counter
from datetime import UTC, datetime, timedelta
from time import monotonic, sleep
from typing import Any

import pytest
from sqlalchemy import event, select, text, update
from sqlalchemy.engine import Engine

from bot.domain.pacing import Pacer, PaceStopped
from bot.domain.vocabulary import Delivery, MessageStatus, Purpose, SubscriberStatus
from bot.sending.dispatcher import (
    BACKOFF_CAP,
    ClaimedText,
    Dispatcher,
    backoff,
)
from bot.sending.gateways.base import OutboundText, ProviderLookupError, SendOutcome, SendResult
from bot.sending.gateways.console import ConsoleGateway
from bot.sending.gateways.fake import FakeGateway
from bot.sending.outbox import queue_text
from bot.sending.shared_pace import DatabaseBucket, SharedPace
from bot.store.db import make_db, transaction
from bot.store.subscribers import change_status, claim_subscriber
from bot.store.tables import MESSAGES
from bot.testing.clock import FakeClock
from bot.twilio.fake_server import FakeTwilioServer
from bot.twilio.gateway import TwilioGateway
from tests.support.disk import commits, waiting_for_the_disk
from tests.support.sms import ALICE, BOB

# Noon in San Francisco: texts queued now are judged by the send policy in daylight.
START = datetime(2024, 5, 1, 19, 0, tzinfo=UTC)
SENDER = "+15550000000"


@pytest.fixture
def time() -> FakeClock:
    """One fake time for everything: the pacer's monotonic clock, its sleep, and the wall clock."""
    return FakeClock(START)


@pytest.fixture
def gateway(time: FakeClock) -> FakeGateway:
    return FakeGateway(clock=time)


def dispatcher_for(
    db: Engine,
    gateway: Any,
    time: FakeClock,
    *,
    rate: float | None = None,
    name: str = "test:1",
    **options: Any,
) -> Dispatcher:
    pacer = Pacer(rate, clock=time.monotonic, sleep=time.sleep) if rate else None
    return Dispatcher(
        db=db,
        gateway=gateway,
        dispatcher_id=name,
        pacer=pacer,
        clock=time,
        rng=random.Random(1),
        **options,
    )


@pytest.fixture
def dispatcher(db: Engine, gateway: FakeGateway, time: FakeClock) -> Dispatcher:
    return dispatcher_for(db, gateway, time)


def queue(
    db: Engine,
    body: str = "Hi",
    *,
    phone: str = ALICE,
    purpose: Purpose = Purpose.TRANSACTIONAL,
    status: SubscriberStatus = SubscriberStatus.SUBSCRIBED,
    send_after: datetime | None = None,
) -> int:
    """Put one text in the outbox, as the conversation service does."""
    with transaction(db) as connection:
        subscriber = claim_subscriber(connection, phone, START)
        change_status(connection, subscriber, status, START)
        queued = queue_text(
            connection, subscriber, body=body, purpose=purpose, delivery=Delivery.OUTBOX, now=START
        )
        if send_after is not None:
            connection.execute(
                update(MESSAGES).where(MESSAGES.c.id == queued.id).values(send_after=send_after)
            )
        return queued.id


def row(db: Engine, message_id: int) -> Any:
    with db.connect() as connection:
        return connection.execute(select(MESSAGES).where(MESSAGES.c.id == message_id)).one()


def statuses(db: Engine) -> list[MessageStatus]:
    with db.connect() as connection:
        return list(connection.scalars(select(MESSAGES.c.status).order_by(MESSAGES.c.id)))


def set_subscriber(db: Engine, phone: str, status: SubscriberStatus) -> None:
    with transaction(db) as connection:
        change_status(connection, claim_subscriber(connection, phone, START), status, START)


# -- claiming -----------------------------------------------------------------------------------


def test_a_claim_takes_due_rows_oldest_first_and_skips_rows_not_yet_due(
    db: Engine, dispatcher: Dispatcher, time: FakeClock
) -> None:
    first = queue(db, "first")
    later = queue(db, "later", send_after=START + timedelta(hours=1))
    due = queue(db, "due", send_after=START)  # due exactly now
    last = queue(db, "last")

    claimed = dispatcher.claim_batch(10, time())

    assert [text.message_id for text in claimed] == [first, due, last]
    assert [text.text.body for text in claimed] == ["first", "due", "last"]
    claimed_row = row(db, first)
    assert claimed_row.status is MessageStatus.UNKNOWN  # committed before any hand-over
    assert claimed_row.claimed_by == "test:1"
    assert claimed_row.sent_at == START
    assert row(db, later).status is MessageStatus.PENDING
    assert dispatcher.claim_batch(10, time()) == []  # nothing is claimed twice
    assert [t.message_id for t in dispatcher.claim_batch(10, START + timedelta(hours=1))] == [later]


def test_a_claim_takes_no_more_than_its_limit(db: Engine, dispatcher: Dispatcher) -> None:
    ids = [queue(db, f"text {number}") for number in range(5)]
    assert [t.message_id for t in dispatcher.claim_batch(2, START)] == ids[:2]
    assert [t.message_id for t in dispatcher.claim_batch(2, START)] == ids[2:4]


def test_a_claim_carries_what_the_gateway_and_the_pacer_need(
    db: Engine, gateway: FakeGateway, time: FakeClock
) -> None:
    dispatcher = Dispatcher(
        db=db,
        gateway=gateway,
        status_callback_url="https://sms.acme.test/twilio/status",
        dispatcher_id="test:1",
        clock=time,
    )
    message_id = queue(db, "x" * 200)  # two GSM-7 segments

    [claimed] = dispatcher.claim_batch(1, START)

    assert claimed == ClaimedText(
        message_id=message_id,
        text=OutboundText(
            to=ALICE,
            body="x" * 200,
            status_callback_url=f"https://sms.acme.test/twilio/status?mid={message_id}",
        ),
        segments=2,
        attempts=0,
        purpose=Purpose.TRANSACTIONAL,
    )


def test_consent_is_checked_again_at_claim_time(
    db: Engine, dispatcher: Dispatcher, gateway: FakeGateway
) -> None:
    promotion = queue(db, "20% off", purpose=Purpose.PROMOTIONAL)
    receipt = queue(db, "Your order shipped", phone=BOB)
    set_subscriber(db, ALICE, SubscriberStatus.UNSUBSCRIBED)  # a STOP after queueing

    assert dispatcher.run_once() == 1

    refused = row(db, promotion)
    assert refused.status is MessageStatus.SUPPRESSED
    assert refused.error_message == "recipient opted out"
    assert [sent.body for sent in gateway.attempts] == ["Your order shipped"]
    assert row(db, receipt).status is MessageStatus.QUEUED


def test_a_stop_while_a_claimed_text_waits_its_turn_keeps_that_text_here(
    db: Engine, gateway: FakeGateway, time: FakeClock
) -> None:
    """Consent is read at the hand-over itself, not only when the batch was claimed."""
    first = queue(db, "20% off", phone=BOB, purpose=Purpose.PROMOTIONAL)
    second = queue(db, "20% off", phone=ALICE, purpose=Purpose.PROMOTIONAL)
    stops: list[float] = []

    def sleep_through_a_stop(seconds: float) -> None:
        if not stops:  # Alice texts STOP while her text waits for the sender's pace
            stops.append(seconds)
            set_subscriber(db, ALICE, SubscriberStatus.UNSUBSCRIBED)
        time.sleep(seconds)

    dispatcher = Dispatcher(
        db=db,
        gateway=gateway,
        dispatcher_id="test:1",
        pacer=Pacer(1, clock=time.monotonic, sleep=sleep_through_a_stop),
        batch_size=2,  # both claimed, consent fine, before the STOP
        clock=time,
    )

    assert dispatcher.run_once() == 2
    assert stops, "the pacer never made the second text wait"
    assert [sent.to for sent in gateway.attempts] == [BOB]
    assert row(db, first).status is MessageStatus.QUEUED
    withdrawn = row(db, second)
    assert withdrawn.status is MessageStatus.SUPPRESSED
    assert withdrawn.error_message == "recipient opted out"
    assert withdrawn.handed_over_at is None


class WatchingPace:
    """A pace that lets every text go at once and notes, as each one departs, whether its last
    consent check has stamped it and whether the gateway has it yet."""

    rate = 1.0

    def __init__(self, db: Engine, gateway: FakeGateway, message_id: int) -> None:
        self.db, self.gateway, self.message_id = db, gateway, message_id
        self.departures: list[tuple[bool, int]] = []

    def acquire(self, cost: int = 1, lead: float = 0.0) -> float:
        return 0.0

    def depart(self) -> None:
        checked = row(self.db, self.message_id).handed_over_at is not None
        self.departures.append((checked, len(self.gateway.attempts)))


def test_the_pace_hears_a_text_leave_after_its_last_check_and_before_the_provider_has_it(
    db: Engine, gateway: FakeGateway, time: FakeClock
) -> None:
    """A last check that ran late moves the pace on (bot.domain.pacing): the pace must hear of
    the departure after that check, right before the request."""
    message_id = queue(db)
    pace = WatchingPace(db, gateway, message_id)
    dispatcher = Dispatcher(db=db, gateway=gateway, dispatcher_id="test:1", pacer=pace, clock=time)
    assert dispatcher.run_once() == 1
    assert pace.departures == [(True, 0)]
    assert len(gateway.attempts) == 1


def test_a_slow_last_check_begins_before_the_slot_so_its_text_leaves_on_it(
    db: Engine, gateway: FakeGateway, time: FakeClock
) -> None:
    """Every commit takes 8 ms (a slow disk): a check begun at its slot would make each text
    8 ms late, past the tolerance, and the pace would lose 8 ms a text. The check begins as
    long before the slot as the last one took (at most 5 ms), so only the first is late."""
    dispatcher = dispatcher_for(db, gateway, time, rate=10)  # a slot every 100 ms
    for number in range(4):
        queue(db, f"text {number}")
    event.listen(db, "commit", lambda _connection: time.advance(timedelta(milliseconds=8)))

    assert dispatcher.run_once() == 4

    left = [held.created_at for held in gateway.held]
    assert [later - earlier for earlier, later in itertools.pairwise(left)] == [
        timedelta(milliseconds=103),  # the first text's 8 ms moved the pace on; 3 ms late now
        timedelta(milliseconds=100),
        timedelta(milliseconds=100),
    ]


class StoppedAtTheSlot:
    """A pace whose process stops while a checked text waits out the rest of its slot."""

    rate = 1.0

    def acquire(self, cost: int = 1, lead: float = 0.0) -> float:
        return 0.0

    def depart(self) -> None:
        raise PaceStopped


def test_a_text_checked_but_stopped_before_its_slot_goes_back_to_the_outbox(
    db: Engine, gateway: FakeGateway, time: FakeClock
) -> None:
    message_id = queue(db)
    dispatcher = Dispatcher(
        db=db, gateway=gateway, dispatcher_id="test:1", pacer=StoppedAtTheSlot(), clock=time
    )
    dispatcher.run_once()
    assert gateway.attempts == []
    stored = row(db, message_id)
    assert (stored.status, stored.claimed_by, stored.handed_over_at) == (
        MessageStatus.PENDING,
        None,
        None,  # it never left: no reconciliation, no look-up, sent as any other
    )
    assert dispatcher_for(db, gateway, time).run_once() == 1
    assert [sent.body for sent in gateway.attempts] == ["Hi"]


def test_a_promotion_that_waited_into_the_night_waits_for_the_morning(
    db: Engine, dispatcher: Dispatcher, gateway: FakeGateway, time: FakeClock
) -> None:
    """Queued at noon in San Francisco, held up (an outage, say) until 22:00 there."""
    promotion = queue(db, "20% off", purpose=Purpose.PROMOTIONAL)
    receipt = queue(db, "Your order shipped", phone=BOB)
    time.advance(timedelta(hours=10))

    assert dispatcher.run_once() == 1

    assert [sent.body for sent in gateway.attempts] == ["Your order shipped"]
    assert row(db, receipt).status is MessageStatus.QUEUED
    held = row(db, promotion)
    assert held.status is MessageStatus.PENDING
    assert held.send_after == datetime(2024, 5, 2, 15, 0, tzinfo=UTC)  # 08:00 in San Francisco
    assert held.error_message == "quiet hours in America/Los_Angeles until 08:00"
    time.set(datetime(2024, 5, 2, 15, 0, tzinfo=UTC))
    assert dispatcher.run_once() == 1
    assert [sent.body for sent in gateway.attempts] == ["Your order shipped", "20% off"]


def test_send_one_sends_a_due_row_once_and_leaves_a_deferred_one(
    db: Engine, dispatcher: Dispatcher, gateway: FakeGateway
) -> None:
    now = queue(db, "now")
    deferred = queue(db, "at nine", send_after=START + timedelta(hours=9))

    assert dispatcher.send_one(now) is MessageStatus.QUEUED
    assert dispatcher.send_one(now) is None  # already sent
    assert dispatcher.send_one(deferred) is None  # not due: the worker sends it at nine
    assert [sent.body for sent in gateway.outbox] == ["now"]
    assert row(db, deferred).status is MessageStatus.PENDING


# -- pacing -------------------------------------------------------------------------------------


def test_ten_texts_at_two_a_second_take_at_least_four_and_a_half_seconds(
    db: Engine, gateway: FakeGateway, time: FakeClock
) -> None:
    dispatcher = dispatcher_for(db, gateway, time, rate=2)
    for number in range(10):
        queue(db, f"text {number}")

    handed_over = 0
    while sent := dispatcher.run_once():
        handed_over += sent

    assert handed_over == 10
    assert time.monotonic() >= 4.5
    assert [row.sent_at for row in _rows(db)] == [
        START + timedelta(seconds=0.5 * number) for number in range(10)
    ]


def test_a_three_segment_text_costs_three_seconds_at_one_a_second(
    db: Engine, gateway: FakeGateway, time: FakeClock
) -> None:
    dispatcher = dispatcher_for(db, gateway, time, rate=1)
    queue(db, "y" * 400)  # three segments
    queue(db, "short")

    while dispatcher.run_once():
        pass

    assert [row.sent_at for row in _rows(db)] == [START, START + timedelta(seconds=3)]


def test_an_mms_costs_one_message_whatever_its_texts_length(
    db: Engine, gateway: FakeGateway, time: FakeClock
) -> None:
    # Twilio counts an MMS as one message against the sender's rate; it is not split in segments.
    dispatcher = dispatcher_for(db, gateway, time, rate=1)
    mms = queue(db, "y" * 400)
    with transaction(db) as connection:
        connection.execute(
            update(MESSAGES)
            .where(MESSAGES.c.id == mms)
            .values(media_urls=["https://cdn.example/boots.jpg"])
        )
    queue(db, "short")

    while dispatcher.run_once():
        pass

    assert [row.sent_at for row in _rows(db)] == [START, START + timedelta(seconds=1)]


def test_a_paced_dispatcher_claims_about_a_seconds_worth(
    db: Engine, gateway: FakeGateway, time: FakeClock
) -> None:
    # Claimed rows wait UNKNOWN for their turn; a small batch keeps that wait short.
    assert dispatcher_for(db, gateway, time, rate=10).batch_size == 10
    assert dispatcher_for(db, gateway, time, rate=0.5).batch_size == 1
    assert dispatcher_for(db, gateway, time).batch_size == 50


# -- recording the provider's answer ------------------------------------------------------------


@pytest.mark.parametrize(
    ("outcome", "error_code", "maybe_accepted", "status", "attempts"),
    [
        # Throttled (429) or a server error (5xx) that never reached the provider: retry later.
        (SendOutcome.RETRYABLE, 20429, False, MessageStatus.PENDING, 1),
        (SendOutcome.RETRYABLE, 20503, False, MessageStatus.PENDING, 1),
        # A timeout after the request left: the provider may have it. Reconcile, never resend.
        (SendOutcome.RETRYABLE, None, True, MessageStatus.UNKNOWN, 0),
        # Permanent: a bad number.
        (SendOutcome.FAILED, 21211, False, MessageStatus.FAILED, 0),
    ],
)
def test_each_answer_leaves_the_row_in_the_right_state(
    db: Engine,
    dispatcher: Dispatcher,
    gateway: FakeGateway,
    outcome: SendOutcome,
    error_code: int | None,
    maybe_accepted: bool,
    status: MessageStatus,
    attempts: int,
) -> None:
    gateway.fail_next(outcome, error_code, maybe_accepted=maybe_accepted)
    message_id = queue(db)

    dispatcher.run_once()

    stored = row(db, message_id)
    assert (stored.status, stored.attempts) == (status, attempts)
    assert stored.error_code == error_code
    assert stored.error_message == f"scripted {outcome}"
    assert dispatcher.run_once() == 0  # nothing goes out again at once


def test_an_accepted_text_records_sid_status_and_hand_over_time(
    db: Engine, dispatcher: Dispatcher, gateway: FakeGateway
) -> None:
    message_id = queue(db)
    dispatcher.run_once()
    stored = row(db, message_id)
    assert stored.status is MessageStatus.QUEUED
    assert stored.provider_sid == f"SM{1:032x}"
    assert stored.sent_at == START
    assert stored.claimed_by == "test:1"


def test_a_carrier_opt_out_fails_the_text_and_unsubscribes_the_number(
    db: Engine, dispatcher: Dispatcher, gateway: FakeGateway
) -> None:
    gateway.opted_out.add(ALICE)
    message_id = queue(db)

    dispatcher.run_once()

    stored = row(db, message_id)
    assert stored.status is MessageStatus.FAILED and stored.error_code == 21610
    with db.connect() as connection:
        subscriber_status = connection.scalar(
            text("SELECT status FROM subscriber WHERE phone = :phone"), {"phone": ALICE}
        )
    assert subscriber_status == SubscriberStatus.UNSUBSCRIBED


# -- what waits for the disk --------------------------------------------------------------------


@pytest.mark.parametrize("opted_out", [False, True])
def test_on_postgresql_a_text_waits_for_the_disk_only_at_its_last_consent_check(
    database_url: str, time: FakeClock, gateway: FakeGateway, opted_out: bool
) -> None:
    """Three texts, paced in the database: the claim and each text's last check wait for the
    disk; the pace's reservations (made durable by the check after them) and the records after
    the provider answered (a lost one is settled by reconciliation) do not, unless the carrier
    said the person opted out."""
    db = waiting_for_the_disk(database_url)
    try:
        for phone in (ALICE, BOB, ALICE):
            queue(db, phone=phone)
        if opted_out:
            gateway.opted_out.add(BOB)
        pace = SharedPace(DatabaseBucket(db, SENDER), rate=10, clock=time, sleep=time.sleep)
        dispatcher = Dispatcher(
            db=db, gateway=gateway, dispatcher_id="test:1", pacer=pace, clock=time
        )
        seen = commits(db)

        assert dispatcher.run_once() == 3

        assert [text.to for text in gateway.attempts] == [ALICE, BOB, ALICE]
        pace_waited = [commit.waited for commit in seen if commit.pace]
        assert len(pace_waited) >= 3 and not any(pace_waited)
        # The claim; then each text's last check (waits) and record (waits at an opt-out).
        assert [commit.waited for commit in seen if not commit.pace] == [
            True,
            *(True, False),
            *(True, opted_out),
            *(True, False),
        ]
        assert [status is MessageStatus.QUEUED for status in statuses(db)] == [
            True,
            not opted_out,
            True,
        ]
    finally:
        db.dispose()


def test_retries_back_off_and_fail_only_once_the_retry_window_is_over(
    db: Engine, gateway: FakeGateway, time: FakeClock
) -> None:
    dispatcher = dispatcher_for(db, gateway, time, retry_window=timedelta(minutes=1))
    for _ in range(10):
        gateway.fail_next(SendOutcome.RETRYABLE, 20429)
    message_id = queue(db)

    waits = []
    while time() - START < timedelta(minutes=1):
        assert dispatcher.run_once() == 1
        stored = row(db, message_id)
        assert (stored.status, stored.attempts) == (MessageStatus.PENDING, len(waits) + 1)
        assert stored.claimed_by is None and stored.sent_at is None
        assert stored.retrying_since == START  # the window counts from the first failure
        waits.append(stored.send_after - time())
        assert dispatcher.run_once() == 0  # not due yet
        time.set(stored.send_after)
    assert dispatcher.run_once() == 1

    stored = row(db, message_id)
    assert stored.status is MessageStatus.FAILED
    assert stored.attempts == len(waits)  # the last hand-over, past the window, only failed it
    assert stored.error_message == (
        "gave up: the provider still failed it after the 1m retry window;"
        " last error: scripted retryable"
    )
    assert len(gateway.attempts) == len(waits) + 1 and gateway.outbox == []
    # 5 s, 10 s, 20 s, then 30 s, each jittered into its upper half.
    for wait, step in zip(waits, (5, 10, 20, 30, 30, 30), strict=False):
        assert timedelta(seconds=step / 2) <= wait <= timedelta(seconds=step)


def test_max_attempts_is_still_accepted_but_no_longer_fails_texts_early(
    db: Engine, gateway: FakeGateway, time: FakeClock
) -> None:
    with pytest.warns(DeprecationWarning, match="retry_window"):
        dispatcher = dispatcher_for(db, gateway, time, max_attempts=1)
    gateway.fail_next(SendOutcome.RETRYABLE, 20503)
    message_id = queue(db)
    dispatcher.run_once()
    assert row(db, message_id).status is MessageStatus.PENDING
    with pytest.raises(ValueError, match="max_attempts"):
        dispatcher_for(db, gateway, time, max_attempts=0)


@pytest.mark.parametrize("attempts", range(1, 12))
def test_backoff_doubles_from_five_seconds_up_to_thirty_seconds(attempts: int) -> None:
    step = min(BACKOFF_CAP, timedelta(seconds=5 * 2 ** (attempts - 1)))
    for seed in range(20):
        assert step / 2 <= backoff(attempts, random.Random(seed)) <= step


def test_a_long_provider_error_is_cut_to_fit_the_column(db: Engine, dispatcher: Dispatcher) -> None:
    class Verbose(FakeGateway):
        def send(self, text: OutboundText) -> SendResult:
            return SendResult(outcome=SendOutcome.FAILED, error_message="no! " * 400)

    dispatcher.gateway = Verbose()
    message_id = queue(db)
    dispatcher.run_once()
    stored = row(db, message_id)
    assert stored.status is MessageStatus.FAILED
    assert len(stored.error_message) == 500 and stored.error_message.endswith("…")


def test_a_crash_in_the_gateway_leaves_that_row_unknown_and_releases_the_rest(
    db: Engine, dispatcher: Dispatcher
) -> None:
    class Breaks(FakeGateway):
        def send(self, text: OutboundText) -> SendResult:
            if text.body == "second":
                raise RuntimeError("bug in the gateway")
            return super().send(text)

    dispatcher.gateway = Breaks()
    first, second, third = (queue(db, body) for body in ("first", "second", "third"))

    with pytest.raises(RuntimeError):
        dispatcher.run_once()

    assert row(db, first).status is MessageStatus.QUEUED
    assert row(db, second).status is MessageStatus.UNKNOWN  # may have left: reconcile
    released = row(db, third)
    assert (released.status, released.claimed_by, released.sent_at) == (
        MessageStatus.PENDING,
        None,
        None,
    )


def test_stopping_mid_batch_hands_the_unsent_rows_back(
    db: Engine, gateway: FakeGateway, time: FakeClock
) -> None:
    stop = threading.Event()

    class StopsAfterOne(FakeGateway):
        def send(self, text: OutboundText) -> SendResult:
            stop.set()  # SIGTERM arrives during the first hand-over
            return super().send(text)

    dispatcher = dispatcher_for(db, StopsAfterOne(clock=time), time)
    for number in range(3):
        queue(db, f"text {number}")

    assert dispatcher.run_once(stop=stop) == 1
    assert statuses(db) == [MessageStatus.QUEUED, MessageStatus.PENDING, MessageStatus.PENDING]


def test_run_forever_sends_until_stopped(db: Engine, gateway: FakeGateway) -> None:
    dispatcher = Dispatcher(db=db, gateway=gateway, dispatcher_id="loop:1")
    stop = threading.Event()
    worker = threading.Thread(
        target=dispatcher.run_forever, args=(stop,), kwargs={"idle_seconds": 0.01}
    )
    worker.start()
    try:
        for number in range(5):
            queue(db, f"text {number}")
        _wait_for(lambda: len(gateway.outbox) == 5)
    finally:
        stop.set()
        worker.join(timeout=60)
    assert not worker.is_alive()
    assert set(statuses(db)) == {MessageStatus.QUEUED}


# -- reconciliation -----------------------------------------------------------------------------


def test_a_text_the_provider_has_is_recorded_as_sent_after_the_grace_period(
    db: Engine, dispatcher: Dispatcher, gateway: FakeGateway, time: FakeClock
) -> None:
    gateway.fail_next(SendOutcome.RETRYABLE, maybe_accepted=True, kept=True)
    message_id = queue(db)
    dispatcher.run_once()
    assert row(db, message_id).status is MessageStatus.UNKNOWN

    time.advance(timedelta(minutes=1))
    assert dispatcher.reconcile().total == 0  # too recent: its dispatcher may still be at it
    time.advance(timedelta(minutes=2))
    report = dispatcher.reconcile()

    assert (report.found, report.total) == (1, 1)
    stored = row(db, message_id)
    assert stored.status is MessageStatus.SENT
    assert stored.provider_sid == gateway.held[0].sid
    assert stored.sent_at == START
    assert dispatcher.run_once() == 0
    assert len(gateway.outbox) == 1  # found, not resent


def test_a_text_the_provider_never_got_goes_back_to_the_outbox(
    db: Engine, dispatcher: Dispatcher, gateway: FakeGateway, time: FakeClock
) -> None:
    gateway.fail_next(SendOutcome.RETRYABLE, maybe_accepted=True)  # lost on the way in
    message_id = queue(db)
    dispatcher.run_once()

    time.advance(timedelta(minutes=3))
    report = dispatcher.reconcile()

    assert report.requeued == 1
    stored = row(db, message_id)
    assert (stored.status, stored.attempts, stored.claimed_by) == (MessageStatus.PENDING, 0, None)
    assert dispatcher.run_once() == 1
    assert [sent.body for sent in gateway.outbox] == ["Hi"]  # once


def test_a_crash_between_claim_and_hand_over_is_requeued_once_checked(
    db: Engine, dispatcher: Dispatcher, gateway: FakeGateway, time: FakeClock
) -> None:
    message_id = queue(db)
    dispatcher.claim_batch(10, time())  # ... and the process dies here

    assert dispatcher.run_once() == 0  # never blindly resent
    report = dispatcher.reconcile(time(), grace=timedelta(0))

    assert report.requeued == 1
    assert dispatcher.run_once() == 1
    assert row(db, message_id).status is MessageStatus.QUEUED
    assert len(gateway.outbox) == 1


def test_a_claimed_text_never_handed_over_is_requeued_even_where_nothing_can_be_looked_up(
    db: Engine, dispatcher: Dispatcher, time: FakeClock
) -> None:
    message_id = queue(db)
    dispatcher.claim_batch(10, time())  # ... and the process dies before the hand-over
    dispatcher.gateway = ConsoleGateway()

    report = dispatcher.reconcile(time() + timedelta(minutes=3))

    assert (report.requeued, report.failed) == (1, 0)
    assert row(db, message_id).status is MessageStatus.PENDING
    assert dispatcher.run_once() == 1


def test_twin_texts_are_matched_to_different_provider_messages(
    db: Engine, dispatcher: Dispatcher, gateway: FakeGateway, time: FakeClock
) -> None:
    # The same words to the same number twice, both answered with a timeout.
    for _ in range(2):
        gateway.fail_next(SendOutcome.RETRYABLE, maybe_accepted=True, kept=True)
    first, second = queue(db, "Reply Y"), queue(db, "Reply Y")
    dispatcher.run_once()

    time.advance(timedelta(minutes=3))
    assert dispatcher.reconcile().found == 2

    assert {row(db, first).provider_sid, row(db, second).provider_sid} == {
        held.sid for held in gateway.held
    }


def test_a_failed_lookup_leaves_the_row_unknown(
    db: Engine, dispatcher: Dispatcher, gateway: FakeGateway, time: FakeClock
) -> None:
    gateway.fail_next(SendOutcome.RETRYABLE, maybe_accepted=True, kept=True)
    message_id = queue(db)
    dispatcher.run_once()
    gateway.lookup_fails = True

    time.advance(timedelta(minutes=3))
    assert dispatcher.reconcile().unresolved == 1
    assert row(db, message_id).status is MessageStatus.UNKNOWN

    gateway.lookup_fails = False  # the provider answers again
    assert dispatcher.reconcile().found == 1


def test_a_gateway_that_cannot_look_up_fails_the_text_rather_than_guess(
    db: Engine, dispatcher: Dispatcher, gateway: FakeGateway, time: FakeClock
) -> None:
    gateway.fail_next(SendOutcome.RETRYABLE, maybe_accepted=True, kept=True)
    message_id = queue(db)
    dispatcher.run_once()  # handed over; the answer never came
    dispatcher.gateway = ConsoleGateway()

    report = dispatcher.reconcile(time() + timedelta(minutes=3))

    assert report.failed == 1
    stored = row(db, message_id)
    assert stored.status is MessageStatus.FAILED
    assert stored.error_message == "fate unknown: the console gateway cannot confirm"


def test_reconciling_through_twilio_finds_a_text_sent_before_a_timeout(db: Engine) -> None:
    # The real client against the fake server: Twilio creates the message, then the answer
    # comes too late. The text must be found by the lookup, not sent again.
    with FakeTwilioServer() as server:
        gateway = TwilioGateway(
            server.account_sid,
            server.auth_token,
            from_number=SENDER,
            api_base_url=server.base_url,
            timeout=1.0,
        )
        dispatcher = Dispatcher(db=db, gateway=gateway, dispatcher_id="twilio:1")
        throttled = queue(db, "throttled")
        server.fail_next(status=429)
        dispatcher.run_once()
        assert row(db, throttled).status is MessageStatus.PENDING
        assert row(db, throttled).error_code == 20429

        slow = queue(db, "slow", phone=BOB)
        server.hold_answers()  # Twilio takes the text; its answer comes after our timeout
        dispatcher.send_one(slow)
        server.release_answers()
        assert row(db, slow).status is MessageStatus.UNKNOWN

        report = dispatcher.reconcile(grace=timedelta(0))

        assert report.found == 1
        stored = row(db, slow)
        assert stored.status is MessageStatus.QUEUED
        assert stored.provider_sid == server.messages[-1]["sid"]
        assert Counter(message["Body"] for message in server.messages) == {"slow": 1}


def test_the_twilio_lookup_finds_the_oldest_unclaimed_copy_since_the_hand_over() -> None:
    clock = FakeClock(START)
    with FakeTwilioServer(clock=clock) as server:
        gateway = TwilioGateway(
            server.account_sid, server.auth_token, from_number=SENDER, api_base_url=server.base_url
        )
        gateway.send(OutboundText(to=ALICE, body="Reply Y"))  # yesterday's twin
        clock.advance(timedelta(days=1))
        handed_over = clock()
        first = gateway.send(OutboundText(to=ALICE, body="Reply Y")).provider_sid
        clock.advance(timedelta(seconds=5))
        second = gateway.send(OutboundText(to=ALICE, body="Reply Y")).provider_sid
        gateway.send(OutboundText(to=ALICE, body="Other words"))
        gateway.send(OutboundText(to=BOB, body="Reply Y"))

        wanted = OutboundText(to=ALICE, body="Reply Y")
        found = gateway.lookup(wanted, handed_over)
        assert found == SendResult(
            outcome=SendOutcome.ACCEPTED, provider_sid=first, status="queued"
        )
        assert gateway.lookup(wanted, handed_over, skip_sids={first}).provider_sid == second
        assert gateway.lookup(wanted, handed_over, skip_sids={first, second}) is None
        assert gateway.lookup(OutboundText(to=ALICE, body="Never sent"), handed_over) is None
    # Twilio unreachable: an error, never "not found" (which would invite a resend).
    with pytest.raises(ProviderLookupError, match="could not list Twilio messages"):
        gateway.lookup(wanted, handed_over)


# -- several dispatchers ------------------------------------------------------------------------


def test_concurrent_dispatchers_never_send_a_row_twice(
    database_url: str, db: Engine, time: FakeClock
) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("several dispatchers at once are a PostgreSQL deployment")

    class Slow(FakeGateway):
        def send(self, text: OutboundText) -> SendResult:
            threading.Event().wait(0.002)  # a network round trip, letting the other one in
            return super().send(text)

    gateway = Slow()
    bodies = [f"text {number}" for number in range(60)]
    for body in bodies:
        queue(db, body)
    worker_dbs = [make_db(database_url) for _ in range(2)]
    dispatchers = [
        Dispatcher(db=worker_db, gateway=gateway, dispatcher_id=f"worker:{n}", batch_size=4)
        for n, worker_db in enumerate(worker_dbs)
    ]
    start = threading.Barrier(len(dispatchers))
    errors: list[BaseException] = []

    def drain(dispatcher: Dispatcher) -> None:
        try:
            start.wait()
            while dispatcher.run_once():
                pass
        except BaseException as error:  # reported by the test thread
            errors.append(error)

    threads = [threading.Thread(target=drain, args=(d,)) for d in dispatchers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    for worker_db in worker_dbs:
        worker_db.dispose()

    assert errors == []
    assert sorted(sent.body for sent in gateway.attempts) == sorted(bodies)  # each exactly once
    assert set(statuses(db)) == {MessageStatus.QUEUED}
    with db.connect() as connection:
        workers = Counter(connection.scalars(select(MESSAGES.c.claimed_by)))
    assert set(workers) == {"worker:0", "worker:1"}  # both did work, side by side


def test_a_claim_skips_rows_another_dispatcher_has_locked(
    database_url: str, db: Engine, dispatcher: Dispatcher
) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("row locks are PostgreSQL's; SQLite has one writer at a time")
    ids = [queue(db, f"text {number}") for number in range(4)]
    other = make_db(database_url)
    claimed: list[ClaimedText] = []
    try:
        with other.begin() as connection:
            connection.execute(
                select(MESSAGES.c.id).where(MESSAGES.c.id.in_(ids[:2])).with_for_update()
            ).all()
            # In another thread, so that a claim that waited for the lock would fail the test
            # instead of hanging it.
            claimer = threading.Thread(
                target=lambda: claimed.extend(dispatcher.claim_batch(10, START))
            )
            claimer.start()
            claimer.join(timeout=60)
            assert not claimer.is_alive(), "the claim waited for a locked row"
    finally:
        other.dispose()
    assert [text.message_id for text in claimed] == ids[2:]


def _rows(db: Engine) -> list[Any]:
    with db.connect() as connection:
        return connection.execute(select(MESSAGES).order_by(MESSAGES.c.id)).all()


def _wait_for(condition: Any, timeout: float = 60.0) -> None:
    deadline = monotonic() + timeout
    while not condition():
        if monotonic() > deadline:
            raise AssertionError(f"still waiting after {timeout} s")
        sleep(0.01)

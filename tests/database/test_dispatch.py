"""The dispatcher: consent re-checked at send time, answers recorded, nothing sent twice."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask
from sqlmodel import Session, select

from bot.app import create_app, services_of
from bot.domain.vocabulary import Delivery, MessageStatus, Purpose, SubscriberStatus
from bot.sending.gateways.base import SendOutcome
from bot.sending.gateways.fake import FakeGateway
from bot.sending.outbox import queue_text
from bot.settings import Settings
from bot.store.db import transaction
from bot.store.models import Message
from bot.store.subscribers import change_status, claim_subscriber, get_subscriber
from bot.testing.clock import FakeClock
from tests.support.inbox import NOON_IN_SF
from tests.support.sms import ALICE


@pytest.fixture
def app(settings: Settings, gateway: FakeGateway) -> Iterator[Flask]:
    """The app at noon in the US: promotions here go out at once, whenever the suite runs
    (on the real clock they waited for New York's morning at night, and these tests failed)."""
    app = create_app(settings, gateway=gateway, clock=FakeClock(NOON_IN_SF))
    app.config["TESTING"] = True
    yield app
    services_of(app).close()


def queue(app: Flask, *, purpose: Purpose, status: SubscriberStatus, body: str = "Hi") -> int:
    now = services_of(app).conversations.clock()
    with transaction(services_of(app).db) as connection:
        subscriber = claim_subscriber(connection, ALICE, now)
        change_status(connection, subscriber, status, now)
        queued = queue_text(
            connection, subscriber, body=body, purpose=purpose, delivery=Delivery.OUTBOX, now=now
        )
        return queued.id


def stored(session: Session, message_id: int) -> Message:
    session.rollback()
    message = session.get(Message, message_id)
    assert message is not None
    return message


def test_policy_refuses_a_promotion_to_an_opted_out_number(
    app: Flask, gateway: FakeGateway, session: Session
) -> None:
    message_id = queue(app, purpose=Purpose.PROMOTIONAL, status=SubscriberStatus.UNSUBSCRIBED)
    services_of(app).dispatcher.send([message_id])
    assert gateway.attempts == []
    message = stored(session, message_id)
    assert message.status is MessageStatus.SUPPRESSED
    assert message.error_message == "recipient opted out"


def test_an_opt_out_after_queueing_stops_the_send(
    app: Flask, gateway: FakeGateway, session: Session
) -> None:
    message_id = queue(app, purpose=Purpose.PROMOTIONAL, status=SubscriberStatus.SUBSCRIBED)
    now = services_of(app).conversations.clock()
    with transaction(services_of(app).db) as connection:
        subscriber = claim_subscriber(connection, ALICE, now)
        change_status(connection, subscriber, SubscriberStatus.UNSUBSCRIBED, now)
    services_of(app).dispatcher.send([message_id])
    assert gateway.attempts == []
    assert stored(session, message_id).status is MessageStatus.SUPPRESSED


def test_accepted_send_records_the_provider_sid(
    app: Flask, gateway: FakeGateway, session: Session
) -> None:
    message_id = queue(app, purpose=Purpose.PROMOTIONAL, status=SubscriberStatus.SUBSCRIBED)
    services_of(app).dispatcher.send([message_id])
    services_of(app).dispatcher.send([message_id])  # a second call finds nothing pending
    assert len(gateway.outbox) == 1
    message = stored(session, message_id)
    assert message.status is MessageStatus.QUEUED
    assert message.provider_sid and message.provider_sid.startswith("SM")


def test_carrier_opt_out_marks_the_number_unsubscribed(
    app: Flask, gateway: FakeGateway, session: Session
) -> None:
    gateway.opted_out.add(ALICE)
    message_id = queue(app, purpose=Purpose.PROMOTIONAL, status=SubscriberStatus.SUBSCRIBED)
    services_of(app).dispatcher.send([message_id])
    message = stored(session, message_id)
    assert message.status is MessageStatus.FAILED and message.error_code == 21610
    with services_of(app).db.connect() as connection:
        subscriber = get_subscriber(connection, ALICE)
    assert subscriber is not None and subscriber.status is SubscriberStatus.UNSUBSCRIBED


@pytest.mark.parametrize(
    ("outcome", "maybe_accepted", "status"),
    [
        (SendOutcome.RETRYABLE, False, MessageStatus.PENDING),  # never reached: safe to retry
        (SendOutcome.RETRYABLE, True, MessageStatus.UNKNOWN),  # may have reached: reconcile
        (SendOutcome.FAILED, False, MessageStatus.FAILED),
    ],
)
def test_provider_failures_leave_the_right_state(
    app: Flask,
    gateway: FakeGateway,
    session: Session,
    outcome: SendOutcome,
    maybe_accepted: bool,
    status: MessageStatus,
) -> None:
    gateway.fail_next(outcome, maybe_accepted=maybe_accepted)
    message_id = queue(app, purpose=Purpose.TRANSACTIONAL, status=SubscriberStatus.SUBSCRIBED)
    services_of(app).dispatcher.send([message_id])
    assert stored(session, message_id).status is status


def test_a_crash_mid_send_leaves_the_row_unknown_not_pending(app: Flask, session: Session) -> None:
    class CrashingGateway:
        name = "crash"

        def send(self, text):  # type: ignore[no-untyped-def]
            raise SystemExit("power cut")

    message_id = queue(app, purpose=Purpose.TRANSACTIONAL, status=SubscriberStatus.SUBSCRIBED)
    dispatcher = services_of(app).dispatcher
    dispatcher.gateway = CrashingGateway()  # type: ignore[assignment]
    with pytest.raises(SystemExit):
        dispatcher.send([message_id])
    # Never picked up again as pending: its fate is reconciled with the provider instead.
    assert stored(session, message_id).status is MessageStatus.UNKNOWN
    assert session.exec(select(Message).where(Message.status == "pending")).all() == []

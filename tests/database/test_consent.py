"""JOIN, Y, STOP, START and HELP end to end through the webhook, on both databases."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient
from sqlmodel import Session, select

from bot.domain.vocabulary import ConsentKind, SubscriberStatus
from bot.store.models import ConsentEvent, Message, Subscriber
from tests.support.sms import ALICE, reply_to, text

A_PERSON_WILL_ANSWER = "Thanks for your message! A person will get back to you shortly."


def status_of(session: Session, phone: str = ALICE) -> SubscriberStatus | None:
    session.rollback()
    subscriber = session.exec(select(Subscriber).where(Subscriber.phone == phone)).first()
    return subscriber.status if subscriber else None


def ledger(session: Session, phone: str = ALICE) -> list[tuple[ConsentKind, str, str | None]]:
    session.rollback()
    rows = session.exec(
        select(ConsentEvent).where(ConsentEvent.phone == phone).order_by(ConsentEvent.id)
    ).all()
    return [(row.kind, row.source, row.text) for row in rows]


def subscribe(client: FlaskClient) -> None:
    reply_to(client, "JOIN")
    reply_to(client, "Y")


def test_join_then_yes_is_double_opt_in(client: FlaskClient, session: Session) -> None:
    [ask] = reply_to(client, "JOIN")
    assert "Reply Y" in ask and "Acme" in ask
    assert status_of(session) is SubscriberStatus.PENDING

    [confirmation] = reply_to(client, "yes")
    assert status_of(session) is SubscriberStatus.SUBSCRIBED
    assert "Acme" in confirmation and "HELP" in confirmation and "STOP" in confirmation
    assert ledger(session) == [
        (ConsentKind.OPT_IN_REQUESTED, "sms", "JOIN"),
        (ConsentKind.OPT_IN, "sms", "yes"),
    ]


def test_yes_without_a_pending_join_changes_nothing(client: FlaskClient, session: Session) -> None:
    # No consent changes; like any text no flow takes, it goes to a person (and says so).
    assert reply_to(client, "YES") == [A_PERSON_WILL_ANSWER]
    assert status_of(session) is SubscriberStatus.NEW
    assert ledger(session) == []


def test_join_when_already_subscribed_says_so(client: FlaskClient, session: Session) -> None:
    subscribe(client)
    [answer] = reply_to(client, "JOIN")
    assert "already subscribed" in answer
    assert status_of(session) is SubscriberStatus.SUBSCRIBED


def test_brand_keyword_starts_double_opt_in(app, client: FlaskClient, session: Session) -> None:
    from bot.app import services_of
    from bot.domain.keywords import load_vocabulary

    services_of(app).conversations.vocabulary = load_vocabulary(extra_join=["DEALS"])
    [ask] = reply_to(client, "deals")
    assert "Reply Y" in ask
    assert status_of(session) is SubscriberStatus.PENDING


@pytest.mark.parametrize(
    "state_setup",
    [[], ["JOIN"], ["JOIN", "Y"], ["JOIN", "Y", "STOP", "START"]],
    ids=["new", "pending", "subscribed", "resubscribed"],
)
@pytest.mark.parametrize("stop_text", ["STOP", "stop please", "Unsubscribe", "ＳＴＯＰ", "Baja"])
def test_stop_opts_out_from_every_state_with_one_confirmation(
    client: FlaskClient, session: Session, state_setup: list[str], stop_text: str
) -> None:
    for body in state_setup:
        reply_to(client, body)
    answer = reply_to(client, stop_text)
    assert len(answer) == 1
    assert "unsubscribed" in answer[0] and "START" in answer[0]
    assert status_of(session) is SubscriberStatus.UNSUBSCRIBED
    assert ledger(session)[-1] == (ConsentKind.OPT_OUT, "sms", stop_text)


def test_second_stop_sends_nothing_more(client: FlaskClient, session: Session) -> None:
    subscribe(client)
    assert len(reply_to(client, "STOP")) == 1
    assert reply_to(client, "STOP") == []
    assert [kind for kind, _, _ in ledger(session)].count(ConsentKind.OPT_OUT) == 2


def test_join_after_stop_asks_again_for_confirmation(client: FlaskClient, session: Session) -> None:
    subscribe(client)
    reply_to(client, "STOP")
    assert reply_to(client, "hello?") == []
    [ask] = reply_to(client, "JOIN")
    assert "Reply Y" in ask
    assert status_of(session) is SubscriberStatus.PENDING


def test_help_is_answered_in_every_state(client: FlaskClient) -> None:
    for setup in ([], ["JOIN"], ["Y"], ["STOP"]):
        for body in setup:
            reply_to(client, body)
        [answer] = reply_to(client, "HELP")
        assert "Acme" in answer
        assert "help@acme.test" in answer
        assert "Msg & data rates may apply" in answer
        assert "STOP" in answer


def test_start_after_stop_resubscribes(client: FlaskClient, session: Session) -> None:
    subscribe(client)
    reply_to(client, "STOP")
    [answer] = reply_to(client, "START")
    assert "subscribed" in answer and "STOP" in answer
    assert status_of(session) is SubscriberStatus.SUBSCRIBED


def test_start_from_a_stranger_asks_for_confirmation(client: FlaskClient, session: Session) -> None:
    [answer] = reply_to(client, "START")
    assert "Reply Y" in answer
    assert status_of(session) is SubscriberStatus.PENDING


def test_ordinary_text_is_not_a_keyword(client: FlaskClient, session: Session) -> None:
    subscribe(client)
    # Questions for a person, not keywords: acknowledged once, then left to the agents.
    assert reply_to(client, "when does the sale end?") == [A_PERSON_WILL_ANSWER]
    assert reply_to(client, "can I cancel my order?") == []
    assert status_of(session) is SubscriberStatus.SUBSCRIBED


@pytest.mark.parametrize(
    ("body", "opt_out_type", "status"),
    [
        ("STOP", "STOP", SubscriberStatus.UNSUBSCRIBED),
        ("ARRET", "STOP", SubscriberStatus.UNSUBSCRIBED),  # Twilio's own list decides
        ("HELP", "HELP", SubscriberStatus.NEW),
    ],
)
def test_advanced_opt_out_records_but_does_not_reply_twice(
    client: FlaskClient, session: Session, body: str, opt_out_type: str, status: SubscriberStatus
) -> None:
    assert reply_to(client, body, OptOutType=opt_out_type) == []
    assert status_of(session) is status


def test_advanced_opt_out_start_resubscribes_silently(
    client: FlaskClient, session: Session
) -> None:
    subscribe(client)
    reply_to(client, "STOP", OptOutType="STOP")
    assert reply_to(client, "START", OptOutType="START") == []
    assert status_of(session) is SubscriberStatus.SUBSCRIBED
    assert ledger(session)[-1][0] is ConsentKind.OPT_IN


def test_every_text_is_logged_both_ways(client: FlaskClient, session: Session) -> None:
    text(client, "JOIN")
    messages = session.exec(select(Message).order_by(Message.id)).all()
    assert [(m.direction, m.body.split(":")[0]) for m in messages] == [
        ("inbound", "JOIN"),
        ("outbound", "Acme"),
    ]
    outbound = messages[1]
    assert outbound.in_reply_to_id == messages[0].id
    assert outbound.segments == 1 and outbound.encoding == "GSM-7"

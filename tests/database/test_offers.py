"""Keyword offers and the joining incentive, through the real webhook: what a phone sees."""

from __future__ import annotations

import threading
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from actions.coupons import DEV_SECRET, coupon_code
from bot.domain.vocabulary import Direction
from bot.store.db import transaction
from bot.store.issued_once import issue_once
from bot.store.models import Conversation, IssuedOnce, Message, Subscriber
from bot.store.tables import SUBSCRIBERS
from tests.support.databases import PostgresDatabase
from tests.support.flow_app import FlowApp, write
from tests.support.paths import SHIPPED_FLOWS
from tests.support.sms import ALICE, BOB, reply_to

INVITATION = (
    "Acme: Reply Y to confirm you want recurring marketing texts and get a chance to win a "
    "$500 gift card. Msg & data rates may apply. Reply HELP for help, STOP to cancel."
)
ALICE_CODE = coupon_code(ALICE, "default", DEV_SECRET)
WIN_REPLY = (
    "Acme: You're in the draw for a $500 gift card, drawn on the 1st! Meanwhile, 10% off: "
    f"{ALICE_CODE}. Reply STOP to opt out."
)
CODE_TEXT = f"Your code is {ALICE_CODE}: 10% off, valid 7 days."
# A welcome that greets every (re)join: only the coupon step's once_per_person holds it back.
EVERY_JOIN_WELCOME = """\
flow: welcome
triggers:
  events: [subscribed]
  restart: always
settings:
  promotional: true
steps:
  - send: "Welcome to {brand}! Reply STOP to opt out."
  - action: action_issue_coupon
    provides: [coupon_code]
    once_per_person: true
"""


@pytest.fixture
def shipped(database_url: str) -> FlowApp:
    return FlowApp(database_url, SHIPPED_FLOWS)


def flows_of(app: FlowApp) -> list[str]:
    return [conversation.flow for conversation in app.rows(Conversation)]


def status_of(app: FlowApp, phone: str = ALICE) -> str:
    [row] = [row for row in app.rows(Subscriber) if row.phone == phone]
    return str(row.status)


def test_win_from_a_stranger_brings_an_invitation_then_the_offer_after_y(
    shipped: FlowApp,
) -> None:
    assert shipped.text("WIN") == [INVITATION]
    assert status_of(shipped) == "pending"
    assert shipped.text("Y") == [
        "Acme: You are subscribed! Msg frequency varies. Msg & data rates may apply. "
        "Reply HELP for help, STOP to opt out.",
        WIN_REPLY,
    ]
    # The offer takes the welcome series' place: one conversation, the one asked for.
    assert flows_of(shipped) == ["offer_win"]


def test_a_pending_number_texting_win_is_invited_again_and_the_offer_follows_y(
    shipped: FlowApp,
) -> None:
    shipped.text("JOIN")
    assert shipped.text("win!") == [INVITATION]
    assert shipped.text("YES")[1:] == [WIN_REPLY]


def test_a_subscriber_who_texts_win_gets_the_offer_at_once(shipped: FlowApp) -> None:
    shipped.text("JOIN")
    welcome = shipped.text("Y")[1]
    assert welcome.startswith("Welcome to Acme") and ALICE_CODE in welcome
    # One code per person: the offer's reply names the code the welcome made.
    assert shipped.text("WIN") == [WIN_REPLY]
    assert flows_of(shipped) == ["welcome", "offer_win"]
    assert [row.key for row in shipped.rows(IssuedOnce)] == ["action_create_coupon"]


def test_join_without_an_offer_gets_the_welcome_and_names_the_incentive(
    database_url: str,
) -> None:
    app = FlowApp(database_url, SHIPPED_FLOWS, INCENTIVE="10% off your first order")
    [invitation] = app.text("JOIN")
    assert "Reply Y to confirm you want recurring marketing texts and get 10% off your " in (
        invitation
    )
    assert f"Your code for your first order: {ALICE_CODE}." in app.text("Y")[1]
    assert flows_of(app) == ["welcome"]


def test_an_opted_out_number_that_texts_win_gets_nothing(shipped: FlowApp) -> None:
    shipped.text("JOIN")
    shipped.text("Y")
    shipped.text("STOP")
    sent = len(shipped.gateway.outbox)
    assert shipped.text("WIN") == []
    assert len(shipped.gateway.outbox) == sent
    assert status_of(shipped) == "unsubscribed"
    assert flows_of(shipped) == ["welcome"]


@pytest.fixture
def welcomes_every_join(database_url: str, flows_dir: Path) -> FlowApp:
    write(flows_dir, "welcome.yaml", EVERY_JOIN_WELCOME)
    return FlowApp(database_url, flows_dir)


def test_the_coupon_comes_once_per_person_across_stop_start_and_join(
    welcomes_every_join: FlowApp,
) -> None:
    app = welcomes_every_join
    app.text("JOIN")
    assert app.text("Y")[1:] == ["Welcome to Acme! Reply STOP to opt out.", CODE_TEXT]
    app.text("STOP")
    assert app.text("START")[1:] == ["Welcome to Acme! Reply STOP to opt out."]
    app.text("STOP")
    assert "Reply Y" in app.text("JOIN")[0]
    assert app.text("Y")[1:] == ["Welcome to Acme! Reply STOP to opt out."]
    assert flows_of(app) == ["welcome"] * 3
    assert [row.key for row in app.rows(IssuedOnce)] == ["action_issue_coupon"]
    # Bob is another person: his own code.
    app.text("JOIN", phone=BOB)
    assert app.text("Y", phone=BOB)[2].startswith("Your code is ")


def test_concurrent_claims_issue_once(postgres_database: PostgresDatabase) -> None:
    """Two transactions claim at the same moment: the unique pair lets exactly one win."""
    app = FlowApp(postgres_database.fresh(), SHIPPED_FLOWS)
    app.text("HELP")  # Alice is on file
    with app.db.connect() as connection:
        alice = connection.execute(select(SUBSCRIBERS.c.id).where(SUBSCRIBERS.c.phone == ALICE))
        subscriber_id = alice.scalar_one()
    both_in = threading.Barrier(2)
    won: list[bool] = []

    def claim() -> None:
        with transaction(app.db) as connection:
            both_in.wait()  # both transactions are open before either inserts
            won.append(
                issue_once(connection, subscriber_id=subscriber_id, key="k", now=app.clock())
            )

    threads = [threading.Thread(target=claim) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(won) == [False, True]


def test_two_confirmations_at_once_text_one_code(postgres_database: PostgresDatabase) -> None:
    app = FlowApp(postgres_database.fresh(), SHIPPED_FLOWS)
    app.text("WIN")
    both_ready = threading.Barrier(2)
    clients = [app.app.test_client() for _ in range(2)]

    def confirm(index: int) -> None:
        both_ready.wait()
        reply_to(clients[index], "Y")

    threads = [threading.Thread(target=confirm, args=(index,)) for index in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert app.services.action_pool.wait_idle(30.0)
    texted = [row.body for row in app.rows(Message) if row.direction == Direction.OUTBOUND]
    assert [body for body in texted if ALICE_CODE in body] == [WIN_REPLY]
    assert len(app.rows(IssuedOnce)) == 1


def test_a_reply_offer_comes_once_a_day_however_often_the_keyword_is_texted(
    shipped: FlowApp,
) -> None:
    # It answers the person's own text, so no cap holds it: its own restart rule must.
    shipped.text("JOIN")
    shipped.text("Y")
    assert shipped.text("WIN") == [WIN_REPLY]
    for _ in range(4):
        assert WIN_REPLY not in shipped.text("WIN")
    shipped.let_time_pass(timedelta(days=1))
    assert shipped.text("WIN") == [WIN_REPLY]

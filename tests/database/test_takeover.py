"""Agents and the bot sharing a chat: takeover, replies, hand-back, idle release, inbox lists."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import Session, select

from bot.conversations.inbox_lists import inbox_queue, recent_conversations, waiting_people
from bot.conversations.takeover import (
    TakeoverError,
    agent_reply,
    hand_back,
    release_idle,
    take_from_queue,
    take_over,
)
from bot.store.db import transaction
from bot.store.models import Agent, Message
from tests.support.harness import AppHarness
from tests.support.sms import BOB

NOON_IN_SF = datetime(2026, 1, 5, 20, 0, tzinfo=UTC)


class Desk(AppHarness):
    """The app with the shipped flows and two agents."""

    def __init__(self, database_url: str) -> None:
        super().__init__(database_url, now=NOON_IN_SF)
        self.dana = self._agent("dana@acme.test", "Dana")
        self.eli = self._agent("eli@acme.test", "Eli")

    def _agent(self, email: str, name: str) -> int:
        with transaction(self.services.db) as connection:
            return connection.execute(
                Agent.__table__.insert()
                .values(
                    email=email,
                    name=name,
                    password_hash="-",
                    is_admin=False,
                    disabled=False,
                    created_at=NOON_IN_SF,
                )
                .returning(Agent.__table__.c.id)
            ).scalar_one()

    def handed_off(self) -> int:
        for body in ("FEEDBACK", "1", "The box was crushed", "yes please"):
            self.text(body)
        [item] = inbox_queue(self.services.db, self.dana)
        return item.conversation_id

    def sent(self) -> list[str]:
        return [text.body for text in self.gateway.outbox]


@pytest.fixture
def desk(database_url: str) -> Desk:
    return Desk(database_url)


def test_a_handoff_waits_in_the_queue_with_its_reason(desk: Desk) -> None:
    conversation_id = desk.handed_off()
    [item] = inbox_queue(desk.services.db, desk.dana)
    assert (item.conversation_id, item.handled_by, item.reason) == (
        conversation_id,
        "waiting_for_agent",
        "low rating",
    )
    assert item.last_text == "yes please"


def test_two_agents_cannot_hold_one_chat(desk: Desk) -> None:
    conversation_id = desk.handed_off()
    take_over(desk.services, conversation_id=conversation_id, agent_id=desk.dana)
    take_over(desk.services, conversation_id=conversation_id, agent_id=desk.dana)  # idempotent
    with pytest.raises(TakeoverError, match="Dana already has this chat"):
        take_over(desk.services, conversation_id=conversation_id, agent_id=desk.eli)
    with pytest.raises(TakeoverError, match="Only the agent who has this chat"):
        hand_back(desk.services, conversation_id=conversation_id, agent_id=desk.eli)


def test_during_a_takeover_the_bot_is_quiet_and_the_agent_replies(desk: Desk) -> None:
    conversation_id = desk.handed_off()
    take_over(desk.services, conversation_id=conversation_id, agent_id=desk.dana)
    assert desk.text("hello? is anyone there?") == []
    agent_reply(
        desk.services, conversation_id=conversation_id, agent_id=desk.dana, body="Hi, Dana here!"
    )
    assert desk.sent()[-1] == "Hi, Dana here!"
    with Session(desk.services.db) as session:
        reply = session.scalars(select(Message).where(Message.body == "Hi, Dana here!")).one()
        assert reply.agent_id == desk.dana and reply.status == "queued"


def test_handing_back_resumes_the_flow_where_it_says(desk: Desk) -> None:
    conversation_id = desk.handed_off()
    take_over(desk.services, conversation_id=conversation_id, agent_id=desk.dana)
    hand_back(desk.services, conversation_id=conversation_id, agent_id=desk.dana)
    desk.let_time_pass(timedelta(seconds=1))
    assert desk.sent()[-1] == "Thank you for your feedback!"  # the handoff step's `next`
    assert desk.conversation(conversation_id).end_reason == "completed"
    assert "recommend us" in desk.text("SURVEY")[0]  # and the bot answers the next text


def test_timers_wait_during_a_takeover_and_fire_after_it(desk: Desk) -> None:
    desk.text("SURVEY")  # a question with a 1-day timeout
    [conversation] = [row for row in recent_conversations(desk.services.db, None)]
    take_over(desk.services, conversation_id=conversation.conversation_id, agent_id=desk.dana)
    desk.let_time_pass(timedelta(days=1, hours=1))
    assert not any("Got a second" in body for body in desk.sent())
    assert desk.conversation(conversation.conversation_id).wake_kind == "timeout"  # still set
    hand_back(desk.services, conversation_id=conversation.conversation_id, agent_id=desk.dana)
    desk.let_time_pass(timedelta(seconds=1))
    assert "Got a second" in desk.sent()[-1]


def test_stop_during_a_takeover_opts_out_and_the_reply_box_refuses(desk: Desk) -> None:
    conversation_id = desk.handed_off()
    take_over(desk.services, conversation_id=conversation_id, agent_id=desk.dana)
    assert "unsubscribed" in desk.text("STOP")[0]
    assert desk.conversation(conversation_id).end_reason == "opted out"
    with pytest.raises(TakeoverError, match="This conversation has ended"):
        agent_reply(
            desk.services, conversation_id=conversation_id, agent_id=desk.dana, body="Wait!"
        )
    assert "Wait!" not in desk.sent()


def test_a_reply_at_night_goes_if_the_customer_just_wrote(desk: Desk) -> None:
    desk.clock.set(datetime(2026, 1, 6, 7, 0, tzinfo=UTC))  # 23:00 in San Francisco
    conversation_id = desk.handed_off()
    take_over(desk.services, conversation_id=conversation_id, agent_id=desk.dana)
    agent_reply(
        desk.services, conversation_id=conversation_id, agent_id=desk.dana, body="Right away"
    )
    assert desk.sent()[-1] == "Right away"
    desk.clock.advance(timedelta(hours=2))  # 01:00, and the customer has been quiet
    agent_reply(desk.services, conversation_id=conversation_id, agent_id=desk.dana, body="Later")
    assert "Later" not in desk.sent()
    with Session(desk.services.db) as session:
        later = session.scalars(select(Message).where(Message.body == "Later")).one()
        assert later.status == "pending" and later.send_after is not None


def test_an_idle_chat_goes_back_to_the_bot(desk: Desk) -> None:
    conversation_id = desk.handed_off()
    take_over(desk.services, conversation_id=conversation_id, agent_id=desk.dana)
    desk.clock.advance(timedelta(minutes=20))
    assert release_idle(desk.services, idle_after=timedelta(minutes=30)) == 0
    desk.clock.advance(timedelta(minutes=20))
    assert release_idle(desk.services, idle_after=timedelta(minutes=30)) == 1
    assert desk.conversation(conversation_id).handled_by == "bot"


def test_a_text_no_flow_understands_goes_to_the_queue_until_an_agent_handles_it(
    desk: Desk,
) -> None:
    assert desk.text("do you ship to Canada?", phone=BOB) == [
        "Thanks for your message! A person will get back to you shortly."
    ]
    [person] = waiting_people(desk.services.db)
    assert (person.first.phone, person.first.context, person.first.body) == (
        BOB,
        "no flow understood it",
        "do you ship to Canada?",
    )
    assert "recommend us" in desk.text("SURVEY", phone=BOB)[0]  # a keyword still starts a flow
    [still] = waiting_people(desk.services.db)  # and the question still waits for a human
    assert still.first.body == "do you ship to Canada?"
    conversation_id = take_from_queue(desk.services, text_id=still.last.id, agent_id=desk.dana)
    assert desk.conversation(conversation_id).flow == "nps"  # the survey's chat, now Dana's
    assert waiting_people(desk.services.db) == []


def test_recent_conversations_search_by_phone_and_name(desk: Desk) -> None:
    desk.text("SURVEY")
    desk.text("FEEDBACK", phone=BOB)
    assert len(recent_conversations(desk.services.db, None)) == 2
    assert [item.phone for item in recent_conversations(desk.services.db, "0101")] == [BOB]
    assert recent_conversations(desk.services.db, "nobody") == []

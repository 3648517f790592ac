"""No text is dropped: what no step can take reaches the agents' queue, and the person hears so.

Through the real webhook and the real inbox pages, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest
from sqlmodel import Session, select

from bot.conversations.takeover import release_idle
from bot.store.models import Conversation, Message, UnansweredText
from bot.testing.clock import let_time_pass
from tests.support.inbox import Inbox, post
from tests.support.sms import ALICE, BOB, reply_to

WELCOME_ACK = "Thanks for your message! Someone from Acme will text you back shortly."
DEFAULT_ACK = "Thanks for your message! A person will get back to you shortly."
QUESTION = "Where is my order #4411?"
TAKE_FORM = re.compile(r'action="(/inbox/texts/\d+/take)"')
DONE_FORM = re.compile(r'action="(/inbox/texts/\d+/done)"')

DRIP_FLOW = """\
flow: drip
triggers:
  keywords: [DRIP]
steps:
  - send: "Day one!"
  - id: pause
    wait: 1d
  - send: "Day two!"
"""


class Desk(Inbox):
    """The inbox app, plus what a customer texts and what is in the queue."""

    def text(self, body: str, phone: str = ALICE, **extra: str) -> list[str]:
        return reply_to(self.new_client(), body, phone=phone, **extra)

    def subscribe(self, phone: str = ALICE) -> list[str]:
        """JOIN and confirm: the welcome series makes the coupon, texts it, and waits a day."""
        self.text("JOIN", phone)
        before = len(self.gateway.outbox)
        answered = self.text("Y", phone)
        self.settle()  # the coupon action, after the answer
        return answered + [text.body for text in self.gateway.outbox[before:]]

    def open_texts(self) -> list[UnansweredText]:
        return [text for text in self._unanswered() if text.handled_at is None]

    def handled_texts(self) -> list[UnansweredText]:
        return [text for text in self._unanswered() if text.handled_at is not None]

    def _unanswered(self) -> list[UnansweredText]:
        with Session(self.services.db) as session:
            return list(session.scalars(select(UnansweredText).order_by(UnansweredText.id)))

    def conversations(self, phone: str = ALICE) -> list[Conversation]:
        with Session(self.services.db) as session:
            query = select(Conversation).where(Conversation.phone == phone)
            return list(session.scalars(query.order_by(Conversation.id)))

    def wait(self, duration: timedelta) -> list[str]:
        before = len(self.gateway.outbox)
        let_time_pass(self.services, self.clock, duration)
        return [text.body for text in self.gateway.outbox[before:]]


@pytest.fixture
def desk(database_url: str) -> Desk:
    return Desk(database_url)


def custom_desk(database_url: str, tmp_path: Path, **settings: object) -> Desk:
    """The inbox app over a flows folder with the drip flow (no unexpected_reply of its own)."""
    flows = tmp_path / "flows"
    flows.mkdir()
    (flows / "drip.yaml").write_text(DRIP_FLOW, encoding="utf-8")
    return Desk(database_url, flows_dir=flows, **settings)


def test_a_question_during_the_welcome_series_reaches_an_agent_and_the_series_goes_on(
    desk: Desk,
) -> None:
    welcome = desk.subscribe()
    assert any("Welcome to Acme" in body for body in welcome)
    [series] = desk.conversations()
    assert desk.text(QUESTION) == [WELCOME_ACK]  # the welcome flow's own wording

    [waiting] = desk.open_texts()
    assert (waiting.flow, waiting.step) == ("welcome", "wait_a_day")
    queue = desk.logged_in("dana@acme.test").get("/inbox/").get_data(as_text=True)
    assert QUESTION in queue and "sent while welcome waited at wait_a_day" in queue

    [still] = desk.conversations()  # the series is untouched: same step, same timer
    assert (still.id, still.status, still.step, still.wakes_at) == (
        series.id,
        "active",
        "wait_a_day",
        series.wakes_at,
    )
    later = desk.wait(timedelta(days=1))
    assert any("What are you shopping for?" in body for body in later)
    assert len(desk.open_texts()) == 1  # still waiting for a human


def test_a_text_no_flow_understands_is_acknowledged_with_the_default_wording(desk: Desk) -> None:
    assert desk.text("do you ship to Canada", phone=BOB) == [DEFAULT_ACK]
    [waiting] = desk.open_texts()
    assert (waiting.phone, waiting.flow, waiting.context) == (BOB, None, "no flow understood it")


def test_an_answer_after_a_flow_ended_reaches_the_queue_with_that_flow_named(desk: Desk) -> None:
    desk.text("SURVEY")
    desk.wait(timedelta(days=3))  # no answer: the survey gave up
    assert desk.text("9 sorry I was away") == [DEFAULT_ACK]
    [waiting] = desk.open_texts()
    assert waiting.flow == "nps"
    assert waiting.context.startswith("no flow understood it; nps had ended")


@pytest.mark.parametrize(
    ("setting", "expected"),
    [("Got it, a human will reply.", ["Got it, a human will reply."]), ("", [])],
    ids=["chosen", "empty-means-silence"],
)
def test_the_default_wording_is_a_setting(
    database_url: str, tmp_path: Path, setting: str, expected: list[str]
) -> None:
    desk = custom_desk(database_url, tmp_path, UNEXPECTED_REPLY=setting)
    assert desk.text("DRIP") == ["Day one!"]
    assert desk.text(QUESTION) == expected  # drip has no wording of its own
    [waiting] = desk.open_texts()  # silence for the person, never for the agents
    assert (waiting.flow, waiting.step) == ("drip", "pause")
    assert desk.wait(timedelta(days=1)) == ["Day two!"]


def test_the_person_is_acknowledged_once_per_open_item(desk: Desk) -> None:
    assert desk.text(QUESTION) == [DEFAULT_ACK]
    assert desk.text("hello??") == []  # the same item: no second acknowledgement
    assert [text.acknowledgement_id is not None for text in desk.open_texts()] == [True, False]
    queue = desk.logged_in("dana@acme.test").get("/inbox/").get_data(as_text=True)
    assert QUESTION in queue and "hello??" in queue

    [done] = DONE_FORM.findall(queue)
    post(desk.logged_in("dana@acme.test"), done)
    assert desk.open_texts() == []
    assert desk.text("one more question") == [DEFAULT_ACK]  # a new item


def test_a_later_keyword_does_not_close_the_item(desk: Desk) -> None:
    desk.text("do you ship to Canada")
    assert "recommend us" in desk.text("SURVEY")[0]  # the keyword still starts its flow
    [waiting] = desk.open_texts()
    assert waiting.handled_at is None
    queue = desk.logged_in("dana@acme.test").get("/inbox/").get_data(as_text=True)
    assert "do you ship to Canada" in queue


def test_taking_over_from_the_queue_closes_the_item_and_lets_the_agent_reply(desk: Desk) -> None:
    desk.subscribe()
    desk.text(QUESTION)
    dana = desk.logged_in("dana@acme.test")
    [take] = TAKE_FORM.findall(dana.get("/inbox/").get_data(as_text=True))
    taken = post(dana, take)
    [series] = desk.conversations()
    page = f"/inbox/conversations/{series.id}"
    assert taken.location == page  # the welcome series' chat, now Dana's
    assert "You have this chat" in dana.get(page).get_data(as_text=True)
    assert desk.open_texts() == []
    [handled] = desk.handled_texts()
    assert (handled.outcome, handled.handled_by) == ("taken over", desk.dana.id)

    post(dana, f"{page}/reply", body="It ships tomorrow!")
    assert desk.gateway.outbox[-1].body == "It ships tomorrow!"
    post(dana, f"{page}/hand-back")
    later = desk.wait(timedelta(days=1))
    assert any("What are you shopping for?" in body for body in later)  # the series goes on


def test_taking_over_someone_outside_any_flow_opens_a_chat_with_the_agent(desk: Desk) -> None:
    desk.text("do you ship to Canada", phone=BOB)
    dana = desk.logged_in("dana@acme.test")
    [take] = TAKE_FORM.findall(dana.get("/inbox/").get_data(as_text=True))
    page = post(dana, take).location
    post(dana, f"{page}/reply", body="We do!")
    assert desk.gateway.outbox[-1].body == "We do!"
    [chat] = desk.conversations(BOB)
    assert (chat.flow, chat.handled_by, chat.agent_id) == ("inbox", "agent", desk.dana.id)
    post(dana, f"{page}/hand-back")
    assert desk.conversations(BOB)[0].status == "ended"
    assert "recommend us" in desk.text("SURVEY", phone=BOB)[0]  # the bot answers again


def test_an_agent_reply_in_a_chat_closes_the_persons_open_texts(desk: Desk) -> None:
    desk.subscribe()
    desk.text(QUESTION)
    [series] = desk.conversations()
    page = f"/inbox/conversations/{series.id}"
    dana = desk.logged_in("dana@acme.test")
    shown = dana.get(page).get_data(as_text=True)
    assert "Waiting for an answer" in shown and QUESTION in shown
    post(dana, f"{page}/take")
    post(dana, f"{page}/reply", body="It ships tomorrow!")
    assert desk.open_texts() == []
    assert "Waiting for an answer" not in dana.get(page).get_data(as_text=True)


def test_mark_done_from_the_chat_page_keeps_a_text_the_agent_had_not_seen(desk: Desk) -> None:
    desk.text(QUESTION)
    dana = desk.logged_in("dana@acme.test")
    [done] = DONE_FORM.findall(dana.get("/inbox/").get_data(as_text=True))
    desk.text("also, can I change the address")  # arrives while Dana reads the first
    post(dana, done)
    [left] = desk.open_texts()
    assert left.id > int(done.split("/")[3])
    assert post(dana, "/inbox/texts/999999/done").status_code == 302  # a clear flash, no 500
    for beyond_any_row in ("/inbox/texts/99999999999999999999", "/inbox/texts/2147483648"):
        assert post(dana, f"{beyond_any_row}/done").status_code == 302
        assert post(dana, f"{beyond_any_row}/take").status_code == 302
    assert "There is no such text in the queue." in dana.get("/inbox/").get_data(as_text=True)


@pytest.mark.parametrize("pleasantry", ["thanks", "ok", "thank you!", "👍", "merci", "k"])
def test_thanks_needs_no_human_and_gets_no_acknowledgement(desk: Desk, pleasantry: str) -> None:
    desk.subscribe()
    assert desk.text(pleasantry) == []
    assert desk.text(pleasantry, phone=BOB) == []
    assert desk.open_texts() == []


def test_a_picture_without_words_reaches_the_queue(desk: Desk) -> None:
    replies = desk.text("", NumMedia="1", MediaUrl0="https://media.example/broken-box.jpg")
    assert replies == [DEFAULT_ACK]
    assert len(desk.open_texts()) == 1


def test_stop_still_wins_and_an_opted_out_person_is_queued_but_never_texted(desk: Desk) -> None:
    desk.subscribe()
    [confirmation] = desk.text("STOP")
    assert "unsubscribed" in confirmation
    assert desk.open_texts() == []  # STOP is no question for an agent
    assert desk.text("why did I get these?") == []  # no acknowledgement to an opted-out number
    [waiting] = desk.open_texts()
    assert waiting.acknowledgement_id is None
    queue = desk.logged_in("dana@acme.test").get("/inbox/").get_data(as_text=True)
    assert "opted out: cannot be texted" in queue
    with Session(desk.services.db) as session:
        texted = session.scalars(select(Message.body).where(Message.direction == "outbound"))
        assert all("get back to you" not in body for body in texted)


def test_a_question_then_stop_gets_only_the_confirmation(desk: Desk) -> None:
    desk.subscribe()
    desk.text(QUESTION)
    [confirmation] = desk.text("STOP")
    assert "unsubscribed" in confirmation
    assert desk.text("another question") == []


def test_a_customers_markup_in_the_queue_is_shown_as_text(desk: Desk) -> None:
    desk.text("<script>alert(1)</script> where is my order", phone=BOB)
    queue = desk.logged_in("dana@acme.test").get("/inbox/").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in queue
    assert "&lt;script&gt;alert(1)&lt;/script&gt; where is my order" in queue


RETRY = "Please reply with a number from 0 to 10."
QUIZ_FLOW = """\
flow: quiz
triggers:
  keywords: [QUIZ]
steps:
  - id: pick
    ask: "Pick a number from 1 to 3."
    expect: number
"""


def test_an_answer_the_survey_gives_up_on_reaches_the_queue(desk: Desk) -> None:
    assert "recommend us" in desk.text("SURVEY")[0]
    assert desk.text(QUESTION) == [RETRY]
    assert desk.text("hello? my order #4411 never came") == [RETRY]
    assert desk.text("can a person call me") == [DEFAULT_ACK]  # out of retries: not dropped
    [survey] = desk.conversations()
    assert (survey.status, survey.end_reason) == ("ended", "no valid answer")
    [waiting] = desk.open_texts()
    assert (waiting.flow, waiting.step) == ("nps", "score")
    queue = desk.logged_in("dana@acme.test").get("/inbox/").get_data(as_text=True)
    assert "can a person call me" in queue and "nps ended on it at score: no valid answer" in queue


def test_the_welcome_question_gives_up_with_the_welcome_flows_own_wording(desk: Desk) -> None:
    desk.subscribe()
    asked = desk.wait(timedelta(days=1))
    assert any("What are you shopping for?" in body for body in asked)
    desk.text("hmm")
    desk.text("not sure")
    assert desk.text("I need help with my order") == [WELCOME_ACK]
    [waiting] = desk.open_texts()
    assert (waiting.flow, waiting.step) == ("welcome", "interest")


def test_a_pleasantry_that_ends_a_question_needs_no_human(desk: Desk) -> None:
    desk.text("SURVEY")
    desk.text("no idea")
    desk.text("hmm")
    assert desk.text("ok thanks") == []
    assert desk.conversations()[0].status == "ended"
    assert desk.open_texts() == []


def test_an_answer_to_a_flow_removed_meanwhile_reaches_the_queue(
    database_url: str, tmp_path: Path
) -> None:
    desk = custom_desk(database_url, tmp_path, FLOWS_RELOAD_SECONDS=0)
    quiz = tmp_path / "flows" / "quiz.yaml"
    quiz.write_text(QUIZ_FLOW, encoding="utf-8")
    assert desk.text("QUIZ") == ["Pick a number from 1 to 3."]
    quiz.unlink()
    [changed, acknowledgement] = desk.text("2, and where is my order?")
    assert "it was updated" in changed and acknowledgement == DEFAULT_ACK
    [waiting] = desk.open_texts()
    assert (waiting.flow, waiting.step) == ("quiz", "pick")
    assert waiting.context == "quiz ended on it at pick: flow removed"


def test_texts_sent_while_an_agent_held_the_chat_reach_the_queue_when_it_goes_idle(
    desk: Desk,
) -> None:
    desk.subscribe()
    desk.text(QUESTION)
    [series] = desk.conversations()
    page = f"/inbox/conversations/{series.id}"
    dana = desk.logged_in("dana@acme.test")
    post(dana, f"{page}/take")
    post(dana, f"{page}/reply", body="Let me check.")
    assert desk.open_texts() == []  # Dana has it
    desk.clock.advance(timedelta(minutes=5))
    assert desk.text("it was a gift, does that matter?") == []  # the bot is quiet
    assert desk.text("hello??") == []
    desk.clock.advance(timedelta(hours=1))  # Dana went to lunch
    assert release_idle(desk.services, idle_after=timedelta(minutes=30)) == 1

    gift, hello = desk.open_texts()
    assert gift.context == "arrived while Dana held the chat; released idle"
    assert (gift.flow, gift.step) == ("welcome", "wait_a_day")
    assert (gift.acknowledgement_id is not None, hello.acknowledgement_id) == (True, None)
    assert desk.wait(timedelta(minutes=1)) == [WELCOME_ACK]  # once, for both
    assert release_idle(desk.services, idle_after=timedelta(minutes=30)) == 0
    assert len(desk.open_texts()) == 2

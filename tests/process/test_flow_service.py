"""Flows through the real webhook on both databases: routing, timers, edits, hot reload, actions."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import update

from bot.store.conversations import claim, end_conversation
from bot.store.db import transaction
from bot.store.models import Answer, Conversation, Message, Subscriber, UnansweredText
from bot.store.subscribers import get_subscriber
from bot.testing.processes import free_port
from tests.support.flow_app import ASK_FLOW, START, FlowApp, write
from tests.support.paths import SHIPPED_FLOWS
from tests.support.sms import ALICE, BOB

DEFAULT_ACK = "Thanks for your message! A person will get back to you shortly."


@pytest.fixture
def shipped(database_url: str) -> FlowApp:
    return FlowApp(database_url, SHIPPED_FLOWS)


def test_a_keyword_starts_a_flow_and_answers_are_stored(shipped: FlowApp) -> None:
    [question] = shipped.text("survey please")
    assert "recommend us" in question
    assert shipped.text("10") == ["Thank you! What do you love most about Acme?"]
    assert shipped.text("the staff") == ["Thank you for your feedback!"]
    answers = [(row.step, row.name, row.value) for row in shipped.rows(Answer)]
    assert answers == [("score", "score", 10), ("promoter", "reason", "the staff")]
    [conversation] = shipped.rows(Conversation)
    assert (conversation.status, conversation.end_reason) == ("ended", "completed")


def test_stop_mid_flow_ends_it_and_cancels_its_timers(shipped: FlowApp) -> None:
    shipped.text("SURVEY")
    [survey] = shipped.rows(Conversation)
    assert (survey.wake_kind, survey.wakes_at) == ("timeout", START + timedelta(days=1))
    assert survey.expires_at == START + timedelta(days=2)
    [confirmation] = shipped.text("STOP")
    assert "unsubscribed" in confirmation
    assert shipped.rows(Conversation)[0].end_reason == "opted out"
    assert shipped.wait(timedelta(days=3)) == []


def test_a_question_timeout_fires_once_from_the_database(shipped: FlowApp) -> None:
    shipped.text("SURVEY")
    assert shipped.wait(timedelta(hours=23)) == []
    [nudge] = shipped.wait(timedelta(hours=2))
    assert "Got a second?" in nudge
    assert shipped.wait(timedelta(hours=2)) == []


def test_a_timeout_due_while_the_answer_is_handled_waits_for_it_then_stands_down(
    shipped: FlowApp,
) -> None:
    shipped.text("SURVEY")
    [survey] = shipped.rows(Conversation)
    shipped.clock.advance(timedelta(days=1, minutes=1))  # the question's timeout is due
    fired: list[list[int]] = []
    with transaction(shipped.services.db) as connection:
        claimed = claim(
            connection, ALICE, shipped.clock()
        )  # the answer's turn holds the subscriber
        clock = threading.Thread(
            target=lambda: fired.append(
                shipped.services.conversations.fire_timer(survey.id, shipped.clock())
            )
        )
        clock.start()
        clock.join(timeout=0.5)
        assert clock.is_alive()  # the clock queues behind the answer, touching nothing
        assert claimed.conversation is not None
        end_conversation(connection, claimed.conversation.id, "completed", shipped.clock())
    clock.join(timeout=10)
    assert fired == [[]]  # it saw the flow finished: no nudge
    assert shipped.wait(timedelta(days=1)) == []


def test_an_unanswered_flow_expires(shipped: FlowApp) -> None:
    shipped.text("FEEDBACK")
    shipped.wait(timedelta(days=1, minutes=1))
    [conversation] = shipped.rows(Conversation)
    assert conversation.end_reason == "expired"
    # No longer in the flow: a late answer goes to a person, and the person hears so.
    assert shipped.text("5") == [DEFAULT_ACK]


def test_another_flows_keyword_interrupts(shipped: FlowApp) -> None:
    shipped.text("SURVEY")
    [question] = shipped.text("FEEDBACK")
    assert "rate your last order" in question
    first, second = shipped.rows(Conversation)
    assert first.end_reason == "interrupted by feedback" and second.status == "active"


def test_an_intent_phrase_starts_its_flow(shipped: FlowApp) -> None:
    [question] = shipped.text("hi, can I give you a rating?")
    assert "recommend us" in question


def test_text_nobody_expects_goes_to_a_person_who_will_answer(shipped: FlowApp) -> None:
    assert shipped.text("what time do you open on sunday") == [DEFAULT_ACK]
    [waiting] = shipped.rows(UnansweredText)
    assert waiting.context == "no flow understood it"


def test_handoff_makes_the_bot_quiet(shipped: FlowApp) -> None:
    for body in ("FEEDBACK", "1", "awful", "yes"):
        shipped.text(body)
    [conversation] = shipped.rows(Conversation)
    assert conversation.handled_by == "waiting_for_agent"
    assert shipped.text("hello? anyone?") == []
    assert "unsubscribed" in shipped.text("STOP")[0]  # STOP still works during a handoff


def test_an_edited_flow_keeps_people_whose_step_still_exists(
    database_url: str, flows_dir: Path
) -> None:
    write(flows_dir, "quiz.yaml", ASK_FLOW)
    app = FlowApp(database_url, flows_dir)
    app.text("QUIZ")
    write(flows_dir, "quiz.yaml", ASK_FLOW.replace("Which size? Reply S or L.", "Size? S or L"))
    app.reload()
    assert app.text("red") == ["Size? S or L"]
    assert app.text("L") == ["Thanks!"]


@pytest.mark.parametrize(
    ("change", "end_reason"),
    [
        (lambda quiz: quiz.write_text(ASK_FLOW.replace("id: color", "id: colour")), "flow changed"),
        (Path.unlink, "flow removed"),
    ],
    ids=["the step is gone", "the file is gone"],
)
def test_an_edited_flow_ends_politely_for_the_people_it_left_behind(
    database_url: str, flows_dir: Path, change: Callable[[Path], object], end_reason: str
) -> None:
    write(flows_dir, "quiz.yaml", ASK_FLOW)
    app = FlowApp(database_url, flows_dir)
    app.text("QUIZ")
    change(flows_dir / "quiz.yaml")
    app.reload()
    [goodbye, acknowledgement] = app.text("red")
    assert "has ended because it was updated" in goodbye
    assert "will get back to you" in acknowledgement  # their answer waits for a human
    assert app.rows(Conversation)[0].end_reason == end_reason


def test_a_broken_edit_keeps_the_last_good_version_running(
    database_url: str, flows_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    write(flows_dir, "quiz.yaml", ASK_FLOW)
    app = FlowApp(database_url, flows_dir)
    app.reload()  # the running service has loaded the good version
    broken = ASK_FLOW.replace("    expect: choice\n", "    expect: choise\n", 1)
    write(flows_dir, "quiz.yaml", broken)
    with caplog.at_level(logging.ERROR):
        app.reload()
    assert any("quiz.yaml:7: expect: unknown answer type 'choise'" in m for m in caplog.messages)
    assert app.text("QUIZ") == ["Favourite colour? Reply red or blue."]
    write(flows_dir, "quiz.yaml", ASK_FLOW.replace("Favourite colour?", "Colour?"))
    app.reload()
    assert app.text("QUIZ") == ["Colour? Reply red or blue."]


def test_hot_reload_needs_no_restart(database_url: str, flows_dir: Path) -> None:
    app = FlowApp(database_url, flows_dir, FLOWS_RELOAD_SECONDS=0)
    assert app.text("QUIZ") == [DEFAULT_ACK]  # no flow knows it yet: a person will
    write(flows_dir, "quiz.yaml", ASK_FLOW)
    assert app.text("QUIZ") == ["Favourite colour? Reply red or blue."]


COUPON_FLOW = """\
flow: gift
triggers:
  keywords: [GIFT]
steps:
  - action: action_issue_coupon
    provides: [coupon_code]
  - end: "Enjoy {coupon_code}!"
"""


@pytest.fixture
def coupon_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COUPON_SECRET", "test-secret")


def test_an_action_runs_in_process(database_url: str, flows_dir: Path, coupon_secret: None) -> None:
    write(flows_dir, "gift.yaml", COUPON_FLOW)
    app = FlowApp(database_url, flows_dir)
    uttered, closing = app.text("GIFT")
    code = closing.removeprefix("Enjoy ").removesuffix("!")
    assert code.startswith("SAVE-") and uttered.startswith(f"Your code is {code}")
    with app.services.db.connect() as connection:
        subscriber = get_subscriber(connection, ALICE)
    assert subscriber is not None and subscriber.attributes["coupon_code"] == code


@pytest.fixture(scope="module")
def action_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    from tests.process.test_actions import SECRET, start_action_server, stop, wait_for_health

    assert SECRET
    port = free_port()
    log = tmp_path_factory.mktemp("action-server") / "server.log"
    process = start_action_server("actions", port, log)
    try:
        wait_for_health(f"http://127.0.0.1:{port}", process, log)
        yield f"http://127.0.0.1:{port}/webhook"
    finally:
        stop([process])


def test_an_action_runs_on_a_rasa_action_server(
    database_url: str, flows_dir: Path, action_server: str
) -> None:
    from actions.coupons import coupon_code
    from tests.process.test_actions import SECRET

    write(flows_dir, "gift.yaml", COUPON_FLOW)
    # The server, not this process, knows the secret: the code proves it ran there.
    app = FlowApp(database_url, flows_dir, ACTION_SERVER_URL=action_server)
    code = coupon_code(ALICE, "default", SECRET)
    uttered, closing = app.text("GIFT")
    assert uttered.startswith(f"Your code is {code}")
    assert closing == f"Enjoy {code}!"


def test_an_action_server_that_is_down_ends_the_flow_cleanly(
    database_url: str, flows_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    write(flows_dir, "gift.yaml", COUPON_FLOW)
    app = FlowApp(
        database_url, flows_dir, ACTION_SERVER_URL=f"http://127.0.0.1:{free_port()}/webhook"
    )
    with caplog.at_level(logging.ERROR):
        assert app.text("GIFT") == []
    assert app.rows(Conversation)[0].end_reason == "action action_issue_coupon failed"
    assert any("action_issue_coupon" in message for message in caplog.messages)


POSTER_FLOW = """\
flow: poster
triggers:
  keywords: [POSTER]
steps:
  - id: which
    ask: "Which poster? Reply A or B."
    expect: choice
    options: [A, B]
  - action: action_echo_latest
  - id: later
    wait: 1h
  - action: action_echo_latest
  - action: action_send_poster
  - end: true
"""


def test_an_action_hears_the_latest_text_and_its_texts_and_pictures_go_out_as_the_flows(
    database_url: str, flows_dir: Path
) -> None:
    write(flows_dir, "poster.yaml", POSTER_FLOW)
    app = FlowApp(database_url, flows_dir, ACTIONS_PACKAGE="tests.support.action_samples")
    assert app.text("POSTER") == ["Which poster? Reply A or B."]
    with transaction(app.services.db) as connection:  # as a web-form signup would have it
        connection.execute(
            update(Subscriber.__table__)
            .where(Subscriber.__table__.c.phone == ALICE)
            .values(first_name="Ann")
        )
    assert app.text("b") == ["You said 'b'."]
    # An hour later no new text came: the latest is still the answer, read back from the log.
    assert app.wait(timedelta(hours=1)) == ["You said 'b'.", "Hi Ann, here is our poster."]
    poster = app.gateway.outbox[-1]
    assert poster.media_urls == ("https://example.test/poster.png",)
    actions_texts = [
        (m.body, m.flow) for m in app.rows(Message) if m.body.startswith(("You", "Hi"))
    ]
    assert actions_texts == [
        ("You said 'b'.", "poster"),
        ("You said 'b'.", "poster"),
        ("Hi Ann, here is our poster.", "poster"),
    ]


CHAINED_FLOWS = {
    "shipped.yaml": """\
flow: order_shipped
triggers:
  events: [order_shipped]
steps:
  - start_flow: tracking
""",
    "tracking.yaml": """\
flow: tracking
triggers:
  keywords: [TRACK]
steps:
  - end: "Order {event.order|(unknown)} is on its way."
""",
}


def test_a_flow_an_event_started_passes_the_event_on_to_the_flow_it_starts(
    database_url: str, flows_dir: Path
) -> None:
    for name, text in CHAINED_FLOWS.items():
        write(flows_dir, name, text)
    app = FlowApp(database_url, flows_dir)
    app.clock.set(datetime(2026, 1, 6, 8, 0, tzinfo=UTC))  # midnight in San Francisco
    outcome = app.services.conversations.handle_event(ALICE, "order_shipped", {"order": "A1"})
    app.services.dispatcher.send(outcome.message_ids)
    # The event's data reaches the template, and the text stays transactional: not held
    # until morning as a reply sent at midnight would be.
    assert [text.body for text in app.gateway.outbox] == ["Order A1 is on its way."]


def test_a_flow_that_may_not_be_interrupted_keeps_its_question(
    database_url: str, flows_dir: Path
) -> None:
    write(
        flows_dir,
        "quiz.yaml",
        ASK_FLOW.replace("steps:", "settings:\n  interruptible: false\nsteps:"),
    )
    write(
        flows_dir,
        "tracking.yaml",
        CHAINED_FLOWS["tracking.yaml"].replace("[TRACK]", "[TRACK]\n  events: [order_shipped]"),
    )
    app = FlowApp(database_url, flows_dir)
    app.text("QUIZ")
    # Another flow's keyword is just a wrong answer here.
    assert app.text("TRACK") == [
        "Sorry, I didn't get that. Please send one of: red, blue (or 1-2)."
    ]
    outcome = app.services.conversations.handle_event(ALICE, "order_shipped", {"order": "A1"})
    assert outcome.message_ids == []  # nor does an event start its flow over this one
    assert app.text("red") == ["Which size? Reply S or L."]


def test_a_new_flow_that_takes_a_keyword_in_use_does_not_take_it_over(
    database_url: str, flows_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    write(flows_dir, "quiz.yaml", ASK_FLOW)
    app = FlowApp(database_url, flows_dir)
    app.reload()
    # poll.yaml sorts before quiz.yaml: order must not decide who keeps QUIZ.
    write(flows_dir, "poll.yaml", ASK_FLOW.replace("flow: quiz", "flow: poll"))
    with caplog.at_level(logging.ERROR):
        app.reload()
    assert any(
        f"{flows_dir / 'poll.yaml'}:3: trigger keyword 'QUIZ' is also used by flow 'quiz'"
        in message
        for message in caplog.messages
    )
    assert sorted(app.services.flows.catalog().flows) == ["quiz"]
    assert app.text("QUIZ") == ["Favourite colour? Reply red or blue."]
    restarted = FlowApp(database_url, flows_dir)
    assert sorted(restarted.services.flows.catalog().flows) == []  # neither, until one gives way


CART_FLOW = """\
flow: cart
triggers:
  events: [cart_abandoned]
steps:
  - id: an_hour
    wait: 1h
  - end: "Your cart: {event.cart_url}"
"""


def test_a_conversation_whose_timer_fails_is_ended_and_holds_up_nobody(
    database_url: str, flows_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    write(flows_dir, "cart.yaml", CART_FLOW)
    app = FlowApp(database_url, flows_dir)
    events = app.services.conversations
    # A lone surrogate cannot be encoded into a text: Bob's turn fails every time it runs.
    events.handle_event(BOB, "cart_abandoned", {"cart_url": "https://shop.test/\ud800"})
    app.clock.advance(timedelta(minutes=1))
    events.handle_event(ALICE, "cart_abandoned", {"cart_url": "https://shop.test/c/1"})
    with caplog.at_level(logging.ERROR):
        assert app.wait(timedelta(hours=2)) == ["Your cart: https://shop.test/c/1"]
    failed, done = app.rows(Conversation)
    assert (failed.phone, failed.status, failed.end_reason) == (
        BOB,
        "ended",
        "failed: see the clock's log",
    )
    assert (done.phone, done.end_reason) == (ALICE, "completed")
    assert any(f"conversation {failed.id} failed at its timer" in m for m in caplog.messages)


def test_a_file_yaml_cannot_read_leaves_the_other_flows_running(
    database_url: str, flows_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    write(flows_dir, "quiz.yaml", ASK_FLOW)
    write(flows_dir, "broken.yaml", "flow: broken\ndescription: 2024-13-45\nsteps:\n  - send: x\n")
    with caplog.at_level(logging.ERROR):
        app = FlowApp(database_url, flows_dir)  # a fresh start: no last good versions
        assert app.text("QUIZ") == ["Favourite colour? Reply red or blue."]
    assert any(
        f"{flows_dir / 'broken.yaml'}:2: cannot read '2024-13-45'" in message
        for message in caplog.messages
    )


def test_a_text_too_long_for_one_message_is_logged_and_never_sent(
    database_url: str, flows_dir: Path
) -> None:
    write(flows_dir, "cart.yaml", CART_FLOW)
    app = FlowApp(database_url, flows_dir)
    cart_url = "https://shop.test/" + "x" * 2_000
    app.services.conversations.handle_event(ALICE, "cart_abandoned", {"cart_url": cart_url})
    assert app.wait(timedelta(hours=2)) == []
    [message] = app.rows(Message)
    assert (message.status, message.error_message) == (
        "suppressed",
        "longer than 1600 characters (2029)",
    )

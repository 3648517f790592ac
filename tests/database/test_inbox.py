"""The agent inbox over HTTP: accounts, sessions, CSRF, escaping, takeover, and `bot agents`."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import update
from sqlmodel import Session, select

from bot.accounts.agents import (
    AgentError,
    TooManyAttempts,
    create_agent,
    list_agents,
    set_disabled,
)
from bot.cli import main
from bot.domain.vocabulary import Delivery, Purpose, SubscriberStatus
from bot.sending.outbox import queue_text
from bot.store.db import transaction
from bot.store.models import Agent, LoginAttempt, Message, Subscriber
from bot.store.subscribers import change_status, claim_subscriber
from tests.support.inbox import NOON_IN_SF, OWN_SCRIPTS, PASSWORD, Inbox, login, post, token
from tests.support.passwords import authenticate
from tests.support.sms import ALICE, BOB, reply_to, text


@pytest.fixture
def inbox(database_url: str) -> Inbox:
    return Inbox(database_url)


# Logging in


def test_an_agent_logs_in_and_sees_the_queue(inbox: Inbox) -> None:
    client = inbox.new_client()
    response = login(client, "Dana@Acme.test ", PASSWORD)
    assert response.status_code == 302 and response.location == "/inbox/"
    page = client.get("/inbox/")
    assert page.status_code == 200
    assert "Dana" in page.get_data(as_text=True)
    assert "Nobody is waiting" in page.get_data(as_text=True)


def test_the_site_root_leads_to_the_inbox(inbox: Inbox) -> None:
    response = inbox.new_client().get("/")
    assert response.status_code == 302 and response.location == "/inbox/"


def test_a_wrong_password_is_refused(inbox: Inbox) -> None:
    client = inbox.new_client()
    response = login(client, "dana@acme.test", "not the password at all")
    assert response.status_code == 401
    assert "Wrong email or password." in response.get_data(as_text=True)
    assert client.get("/inbox/").status_code == 302
    for email in ("nobody@acme.test", ""):
        assert login(client, email, PASSWORD).status_code == 401


def test_login_goes_back_to_the_page_asked_for_but_never_to_another_site(inbox: Inbox) -> None:
    first = inbox.new_client().get("/inbox/conversations?q=ali")
    assert first.status_code == 302
    assert first.location == "/inbox/login?next=/inbox/conversations?q%3Dali"
    back = login(inbox.new_client(), "dana@acme.test", PASSWORD, next="/inbox/conversations?q=ali")
    assert back.location == "/inbox/conversations?q=ali"
    for elsewhere in ("https://evil.test/inbox/", "//evil.test/inbox/", "/twilio/sms", "/\\evil"):
        away = login(inbox.new_client(), "dana@acme.test", PASSWORD, next=elsewhere)
        assert away.location == "/inbox/", elsewhere


def test_a_disabled_agent_cannot_log_in_and_their_session_ends(inbox: Inbox) -> None:
    client = inbox.logged_in("dana@acme.test")
    assert client.get("/inbox/").status_code == 200
    set_disabled(inbox.services.db, "dana@acme.test", True, now=NOON_IN_SF)
    response = client.get("/inbox/")
    assert response.status_code == 302 and response.location.startswith("/inbox/login")
    assert login(inbox.new_client(), "dana@acme.test", PASSWORD).status_code == 401
    set_disabled(inbox.services.db, "dana@acme.test", False, now=NOON_IN_SF)
    assert login(inbox.new_client(), "dana@acme.test", PASSWORD).status_code == 302


def test_logging_out_ends_the_session(inbox: Inbox) -> None:
    client = inbox.logged_in("dana@acme.test")
    response = post(client, "/inbox/logout")
    assert response.status_code == 302 and response.location == "/inbox/login"
    assert client.get("/inbox/").status_code == 302


def test_a_session_expires_after_twelve_hours(inbox: Inbox) -> None:
    client = inbox.logged_in("dana@acme.test")
    inbox.clock.advance(timedelta(hours=12, minutes=1))
    assert client.get("/inbox/").status_code == 302


def test_five_wrong_passwords_pause_logins_for_that_email(inbox: Inbox) -> None:
    client = inbox.new_client()
    for _ in range(5):
        assert login(client, "dana@acme.test", "wrong password!!").status_code == 401
    refused = login(client, "dana@acme.test", PASSWORD)  # even the right password
    assert refused.status_code == 429
    assert "Too many attempts, try again in 15 minutes." in refused.get_data(as_text=True)
    assert login(client, "eli@acme.test", PASSWORD).status_code == 302  # others are not locked
    inbox.clock.advance(timedelta(minutes=15, seconds=1))
    assert login(inbox.new_client(), "dana@acme.test", PASSWORD).status_code == 302


def test_rate_limits_per_email_and_per_address(inbox: Inbox) -> None:
    db, now = inbox.services.db, NOON_IN_SF
    for minute in range(4):
        at = now + timedelta(minutes=minute)
        assert authenticate(db, "dana@acme.test", "nope", "10.0.0.1", at) is None
    # A success clears that email's failures.
    assert authenticate(db, "dana@acme.test", PASSWORD, "10.0.0.1", now) is not None
    for minute in range(5):
        at = now + timedelta(minutes=minute)
        assert authenticate(db, "dana@acme.test", "nope", "10.0.0.1", at) is None
    with pytest.raises(TooManyAttempts, match="try again in 11 minutes"):
        authenticate(db, "dana@acme.test", PASSWORD, "10.0.0.1", now + timedelta(minutes=4))
    # One address guessing many emails is stopped after 20 failures.
    for number in range(15):
        assert authenticate(db, f"x{number}@acme.test", "nope", "10.0.0.1", now) is None
    with pytest.raises(TooManyAttempts, match="try again in 15 minutes"):
        authenticate(db, "eli@acme.test", PASSWORD, "10.0.0.1", now)
    assert authenticate(db, "eli@acme.test", PASSWORD, "10.0.0.2", now) is not None
    later = now + timedelta(minutes=20)
    assert authenticate(db, "eli@acme.test", PASSWORD, "10.0.0.1", later) is not None
    with Session(db) as session:  # failures older than the window are swept away
        authenticate(db, "eli@acme.test", "nope", "10.0.0.1", later)
        assert len(session.scalars(select(LoginAttempt)).all()) == 1


def test_create_agent_says_what_is_wrong(inbox: Inbox) -> None:
    db, now = inbox.services.db, inbox.services.conversations.clock()
    with pytest.raises(AgentError, match="is not an email address"):
        create_agent(db, "dana", "Dana", PASSWORD, now=now)
    with pytest.raises(AgentError, match="at least 12 characters"):
        create_agent(db, "new@acme.test", "New", "short", now=now)
    with pytest.raises(AgentError, match="already exists"):
        create_agent(db, "DANA@acme.test", "Dana again", PASSWORD, now=now)
    with pytest.raises(AgentError, match="name must be"):
        create_agent(db, "new@acme.test", "  ", PASSWORD, now=now)
    stored = {agent.email: agent for agent in list_agents(db)}
    assert stored["dana@acme.test"].password_hash.startswith("scrypt:")


# Every page needs a session


PAGES = [
    ("GET", "/inbox/"),
    ("GET", "/inbox/conversations"),
    ("GET", "/inbox/conversations?q=ali"),
    ("GET", "/inbox/conversations/1"),
    ("GET", "/inbox/agents"),
    ("POST", "/inbox/conversations/1/take"),
    ("POST", "/inbox/conversations/1/hand-back"),
    ("POST", "/inbox/conversations/1/reply"),
    ("POST", "/inbox/agents/1/disable"),
    ("POST", "/inbox/agents/1/enable"),
    ("POST", "/inbox/logout"),
]
JSON_ROUTES = [
    ("POST", "/inbox/segments"),
    ("GET", "/inbox/conversations/1/events?after=0"),
]


@pytest.mark.parametrize(("method", "path"), PAGES)
def test_every_page_without_a_session_goes_to_the_login(
    inbox: Inbox, method: str, path: str
) -> None:
    response = inbox.new_client().open(path, method=method, data={"body": "hi"})
    assert response.status_code == 302
    assert response.location.startswith("/inbox/login?next=")


@pytest.mark.parametrize(("method", "path"), JSON_ROUTES)
def test_json_routes_without_a_session_answer_401(inbox: Inbox, method: str, path: str) -> None:
    response = inbox.new_client().open(path, method=method, json={"text": "hi"})
    assert response.status_code == 401
    assert response.get_json() == {"error": "log in to the inbox first"}


def test_a_forged_session_cookie_is_not_a_session(inbox: Inbox) -> None:
    client = inbox.new_client()
    client.set_cookie("session", "eyJhZ2VudF9pZCI6MX0.forged.signature", domain="localhost")
    assert client.get("/inbox/").status_code == 302


# CSRF


def test_a_post_without_the_csrf_token_changes_nothing(inbox: Inbox) -> None:
    conversation_id = inbox.handed_off()
    client = inbox.logged_in("ada@acme.test")
    for form in ({}, {"csrf_token": "not-the-token"}):
        taken = client.post(f"/inbox/conversations/{conversation_id}/take", data=form)
        assert taken.status_code == 400
        assert "This form has expired" in taken.get_data(as_text=True)
        assert "Nothing was changed" in taken.get_data(as_text=True)
        disabled = client.post(f"/inbox/agents/{inbox.dana.id}/disable", data=form)
        assert disabled.status_code == 400
    assert inbox.conversation(conversation_id).handled_by == "waiting_for_agent"
    assert not {a.email: a for a in list_agents(inbox.services.db)}["dana@acme.test"].disabled
    assert client.post("/inbox/logout").status_code == 400
    assert client.get("/inbox/").status_code == 200  # still logged in


def test_the_login_form_needs_its_csrf_token_too(inbox: Inbox) -> None:
    client = inbox.new_client()
    client.get("/inbox/login")
    form = {"email": "dana@acme.test", "password": PASSWORD}
    assert client.post("/inbox/login", data=form).status_code == 400
    assert client.get("/inbox/").status_code == 302


def test_the_csrf_token_changes_at_login(inbox: Inbox) -> None:
    client = inbox.new_client()
    before = token(client)
    login(client, "dana@acme.test", PASSWORD)
    after = token(client, "/inbox/")
    assert before != after
    assert client.post("/inbox/logout", data={"csrf_token": before}).status_code == 400


# Cookies and headers


def test_the_session_cookie_is_http_only_and_same_site(inbox: Inbox) -> None:
    response = inbox.new_client().get("/inbox/login")
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
    assert "Secure" not in cookie  # PUBLIC_URL is not https here
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    assert response.headers["Cache-Control"] == "no-store"


def test_the_session_cookie_is_secure_behind_https(database_url: str) -> None:
    inbox = Inbox(database_url, PUBLIC_URL="https://sms.acme.test")
    cookie = inbox.new_client().get("/inbox/login").headers["Set-Cookie"]
    assert "Secure" in cookie and "HttpOnly" in cookie


def test_the_webhook_sets_no_cookie(inbox: Inbox) -> None:
    assert "Set-Cookie" not in text(inbox.new_client(), "HELP").headers


# Pages


def test_a_customers_markup_is_shown_as_text(inbox: Inbox) -> None:
    conversation_id = inbox.handed_off()
    reply_to(inbox.new_client(), "<script>alert(1)</script>")
    client = inbox.logged_in("dana@acme.test")
    for path in (f"/inbox/conversations/{conversation_id}", "/inbox/", "/inbox/conversations"):
        page = client.get(path).get_data(as_text=True)
        assert "<script>alert(1)</script>" not in page, path
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page, path
        # The only scripts are our own files.
        assert set(re.findall(r"<script[^>]*>", page)) <= OWN_SCRIPTS, path


def test_the_queue_lists_who_waits_and_why(inbox: Inbox) -> None:
    conversation_id = inbox.handed_off()
    page = inbox.logged_in("dana@acme.test").get("/inbox/").get_data(as_text=True)
    assert f"/inbox/conversations/{conversation_id}" in page
    assert "low rating" in page
    assert "yes please" in page


def test_the_queue_says_when_texts_wait_on_the_provider_and_since_when(inbox: Inbox) -> None:
    agent = inbox.logged_in("dana@acme.test")
    with transaction(inbox.services.db) as connection:
        for phone in (ALICE, BOB):
            subscriber = claim_subscriber(connection, phone, inbox.clock())
            change_status(connection, subscriber, SubscriberStatus.SUBSCRIBED, inbox.clock())
            queue_text(
                connection,
                subscriber,
                body="Your order shipped",
                purpose=Purpose.TRANSACTIONAL,
                delivery=Delivery.OUTBOX,
                now=inbox.clock(),
            )
    inbox.gateway.clock = inbox.clock
    inbox.gateway.down_until = NOON_IN_SF + timedelta(minutes=5)  # the provider answers 503
    dispatcher = inbox.services.dispatcher

    def let_the_worker_run(until: datetime) -> None:
        while inbox.clock() < until:
            inbox.clock.advance(timedelta(seconds=max(dispatcher.run_round(), 0.5)))

    assert "waiting on the provider" not in agent.get("/inbox/").get_data(as_text=True)
    let_the_worker_run(NOON_IN_SF + timedelta(minutes=1))
    page = " ".join(agent.get("/inbox/").get_data(as_text=True).split())
    assert "2 texts are waiting on the provider since 2026-01-05 20:00 UTC" in page
    assert "a text it keeps failing for 4h is marked failed" in page

    let_the_worker_run(NOON_IN_SF + timedelta(minutes=7))  # back: both texts go out
    assert "waiting on the provider" not in agent.get("/inbox/").get_data(as_text=True)
    assert sorted(sent.to for sent in inbox.gateway.outbox) == [ALICE, BOB]


def test_conversations_are_searchable(inbox: Inbox) -> None:
    inbox.handed_off()
    reply_to(inbox.new_client(), "SURVEY", phone=BOB)
    client = inbox.logged_in("dana@acme.test")
    everyone = client.get("/inbox/conversations").get_data(as_text=True)
    assert ALICE in everyone and BOB in everyone
    only_bob = client.get("/inbox/conversations?q=555-0101").get_data(as_text=True)
    assert BOB in only_bob and ALICE not in only_bob
    nobody = client.get("/inbox/conversations?q=zelda").get_data(as_text=True)
    assert "No conversation matches." in nobody


def test_an_unknown_conversation_is_a_404_page(inbox: Inbox) -> None:
    response = inbox.logged_in("dana@acme.test").get("/inbox/conversations/999")
    assert response.status_code == 404
    assert "There is no such conversation." in response.get_data(as_text=True)


def test_take_over_reply_and_hand_back(inbox: Inbox) -> None:
    conversation_id = inbox.handed_off()
    page = f"/inbox/conversations/{conversation_id}"
    dana = inbox.logged_in("dana@acme.test")
    assert post(dana, f"{page}/take").location == page
    shown = dana.get(page).get_data(as_text=True)
    assert "You have this chat" in shown
    assert dana.get("/inbox/").get_data(as_text=True).count(page) == 1  # under "your chats"

    replied = post(dana, f"{page}/reply", body="Hi, Dana here! So sorry about the box.")
    assert replied.status_code == 302
    assert inbox.gateway.outbox[-1].body == "Hi, Dana here! So sorry about the box."
    history = dana.get(page).get_data(as_text=True)
    assert "Agent Dana" in history and "Customer" in history and "Bot (feedback)" in history

    eli = inbox.logged_in("eli@acme.test")
    refused = post(eli, f"{page}/take")
    assert "Dana already has this chat" in eli.get(refused.location).get_data(as_text=True)
    not_his = post(eli, f"{page}/reply", body="Eli here")
    assert not_his.status_code == 409
    assert "Take the chat over before replying." in not_his.get_data(as_text=True)
    assert "Eli here</textarea>" in not_his.get_data(as_text=True)  # the draft is kept

    post(dana, f"{page}/hand-back")
    assert inbox.conversation(conversation_id).handled_by != "agent"


def test_after_stop_the_chat_ends_and_the_agent_cannot_text(inbox: Inbox) -> None:
    conversation_id = inbox.handed_off()
    page = f"/inbox/conversations/{conversation_id}"
    dana = inbox.logged_in("dana@acme.test")
    post(dana, f"{page}/take")
    reply_to(inbox.new_client(), "STOP")
    response = post(dana, f"{page}/reply", body="Are you still there?")
    assert response.status_code == 409
    assert "Ended (opted out)" in response.get_data(as_text=True)
    assert "This conversation has ended." in response.get_data(as_text=True)
    assert all(text.body != "Are you still there?" for text in inbox.gateway.outbox)


def test_a_reply_to_an_opted_out_number_is_refused_on_the_page(inbox: Inbox) -> None:
    conversation_id = inbox.handed_off()
    page = f"/inbox/conversations/{conversation_id}"
    dana = inbox.logged_in("dana@acme.test")
    post(dana, f"{page}/take")
    with transaction(inbox.services.db) as connection:  # e.g. the carrier reported 21610
        connection.execute(
            update(Subscriber.__table__)
            .where(Subscriber.__table__.c.phone == ALICE)
            .values(status=SubscriberStatus.UNSUBSCRIBED)
        )
    response = post(dana, f"{page}/reply", body="Are you still there?")
    assert response.status_code == 409
    assert "This number opted out: it cannot be texted." in response.get_data(as_text=True)
    assert all(text.body != "Are you still there?" for text in inbox.gateway.outbox)


def test_events_report_new_texts_and_who_has_the_chat(inbox: Inbox) -> None:
    conversation_id = inbox.handed_off()
    client = inbox.logged_in("dana@acme.test")
    url = f"/inbox/conversations/{conversation_id}/events"
    everything = client.get(f"{url}?after=0").get_json()
    last_id = everything["messages"][-1]["id"]
    assert everything["conversation"]["label"] == "Waiting for an agent"
    assert everything["conversation"]["can_take"] is True
    reply_to(inbox.new_client(), "<b>hello?</b>")
    post(client, f"/inbox/conversations/{conversation_id}/take")
    news = client.get(f"{url}?after={last_id}").get_json()
    assert [(m["kind"], m["body"]) for m in news["messages"]] == [("customer", "<b>hello?</b>")]
    assert news["conversation"]["mine"] is True
    assert client.get(f"{url}?after=abc").status_code == 422
    assert client.get("/inbox/conversations/999/events?after=0").status_code == 404


def test_a_second_agent_sees_who_has_the_chat_and_no_take_over(inbox: Inbox) -> None:
    conversation_id = inbox.handed_off()
    page = f"/inbox/conversations/{conversation_id}"
    post(inbox.logged_in("dana@acme.test"), f"{page}/take")
    eli = inbox.logged_in("eli@acme.test")

    shown = eli.get(page).get_data(as_text=True)
    assert '<strong id="chat-state">Dana has this chat</strong>' in shown
    assert re.search(r'<form id="take-form"[^>]*\bhidden\b', shown)  # no take over offered
    assert "Dana has this chat: only they can reply or hand it back." in shown
    state = eli.get(f"{page}/events?after=0").get_json()["conversation"]
    assert (state["can_take"], state["mine"], state["can_reply"]) == (False, False, False)

    # Posting the form anyway (an old tab, a script) changes nothing and says why.
    refused = post(eli, f"{page}/take")
    assert refused.status_code == 302 and refused.location == page
    assert "Dana already has this chat." in eli.get(page).get_data(as_text=True)
    assert inbox.conversation(conversation_id).agent_id == inbox.dana.id


def test_the_poll_keeps_the_header_true_after_a_hand_back_and_a_stop(inbox: Inbox) -> None:
    conversation_id = inbox.handed_off()
    page = f"/inbox/conversations/{conversation_id}"
    dana, eli = inbox.logged_in("dana@acme.test"), inbox.logged_in("eli@acme.test")
    post(dana, f"{page}/take")
    before = eli.get(f"{page}/events?after=0").get_json()["conversation"]
    assert before["summary"] == "not subscribed · flow feedback at to_human"
    assert before["handoff_reason"] == "low rating"

    post(dana, f"{page}/hand-back")  # the feedback flow goes on to its end
    after = eli.get(f"{page}/events?after=0").get_json()["conversation"]
    assert after["label"].startswith("Ended")
    assert after["summary"] == "not subscribed · flow feedback"
    assert (after["handoff_reason"], after["hint"]) == (None, "This conversation has ended.")

    reply_to(inbox.new_client(), "STOP")
    stopped = eli.get(f"{page}/events?after=0").get_json()["conversation"]
    assert stopped["summary"] == "opted out · flow feedback"
    assert stopped["hint"] == "This number opted out: it cannot be texted."
    assert stopped["hint"] in eli.get(page).get_data(as_text=True)  # the page says the same


def test_stop_while_an_agent_has_the_chat_takes_the_reply_box_away(inbox: Inbox) -> None:
    conversation_id = inbox.handed_off()
    page = f"/inbox/conversations/{conversation_id}"
    dana = inbox.logged_in("dana@acme.test")
    post(dana, f"{page}/take")
    assert dana.get(f"{page}/events?after=0").get_json()["conversation"]["can_reply"] is True
    reply_to(inbox.new_client(), "STOP")
    state = dana.get(f"{page}/events?after=0").get_json()["conversation"]
    assert state["label"] == "Ended (opted out)"
    assert (state["can_reply"], state["mine"], state["can_take"]) == (False, False, False)
    assert state["hint"] == "This number opted out: it cannot be texted."
    assert re.search(r'<form id="reply-form"[^>]*\bhidden\b', dana.get(page).get_data(as_text=True))


def test_answers_show_as_people_write_them(inbox: Inbox) -> None:
    conversation_id = inbox.handed_off()
    shown = inbox.logged_in("dana@acme.test").get(f"/inbox/conversations/{conversation_id}")
    answers = shown.get_data(as_text=True).split('<dl class="answers">')[1].split("</dl>")[0]
    assert re.search(r"wants_human</dt>\s*<dd>Yes ", answers)
    assert re.search(r"rating</dt>\s*<dd>1 ", answers)
    assert "True" not in answers


# The segment counter


@pytest.mark.parametrize(
    ("draft", "expected"),
    [
        ("", {"segments": 1, "encoding": "GSM-7", "units": 0, "left": 160, "culprits": []}),
        ("hello", {"segments": 1, "encoding": "GSM-7", "units": 5, "left": 155, "culprits": []}),
        (
            "a" * 161,
            {"segments": 2, "encoding": "GSM-7", "units": 161, "left": 145, "culprits": []},
        ),
        ("€", {"segments": 1, "encoding": "GSM-7", "units": 2, "left": 158, "culprits": []}),
        (
            "it’s 😀",
            {"segments": 1, "encoding": "UCS-2", "units": 7, "left": 63, "culprits": ["’", "😀"]},
        ),
    ],
)
def test_the_segment_counter(inbox: Inbox, draft: str, expected: dict[str, object]) -> None:
    client = inbox.logged_in("dana@acme.test")
    headers = {"X-CSRF-Token": token(client, "/inbox/")}
    response = client.post("/inbox/segments", json={"text": draft}, headers=headers)
    assert response.status_code == 200
    assert response.get_json() == expected


def test_the_segment_counter_refuses_bad_input(inbox: Inbox) -> None:
    client = inbox.logged_in("dana@acme.test")
    headers = {"X-CSRF-Token": token(client, "/inbox/")}
    assert client.post("/inbox/segments", json={"text": "hi"}).status_code == 400
    assert client.post("/inbox/segments", json={}, headers=headers).status_code == 422
    assert client.post("/inbox/segments", json=["x"], headers=headers).status_code == 422
    too_long = client.post("/inbox/segments", json={"text": "a" * 10_001}, headers=headers)
    assert too_long.status_code == 422


# Admins


def test_only_admins_manage_agents(inbox: Inbox) -> None:
    dana = inbox.logged_in("dana@acme.test")
    assert dana.get("/inbox/agents").status_code == 403
    assert post(dana, f"/inbox/agents/{inbox.eli.id}/disable").status_code == 403
    assert "Agents</a>" not in dana.get("/inbox/").get_data(as_text=True)

    eli = inbox.logged_in("eli@acme.test")
    ada = inbox.logged_in("ada@acme.test")
    listing = ada.get("/inbox/agents").get_data(as_text=True)
    assert "eli@acme.test" in listing and "dana@acme.test" in listing
    assert post(ada, f"/inbox/agents/{inbox.eli.id}/disable").status_code == 302
    assert eli.get("/inbox/").status_code == 302  # Eli's session ended
    assert "Eli is disabled." in ada.get("/inbox/agents").get_data(as_text=True)
    post(ada, f"/inbox/agents/{inbox.eli.id}/enable")
    assert login(inbox.new_client(), "eli@acme.test", PASSWORD).status_code == 302

    post(ada, f"/inbox/agents/{inbox.ada.id}/disable")
    assert "You cannot disable yourself." in ada.get("/inbox/agents").get_data(as_text=True)
    assert post(ada, "/inbox/agents/999/disable").status_code == 404


# bot agents


@pytest.fixture
def runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path}/bot.db")
    runner = CliRunner()
    assert runner.invoke(main, ["db", "upgrade"]).exit_code == 0
    return runner


def test_bot_agents_add_list_disable_enable(runner: CliRunner, tmp_path: Path) -> None:
    added = runner.invoke(
        main,
        ["agents", "add", "ada@acme.test", "--name", "Ada", "--admin", "--password-stdin"],
        input=PASSWORD + "\n",
    )
    assert added.exit_code == 0, added.output
    assert "created admin ada@acme.test (Ada)" in added.output
    prompted = runner.invoke(
        main,
        ["agents", "add", "dana@acme.test", "--name", "Dana"],
        input=f"{PASSWORD}\n{PASSWORD}\n",
    )
    assert prompted.exit_code == 0, prompted.output
    assert PASSWORD not in prompted.output  # the prompt hides what is typed

    listed = runner.invoke(main, ["agents", "list"])
    assert listed.exit_code == 0
    lines = listed.output.splitlines()
    assert lines[0].startswith("ada@acme.test\tAda\tadmin\tenabled")
    assert lines[1].startswith("dana@acme.test\tDana\tagent\tenabled")

    assert runner.invoke(main, ["agents", "disable", "dana@acme.test"]).exit_code == 0
    assert "dana@acme.test\tDana\tagent\tdisabled" in runner.invoke(main, ["agents", "list"]).output
    assert runner.invoke(main, ["agents", "enable", "DANA@acme.test"]).exit_code == 0

    from bot.store.db import make_db

    db = make_db(f"sqlite:///{tmp_path}/bot.db")
    try:
        agent = authenticate(db, "dana@acme.test", PASSWORD, "127.0.0.1", NOON_IN_SF)
        assert agent is not None and agent.name == "Dana"
    finally:
        db.dispose()


@pytest.mark.parametrize(
    ("arguments", "stdin", "message"),
    [
        (["add", "dana", "--name", "Dana", "--password-stdin"], PASSWORD, "not an email address"),
        (["add", "d@acme.test", "--name", "D", "--password-stdin"], "short", "at least 12"),
        (["add", "d@acme.test", "--name", "D"], f"{PASSWORD}\nother password!\n" * 3, "match"),
        (["disable", "nobody@acme.test"], "", "Error: no agent with email nobody@acme.test"),
        (["enable", "nobody@acme.test"], "", "Error: no agent with email nobody@acme.test"),
    ],
)
def test_bot_agents_errors_are_one_line(
    runner: CliRunner, arguments: list[str], stdin: str, message: str
) -> None:
    result = runner.invoke(main, ["agents", *arguments], input=stdin + "\n")
    assert result.exit_code != 0
    assert message in result.output
    assert "Traceback" not in result.output


def test_bot_agents_add_twice_says_it_exists(runner: CliRunner) -> None:
    command = ["agents", "add", "ada@acme.test", "--name", "Ada", "--password-stdin"]
    assert runner.invoke(main, command, input=PASSWORD + "\n").exit_code == 0
    again = runner.invoke(main, command, input=PASSWORD + "\n")
    assert again.exit_code == 1
    assert again.output.strip() == "Error: an agent with email ada@acme.test already exists"


def test_bot_agents_on_an_unmigrated_database_says_what_to_do(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path}/fresh.db")
    result = CliRunner().invoke(main, ["agents", "list"])
    assert result.exit_code == 1 and "run `bot db upgrade` first" in result.output


def test_messages_carry_the_agent_who_wrote_them(inbox: Inbox) -> None:
    conversation_id = inbox.handed_off()
    dana = inbox.logged_in("dana@acme.test")
    post(dana, f"/inbox/conversations/{conversation_id}/take")
    post(dana, f"/inbox/conversations/{conversation_id}/reply", body="Hello from Dana")
    with Session(inbox.services.db) as session:
        message = session.scalars(select(Message).where(Message.body == "Hello from Dana")).one()
        author = session.get(Agent, message.agent_id)
        assert author is not None and author.name == "Dana"

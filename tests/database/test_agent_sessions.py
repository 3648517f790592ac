"""Inbox sessions on the server: ending one (logout, everywhere, password, disabling) is final."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from click.testing import CliRunner
from flask.testing import FlaskClient
from sqlmodel import Session, select

from bot.accounts.agents import set_disabled
from bot.accounts.sessions import LAST_SEEN_EVERY, SESSION_IDLE
from bot.cli import main
from bot.store.models import AgentSession
from bot.web.context import SESSION_TOKEN
from tests.support.inbox import PASSWORD, Inbox, login, post

NEW_PASSWORD = "a brand new passphrase"


@pytest.fixture
def inbox(database_url: str) -> Inbox:
    return Inbox(database_url)


def cookie_copy(inbox: Inbox, client: FlaskClient) -> FlaskClient:
    """Another browser holding a copy of `client`'s session cookie (a stolen cookie)."""
    stolen = client.get_cookie("session")
    assert stolen is not None
    thief = inbox.new_client()
    thief.set_cookie("session", stolen.value)
    return thief


def rows(inbox: Inbox) -> list[AgentSession]:
    with Session(inbox.services.db) as session:
        return list(session.scalars(select(AgentSession).order_by(AgentSession.id)))


def test_a_copied_cookie_opens_nothing_after_logout(inbox: Inbox) -> None:
    client = inbox.logged_in("dana@acme.test")
    thief = cookie_copy(inbox, client)
    assert thief.get("/inbox/").status_code == 200  # the copy works while the session lives
    assert post(client, "/inbox/logout").status_code == 302
    refused = thief.get("/inbox/")
    assert refused.status_code == 302 and refused.location.startswith("/inbox/login")
    [row] = rows(inbox)
    assert row.end_reason == "logout" and row.ended_at == inbox.clock()


def test_the_database_keeps_only_a_hash_of_the_token(inbox: Inbox) -> None:
    client = inbox.logged_in("dana@acme.test")
    client.get("/inbox/", headers={"User-Agent": "Firefox/140"})
    with client.session_transaction() as cookie:
        token = cookie[SESSION_TOKEN]
    [row] = rows(inbox)
    assert row.token_hash == hashlib.sha256(token.encode()).hexdigest() != token
    assert row.agent_id == inbox.dana.id and row.remote_addr == "127.0.0.1"
    assert row.expires_at == row.created_at + timedelta(hours=12)


def test_log_out_everywhere_ends_every_session_of_that_agent_only(inbox: Inbox) -> None:
    laptop, phone = inbox.logged_in("dana@acme.test"), inbox.logged_in("dana@acme.test")
    colleague = inbox.logged_in("eli@acme.test")
    page = laptop.get("/inbox/account").get_data(as_text=True)
    assert 'action="/inbox/logout-everywhere"' in page
    response = post(laptop, "/inbox/logout-everywhere")
    assert response.status_code == 302 and response.location == "/inbox/login"
    assert "logged out everywhere" in laptop.get("/inbox/login").get_data(as_text=True)
    assert laptop.get("/inbox/").status_code == 302
    assert phone.get("/inbox/").status_code == 302
    assert colleague.get("/inbox/").status_code == 200


def test_log_out_everywhere_needs_the_csrf_token(inbox: Inbox) -> None:
    client = inbox.logged_in("dana@acme.test")
    assert client.post("/inbox/logout-everywhere").status_code == 400
    assert client.get("/inbox/").status_code == 200


def test_a_password_change_ends_every_other_session(inbox: Inbox) -> None:
    laptop, phone = inbox.logged_in("dana@acme.test"), inbox.logged_in("dana@acme.test")
    changed = post(
        laptop,
        "/inbox/account",
        current_password=PASSWORD,
        new_password=NEW_PASSWORD,
        confirm_password=NEW_PASSWORD,
    )
    assert changed.status_code == 302
    assert "Your password is changed" in laptop.get("/inbox/account").get_data(as_text=True)
    assert phone.get("/inbox/").status_code == 302  # the other device is out
    assert login(inbox.new_client(), "dana@acme.test", PASSWORD).status_code == 401
    assert login(inbox.new_client(), "dana@acme.test", NEW_PASSWORD).status_code == 302


@pytest.mark.parametrize(
    ("form", "status", "message"),
    [
        ({"current_password": "not it at all!"}, 422, "The current password is wrong."),
        ({"confirm_password": "something else entirely"}, 422, "do not match"),
        ({"new_password": "short", "confirm_password": "short"}, 422, "at least 12 characters"),
    ],
)
def test_a_refused_password_change_changes_nothing(
    inbox: Inbox, form: dict[str, str], status: int, message: str
) -> None:
    laptop, phone = inbox.logged_in("dana@acme.test"), inbox.logged_in("dana@acme.test")
    fields = {
        "current_password": PASSWORD,
        "new_password": NEW_PASSWORD,
        "confirm_password": NEW_PASSWORD,
        **form,
    }
    refused = post(laptop, "/inbox/account", **fields)
    assert refused.status_code == status
    assert message in refused.get_data(as_text=True)
    assert phone.get("/inbox/").status_code == 200
    assert login(inbox.new_client(), "dana@acme.test", PASSWORD).status_code == 302


def test_guessing_the_current_password_meets_the_login_limits(inbox: Inbox) -> None:
    client = inbox.logged_in("dana@acme.test")
    wrong = {"current_password": "a wrong guess!", "confirm_password": NEW_PASSWORD}
    for _ in range(5):
        response = post(client, "/inbox/account", new_password=NEW_PASSWORD, **wrong)
        assert response.status_code == 422
    paused = post(client, "/inbox/account", new_password=NEW_PASSWORD, **wrong)
    assert paused.status_code == 429 and "Too many attempts" in paused.get_data(as_text=True)


def test_disabling_an_agent_ends_their_sessions_for_good(inbox: Inbox) -> None:
    client = inbox.logged_in("dana@acme.test")
    set_disabled(inbox.services.db, "dana@acme.test", True, now=inbox.clock())
    set_disabled(inbox.services.db, "dana@acme.test", False, now=inbox.clock())
    assert client.get("/inbox/").status_code == 302  # enabled again, but that session is over
    assert [row.end_reason for row in rows(inbox)] == ["disabled"]


def test_an_idle_session_ends_and_an_active_one_lasts_twelve_hours(inbox: Inbox) -> None:
    idle, active = inbox.logged_in("dana@acme.test"), inbox.logged_in("eli@acme.test")
    for _ in range(11):
        inbox.clock.advance(SESSION_IDLE - timedelta(minutes=61))  # 59 minutes
        assert active.get("/inbox/").status_code == 200
    assert idle.get("/inbox/").status_code == 302
    inbox.clock.advance(timedelta(hours=12) - 11 * timedelta(minutes=59))
    assert active.get("/inbox/").status_code == 302
    assert sorted(row.end_reason or "" for row in rows(inbox)) == ["expired", "idle"]


def test_last_seen_is_written_at_most_once_a_minute(inbox: Inbox) -> None:
    client = inbox.logged_in("dana@acme.test")
    logged_in_at = inbox.clock()
    for _ in range(5):
        inbox.clock.advance(timedelta(seconds=10))
        assert client.get("/inbox/").status_code == 200
    assert rows(inbox)[0].last_seen_at == logged_in_at  # 50 s of pages: no write
    inbox.clock.advance(LAST_SEEN_EVERY)
    client.get("/inbox/")
    assert rows(inbox)[0].last_seen_at == inbox.clock()


def test_stateless_routes_never_open_a_session(inbox: Inbox) -> None:
    client = inbox.logged_in("dana@acme.test")
    before = rows(inbox)
    for path in ("/healthz", "/api/subscribers/+14155550100", "/l/nothing1"):
        assert "Set-Cookie" not in client.get(path).headers, path
    assert rows(inbox) == before


@pytest.fixture
def cli(database_url: str, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("DATABASE_URL", database_url)
    return CliRunner()


def test_bot_agents_set_password_ends_their_sessions(inbox: Inbox, cli: CliRunner) -> None:
    client = inbox.logged_in("dana@acme.test")
    result = cli.invoke(
        main, ["agents", "set-password", "Dana@acme.test", "--password-stdin"], input=NEW_PASSWORD
    )
    assert result.exit_code == 0, result.output
    assert result.output == "dana@acme.test has a new password; their sessions have ended\n"
    assert client.get("/inbox/").status_code == 302
    assert login(inbox.new_client(), "dana@acme.test", NEW_PASSWORD).status_code == 302
    for email, password, message in (
        ("nobody@acme.test", NEW_PASSWORD, "Error: no agent with email nobody@acme.test\n"),
        ("dana@acme.test", "short", "Error: the password must be at least 12 characters long\n"),
    ):
        refused = cli.invoke(
            main, ["agents", "set-password", email, "--password-stdin"], input=password
        )
        assert (refused.exit_code, refused.output) == (1, message)

"""The agent inbox as a browser sees it: the app with agents, logins and CSRF-carrying posts."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

from flask.testing import FlaskClient
from sqlmodel import Session, select
from werkzeug.test import TestResponse

from bot.accounts.agents import create_agent
from bot.store.models import Conversation
from bot.web.csrf import SESSION_KEY as CSRF_SESSION_KEY
from tests.support.harness import AppHarness
from tests.support.passwords import hash_once
from tests.support.paths import SHIPPED_FLOWS
from tests.support.sms import ALICE, reply_to

NOON_IN_SF = datetime(2026, 1, 5, 20, 0, tzinfo=UTC)
PASSWORD = "correct horse battery"
# The inbox's own script tags: a page holding any other <script> ran something it should not.
OWN_SCRIPTS = frozenset(
    {
        '<script src="/static/inbox.js" defer>',
        '<script src="/static/replies.js" defer>',  # saved replies in the reply box
        '<script src="/static/notify.js" defer>',  # every page: counts and notifications
    }
)
CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')


class Inbox(AppHarness):
    """The app with the shipped flows, an admin and two agents; each `new_client()` is one
    person's browser, with its own cookies."""

    def __init__(
        self, database_url: str, flows_dir: Path = SHIPPED_FLOWS, **settings: object
    ) -> None:
        super().__init__(database_url, now=NOON_IN_SF, flows_dir=flows_dir, **settings)
        self.app.config["TESTING"] = True
        db = self.db
        now = self.services.conversations.clock()
        self.ada = create_agent(
            db, "ada@acme.test", "Ada", PASSWORD, is_admin=True, now=now, hasher=hash_once
        )
        self.dana = create_agent(db, "dana@acme.test", "Dana", PASSWORD, now=now, hasher=hash_once)
        self.eli = create_agent(db, "eli@acme.test", "Eli", PASSWORD, now=now, hasher=hash_once)

    def new_client(self) -> FlaskClient:
        return self.app.test_client()

    def logged_in(self, email: str) -> FlaskClient:
        client = self.new_client()
        response = login(client, email, PASSWORD)
        assert response.status_code == 302, response.get_data(as_text=True)
        return client

    def handed_off(self) -> int:
        """A customer gives a low rating and asks for a human: the chat waits in the queue."""
        customer = self.new_client()
        for body in ("FEEDBACK", "1", "The box was crushed", "yes please"):
            reply_to(customer, body)
        with Session(self.services.db) as session:
            chat = session.scalars(select(Conversation).where(Conversation.phone == ALICE)).one()
            assert chat.handled_by == "waiting_for_agent"
            assert chat.id is not None
            return chat.id


def token(client: FlaskClient, path: str = "/inbox/login") -> str:
    """The CSRF token of the session, as the page at `path` carries it."""
    page = client.get(path)
    match = CSRF_FIELD.search(page.get_data(as_text=True))
    assert match, page.get_data(as_text=True)
    return match.group(1)


def login(client: FlaskClient, email: str, password: str, **extra: str) -> TestResponse:
    form = {"email": email, "password": password, "csrf_token": token(client), **extra}
    return client.post("/inbox/login", data=form)


def session_token(client: FlaskClient) -> str:
    """The CSRF token this browser's session holds: the one every page it was shown carries.

    Read from the session cookie, not from a page: fetching /inbox/ for it before every post
    rendered the whole queue each time (a fifth of test_reports' seeding).
    """
    with client.session_transaction() as session:
        held = session.get(CSRF_SESSION_KEY)
    assert isinstance(held, str) and held, "this browser has no session: log in first"
    return held


def post(client: FlaskClient, path: str, **form: str) -> TestResponse:
    """A form post with the session's CSRF token, as the inbox's pages send it."""
    return client.post(path, data={"csrf_token": session_token(client), **form})

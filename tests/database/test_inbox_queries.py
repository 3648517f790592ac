"""The inbox's lists cost as many SQL statements for thirty chats as for three: no query a row."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient
from sqlmodel import Session, select

from bot.conversations.takeover import take_over
from bot.store.models import Conversation
from tests.support.inbox import Inbox
from tests.support.sms import reply_to
from tests.support.statements import StatementCounter

LIST_PAGES = ("/inbox/", "/inbox/conversations", "/inbox/conversations?q=555")
LAST_TEXT = "yes please"  # what each customer who asked for a human texted last


@pytest.fixture
def inbox(database_url: str) -> Inbox:
    return Inbox(database_url)


def add_customers(inbox: Inbox, numbers: range) -> None:
    """Per number: a chat waiting for a human, one Dana holds, and a text no flow understands."""
    client = inbox.new_client()
    held = []
    dana_id = inbox.dana.id
    assert dana_id is not None
    for number in numbers:
        for phone in (f"+1415555{3000 + number}", f"+1415555{4000 + number}"):
            for body in ("FEEDBACK", "1", "The box was crushed", LAST_TEXT):
                reply_to(client, body, phone=phone)
        held.append(f"+1415555{4000 + number}")
        reply_to(client, "do you ship to Canada?", phone=f"+1415555{5000 + number}")
    with Session(inbox.db) as session:
        chats = session.scalars(select(Conversation.id).where(Conversation.phone.in_(held)))
        for chat in chats.all():
            take_over(inbox.services, conversation_id=chat, agent_id=dana_id)


def statements_per_page(inbox: Inbox, client: FlaskClient, customers: int) -> dict[str, int]:
    """How many statements each list page ran, once it shows every one of `customers`."""
    queue = client.get("/inbox/").get_data(as_text=True)
    assert queue.count(LAST_TEXT) == 2 * customers  # waiting for a human, and Dana's
    assert queue.count("do you ship to Canada?") == customers
    counter = StatementCounter(inbox.db)
    counts = {}
    for path in LIST_PAGES:
        before = counter.count
        page = client.get(path)
        assert page.status_code == 200, page.get_data(as_text=True)
        counts[path] = counter.count - before
    return counts


def test_the_inbox_lists_run_no_query_per_row(inbox: Inbox) -> None:
    dana = inbox.logged_in("dana@acme.test")
    add_customers(inbox, range(3))
    few = statements_per_page(inbox, dana, 3)
    add_customers(inbox, range(3, 30))
    assert statements_per_page(inbox, dana, 30) == few

"""Private notes on a conversation: agents only, never texted; `@name` leaves a colleague a
mention on their queue page until they mark it read."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.store.models import ConversationNote, Message, NoteMention
from tests.support.inbox import Inbox, post

SCRIPT = "<script>alert(1)</script>"


@pytest.fixture
def inbox(database_url: str) -> Inbox:
    return Inbox(database_url)


def test_a_note_shows_in_the_timeline_for_agents_and_never_reaches_the_customer(
    inbox: Inbox,
) -> None:
    conversation_id = inbox.handed_off()
    page = f"/inbox/conversations/{conversation_id}"
    texts_before = len(inbox.rows(Message))
    sent_before = list(inbox.gateway.outbox)
    dana = inbox.logged_in("dana@acme.test")

    added = post(dana, f"{page}/notes", body="Crushed box: she has photos. Refund likely.")

    assert added.status_code == 302 and added.location == page
    shown = dana.get(page).get_data(as_text=True)
    assert "Crushed box: she has photos. Refund likely." in shown
    assert 'class="msg msg-note"' in shown and "private: agents only" in shown
    # Nothing was queued, stored as a text or handed to the gateway.
    assert len(inbox.rows(Message)) == texts_before
    inbox.services.dispatcher.send([])
    assert inbox.gateway.outbox == sent_before
    # Another agent sees it too, with who wrote it.
    assert "Note by Dana" in inbox.logged_in("eli@acme.test").get(page).get_data(as_text=True)


def test_a_note_sits_in_the_timeline_where_it_was_written(inbox: Inbox) -> None:
    conversation_id = inbox.handed_off()
    dana = inbox.logged_in("dana@acme.test")
    inbox.clock.advance(timedelta(minutes=1))
    post(dana, f"/inbox/conversations/{conversation_id}/notes", body="FIRST-NOTE")
    inbox.clock.advance(timedelta(minutes=1))
    inbox.text("A text after the note")
    page = dana.get(f"/inbox/conversations/{conversation_id}").get_data(as_text=True)
    page = page[page.index('id="messages"') :]  # the timeline, not the queue box above it
    assert page.index("yes please") < page.index("FIRST-NOTE") < page.index("A text after the note")


def test_a_mention_waits_on_the_colleagues_queue_until_read(inbox: Inbox) -> None:
    conversation_id = inbox.handed_off()
    dana = inbox.logged_in("dana@acme.test")
    added = post(
        dana,
        f"/inbox/conversations/{conversation_id}/notes",
        body="@eli can you approve a refund? (not you, dana@acme.test)",
    )
    assert "Mentioned: Eli" in dana.get(added.location).get_data(as_text=True)
    (mention,) = inbox.rows(NoteMention)
    assert (mention.agent_id, mention.read_at) == (inbox.eli.id, None)

    eli = inbox.logged_in("eli@acme.test")
    queue = eli.get("/inbox/").get_data(as_text=True)
    assert "Notes that mention you" in queue and "can you approve a refund?" in queue
    assert f"/inbox/conversations/{conversation_id}" in queue
    # Only Eli was named: Dana's own page and Ada's say nothing.
    assert "Notes that mention you" not in dana.get("/inbox/").get_data(as_text=True)
    assert "Notes that mention you" not in inbox.logged_in("ada@acme.test").get("/inbox/").text

    # Dana cannot mark Eli's mention read; Eli can.
    post(dana, f"/inbox/mentions/{mention.id}/read")
    assert "Notes that mention you" in eli.get("/inbox/").get_data(as_text=True)
    read = post(eli, f"/inbox/mentions/{mention.id}/read")
    assert read.status_code == 302 and read.location == "/inbox/"
    assert "Notes that mention you" not in eli.get("/inbox/").get_data(as_text=True)
    assert inbox.rows(NoteMention)[0].read_at == inbox.clock()


def test_a_note_is_shown_as_text_never_as_markup(inbox: Inbox) -> None:
    conversation_id = inbox.handed_off()
    dana = inbox.logged_in("dana@acme.test")
    post(dana, f"/inbox/conversations/{conversation_id}/notes", body=f"@eli {SCRIPT}")
    eli = inbox.logged_in("eli@acme.test")
    for path in (f"/inbox/conversations/{conversation_id}", "/inbox/"):
        page = eli.get(path).get_data(as_text=True)
        assert SCRIPT not in page, path
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page, path


@pytest.mark.parametrize(
    ("body", "why"),
    [("   ", "Write something first."), ("x" * 2001, "A note can be at most 2000 characters")],
)
def test_an_empty_or_huge_note_is_refused_and_nothing_is_stored(
    inbox: Inbox, body: str, why: str
) -> None:
    conversation_id = inbox.handed_off()
    dana = inbox.logged_in("dana@acme.test")
    refused = post(dana, f"/inbox/conversations/{conversation_id}/notes", body=body)
    assert refused.status_code == 422 and why in refused.get_data(as_text=True)
    assert inbox.rows(ConversationNote) == []


def test_a_note_on_no_conversation_is_a_422_not_a_500(inbox: Inbox) -> None:
    dana = inbox.logged_in("dana@acme.test")
    refused = post(dana, "/inbox/conversations/999/notes", body="hello")
    assert refused.status_code == 422
    assert "There is no such conversation." in refused.get_data(as_text=True)


def test_a_note_without_the_csrf_token_stores_nothing(inbox: Inbox) -> None:
    conversation_id = inbox.handed_off()
    dana = inbox.logged_in("dana@acme.test")
    refused = dana.post(f"/inbox/conversations/{conversation_id}/notes", data={"body": "@eli hi"})
    assert refused.status_code == 400
    assert inbox.rows(ConversationNote) == [] and inbox.rows(NoteMention) == []

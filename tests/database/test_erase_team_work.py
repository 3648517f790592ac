"""Erasure reaches what the team wrote and kept about a person: notes and their mentions,
labels, the assignment, the open chat and queued texts (issue-17 review)."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlmodel import SQLModel

from bot.privacy.bulk import subscriber_record
from bot.store.models import (
    AgentChat,
    Assignment,
    ConversationLabel,
    ConversationNote,
    NoteMention,
    Subscriber,
    UnansweredText,
)
from tests.support.inbox import Inbox, post
from tests.support.sms import ALICE, reply_to


def _alice_id(inbox: Inbox) -> int:
    return next(row.id for row in inbox.rows(Subscriber) if row.phone == ALICE)


def _count(inbox: Inbox, model: type[SQLModel]) -> int:
    table = model.__table__  # type: ignore[attr-defined]
    with inbox.db.connect() as connection:
        return connection.execute(select(func.count()).select_from(table)).scalar_one()


def test_erase_deletes_notes_labels_and_takes_the_person_out_of_the_queue(
    database_url: str,
) -> None:
    inbox = Inbox(database_url)
    conversation_id = inbox.handed_off()
    dana = inbox.logged_in("dana@acme.test")
    post(dana, "/inbox/availability", available="1")
    note = "@eli Alice lives at 1 Main St, card 4111"
    assert post(dana, f"/inbox/conversations/{conversation_id}/notes", body=note).status_code == 302
    post(dana, f"/inbox/conversations/{conversation_id}/labels", label="refund")
    assert _count(inbox, ConversationNote) == _count(inbox, NoteMention) == 1
    assert _count(inbox, ConversationLabel) == _count(inbox, Assignment) == 1
    assert [chat.closed_at for chat in inbox.rows(AgentChat)] == [None]

    ada = inbox.logged_in("ada@acme.test")
    erase = post(ada, f"/inbox/contacts/{_alice_id(inbox)}/erase", confirm="yes")
    assert erase.status_code == 302

    assert _count(inbox, ConversationNote) == _count(inbox, NoteMention) == 0
    assert _count(inbox, ConversationLabel) == _count(inbox, Assignment) == 0
    assert [chat.outcome for chat in inbox.rows(AgentChat)] == ["erased"]
    page = ada.get(f"/inbox/conversations/{conversation_id}").get_data(as_text=True)
    assert "1 Main St" not in page
    # A later round finds nobody of hers waiting.
    assert post(dana, "/inbox/availability", available="1").status_code == 302
    assert _count(inbox, Assignment) == 0


def test_erase_closes_open_texts_in_the_queue(database_url: str) -> None:
    inbox = Inbox(database_url)
    reply_to(inbox.new_client(), "I'm at 1 Main St, where is #4411?")
    dana = inbox.logged_in("dana@acme.test")
    post(dana, "/inbox/availability", available="1")
    assert _count(inbox, Assignment) == 1
    assert [text.handled_at for text in inbox.rows(UnansweredText)] == [None]

    ada = inbox.logged_in("ada@acme.test")
    assert post(ada, f"/inbox/contacts/{_alice_id(inbox)}/erase", confirm="yes").status_code == 302

    assert [text.outcome for text in inbox.rows(UnansweredText)] == ["erased"]
    assert [chat.outcome for chat in inbox.rows(AgentChat)] == ["erased"]
    assert _count(inbox, Assignment) == 0
    assert "4411" not in dana.get("/inbox/?view=mine").get_data(as_text=True)


def test_a_persons_record_holds_the_notes_about_them(database_url: str) -> None:
    inbox = Inbox(database_url)
    conversation_id = inbox.handed_off()
    dana = inbox.logged_in("dana@acme.test")
    note = "Prefers a call after 5pm"
    assert post(dana, f"/inbox/conversations/{conversation_id}/notes", body=note).status_code == 302
    record = subscriber_record(inbox.db, ALICE)
    assert record is not None
    assert [row["body"] for row in record["notes"]] == [note]

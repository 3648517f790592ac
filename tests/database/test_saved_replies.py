"""Saved replies over HTTP: filled in for the conversation's person, then sent as any reply."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import update

from bot.store.db import transaction
from bot.store.tables import SUBSCRIBERS
from tests.support.inbox import Inbox, post
from tests.support.paths import SHIPPED_FLOWS
from tests.support.sms import ALICE

SCRIPT = "<script>alert(1)</script>"


@pytest.fixture
def inbox(database_url: str) -> Inbox:
    return Inbox(database_url, BRAND_NAME="Acme", SUPPORT_CONTACT="help@acme.test")


def name_alice(inbox: Inbox, first_name: str) -> None:
    with transaction(inbox.db) as connection:
        connection.execute(
            update(SUBSCRIBERS).where(SUBSCRIBERS.c.phone == ALICE).values(first_name=first_name)
        )


def test_a_saved_reply_is_filled_in_for_the_person(inbox: Inbox) -> None:
    conversation_id = inbox.handed_off()
    dana = inbox.logged_in("dana@acme.test")
    url = f"/inbox/conversations/{conversation_id}/replies"
    anonymous = dana.get(f"{url}/hours").get_json()
    assert anonymous["title"] == "Opening hours"
    assert anonymous["text"].endswith("write to help@acme.test and we'll answer first thing.")
    assert dana.get(f"{url}/shipping").get_json()["text"].startswith("Hi there, orders ship")
    name_alice(inbox, "Alice")
    assert dana.get(f"{url}/SHIPPING").get_json()["text"].startswith("Hi Alice, orders ship")


def test_the_conversation_page_offers_the_saved_replies(inbox: Inbox) -> None:
    conversation_id = inbox.handed_off()
    page = inbox.logged_in("dana@acme.test").get(f"/inbox/conversations/{conversation_id}")
    html = page.get_data(as_text=True)
    assert 'id="saved-reply-picker"' in html
    assert "Shipping times · /shipping" in html and "Returns and exchanges · /returns" in html


def test_an_unknown_shortcut_or_conversation_is_a_404(inbox: Inbox) -> None:
    conversation_id = inbox.handed_off()
    dana = inbox.logged_in("dana@acme.test")
    missing = dana.get(f"/inbox/conversations/{conversation_id}/replies/nope")
    assert missing.status_code == 404
    assert missing.get_json()["error"] == "no saved reply /nope"
    assert dana.get("/inbox/conversations/999/replies/shipping").status_code == 404


def test_a_filled_reply_goes_out_through_the_normal_reply_path(inbox: Inbox) -> None:
    conversation_id = inbox.handed_off()
    page = f"/inbox/conversations/{conversation_id}"
    dana = inbox.logged_in("dana@acme.test")
    post(dana, f"{page}/take")
    text = dana.get(f"{page}/replies/returns").get_json()["text"]
    assert post(dana, f"{page}/reply", body=text).status_code == 302
    assert inbox.sent_to(ALICE)[-1] == text
    # An opted-out number: the send policy refuses it, as any reply.
    inbox.text("STOP")
    refused = post(dana, f"{page}/reply", body=text)
    assert refused.status_code == 409
    assert "opted out" in refused.get_data(as_text=True)


def test_a_persons_markup_in_a_filled_reply_stays_text(inbox: Inbox, tmp_path: Path) -> None:
    conversation_id = inbox.handed_off()
    name_alice(inbox, SCRIPT)
    dana = inbox.logged_in("dana@acme.test")
    answer = dana.get(f"/inbox/conversations/{conversation_id}/replies/thanks")
    assert answer.mimetype == "application/json"  # the JS puts it in the box as text
    assert SCRIPT in answer.get_json()["text"]


def test_a_saved_replys_title_is_escaped_on_the_page(database_url: str, tmp_path: Path) -> None:
    (tmp_path / "feedback.yaml").write_text((SHIPPED_FLOWS / "feedback.yaml").read_text())
    (tmp_path / "replies.yaml").write_text(
        f"replies:\n  - shortcut: x\n    title: '{SCRIPT}'\n    text: hi\n"
    )
    inbox = Inbox(database_url, flows_dir=tmp_path)
    conversation_id = inbox.handed_off()
    html = inbox.logged_in("dana@acme.test").get(f"/inbox/conversations/{conversation_id}").text
    assert SCRIPT not in html and "&lt;script&gt;alert(1)&lt;/script&gt; · /x" in html


def test_a_broken_replies_file_keeps_the_last_good_version(
    database_url: str, tmp_path: Path
) -> None:
    (tmp_path / "feedback.yaml").write_text((SHIPPED_FLOWS / "feedback.yaml").read_text())
    replies = tmp_path / "replies.yaml"
    replies.write_text("replies:\n  - shortcut: hi\n    title: Hello\n    text: Hi {brand}\n")
    inbox = Inbox(database_url, flows_dir=tmp_path, BRAND_NAME="Acme")
    conversation_id = inbox.handed_off()
    dana = inbox.logged_in("dana@acme.test")
    url = f"/inbox/conversations/{conversation_id}/replies/hi"
    assert dana.get(url).get_json()["text"] == "Hi Acme"
    replies.write_text("replies:\n  - shortcut: hi\n    title: Hello\n    text: Hi {brnad} again\n")
    assert dana.get(url).get_json()["text"] == "Hi Acme"

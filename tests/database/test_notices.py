"""The agent's unread counts and news: the page title, the navigation's badges and the feed
every inbox page polls (`GET /inbox/events`); what counts as unread and what marks it read."""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask.testing import FlaskClient

from bot.conversations.notes import MENTIONS_SHOWN, add_note
from bot.store.models import Agent, NoteMention
from tests.support.inbox import Inbox, post

REFUND = "@eli can you approve a refund?"


@pytest.fixture
def inbox(database_url: str) -> Inbox:
    return Inbox(database_url)


def feed(client: FlaskClient) -> dict[str, Any]:
    response = client.get("/inbox/events")
    assert response.status_code == 200, response.get_data(as_text=True)
    body: dict[str, Any] = response.get_json()
    return body


def title_and_badges(client: FlaskClient) -> tuple[str, dict[str, str | None]]:
    """The queue page's title, and each badge's number (None while it is hidden)."""
    page = client.get("/inbox/").get_data(as_text=True)
    title = re.search(r"<title>([^<]*)</title>", page)
    assert title
    badges: dict[str, str | None] = {}
    for name in ("queue", "mentions"):
        badge = re.search(rf'<span class="badge" id="badge-{name}"[^>]*?( hidden)?>(\d+)<', page)
        assert badge, page
        badges[name] = None if badge.group(1) else badge.group(2)
    return title.group(1), badges


def available(client: FlaskClient) -> None:
    assert post(client, "/inbox/availability", available="1").status_code == 302


def test_a_mention_is_counted_and_announced_to_the_colleague_until_they_mark_it_read(
    inbox: Inbox,
) -> None:
    conversation_id = inbox.handed_off()
    dana, eli = inbox.logged_in("dana@acme.test"), inbox.logged_in("eli@acme.test")
    assert title_and_badges(eli) == ("Queue · Parley", {"queue": None, "mentions": None})

    post(dana, f"/inbox/conversations/{conversation_id}/notes", body=REFUND)

    news = feed(eli)
    assert news["counts"] == {"queue": 0, "mentions": 1, "total": 1}
    (item,) = news["notices"]
    assert item["kind"] == "mention"
    assert item["title"] == "Dana mentioned you"
    assert item["body"].endswith(REFUND)
    assert item["url"] == f"/inbox/conversations/{conversation_id}"
    assert feed(eli)["notices"][0]["key"] == item["key"]  # the same item: notified once
    assert title_and_badges(eli) == ("(1) Queue · Parley", {"queue": None, "mentions": "1"})
    # The author and the agent nobody named have nothing new.
    assert feed(dana)["counts"]["total"] == 0
    assert feed(inbox.logged_in("ada@acme.test"))["notices"] == []

    # Opening the chat is not reading the mention: marking it read is.
    eli.get(item["url"])
    assert feed(eli)["counts"]["mentions"] == 1
    (mention,) = inbox.rows(NoteMention)
    post(eli, f"/inbox/mentions/{mention.id}/read")
    assert feed(eli) | {"notify": None} == {
        "counts": {"queue": 0, "mentions": 0, "total": 0},
        "notices": [],
        "notify": None,
    }
    assert title_and_badges(eli) == ("Queue · Parley", {"queue": None, "mentions": None})


def test_a_chat_assigned_to_an_agent_is_counted_until_they_take_it_over(inbox: Inbox) -> None:
    dana, eli = inbox.logged_in("dana@acme.test"), inbox.logged_in("eli@acme.test")
    available(eli)  # the only agent available: round robin gives Eli the next person waiting
    conversation_id = inbox.handed_off()

    news = feed(eli)
    assert news["counts"] == {"queue": 1, "mentions": 0, "total": 1}
    (item,) = news["notices"]
    assert item["kind"] == "assigned"
    assert item["title"] == "A chat is assigned to you"
    assert item["url"] == f"/inbox/conversations/{conversation_id}"
    assert title_and_badges(eli) == ("(1) Queue · Parley", {"queue": "1", "mentions": None})
    assert feed(dana)["counts"]["total"] == 0

    # Given by hand to Dana: it is her news now; Eli's count goes down.
    post(eli, f"/inbox/conversations/{conversation_id}/assign", agent_id=str(inbox.dana.id))
    assert feed(eli)["counts"]["queue"] == 0
    (given,) = feed(dana)["notices"]
    assert given["kind"] == "assigned" and given["url"] == item["url"]

    # Taking the chat over is seeing to it.
    assert post(dana, f"/inbox/conversations/{conversation_id}/take").status_code == 302
    assert feed(dana)["counts"] == {"queue": 0, "mentions": 0, "total": 0}
    assert title_and_badges(dana)[0] == "Queue · Parley"


def test_the_count_of_mentions_is_exact_beyond_the_listed_ones(inbox: Inbox) -> None:
    conversation_id = inbox.handed_off()
    for n in range(MENTIONS_SHOWN + 2):
        add_note(
            inbox.db,
            conversation_id=conversation_id,
            agent_id=inbox.dana.id,
            body=f"@eli number {n}",
            now=inbox.clock(),
        )
    news = feed(inbox.logged_in("eli@acme.test"))
    assert news["counts"]["mentions"] == MENTIONS_SHOWN + 2
    assert len(news["notices"]) == MENTIONS_SHOWN
    assert news["notices"][0]["body"].endswith(f"number {MENTIONS_SHOWN + 1}")  # newest first


def test_an_agent_opts_in_to_notifications_and_a_sound(inbox: Inbox) -> None:
    eli = inbox.logged_in("eli@acme.test")
    assert feed(eli)["notify"] == {"desktop": False, "sound": False}

    saved = post(eli, "/inbox/account/notifications", desktop="1", sound="1")

    assert saved.status_code == 302 and saved.location == "/inbox/account"
    page = eli.get("/inbox/account").get_data(as_text=True)
    assert "You get notifications and a sound for new chats and mentions." in page
    assert 'data-notify-desktop="1"' in page and 'data-notify-sound="1"' in page
    assert feed(eli)["notify"] == {"desktop": True, "sound": True}
    # Only Eli's choice changed.
    assert feed(inbox.logged_in("dana@acme.test"))["notify"] == {"desktop": False, "sound": False}

    post(eli, "/inbox/account/notifications")  # nothing ticked: both off
    assert feed(eli)["notify"] == {"desktop": False, "sound": False}


def test_the_feed_and_the_opt_in_need_a_login_and_the_token(inbox: Inbox) -> None:
    stranger = inbox.new_client()
    refused = stranger.get("/inbox/events")
    assert refused.status_code == 401 and refused.is_json
    eli = inbox.logged_in("eli@acme.test")
    forged = eli.post("/inbox/account/notifications", data={"desktop": "1"})
    assert forged.status_code == 400
    eli_row = next(agent for agent in inbox.rows(Agent) if agent.id == inbox.eli.id)
    assert eli_row.notify_desktop is False


def test_the_mentions_page_lists_unread_mentions_and_marking_one_read_stays_there(
    inbox: Inbox,
) -> None:
    conversation_id = inbox.handed_off()
    post(
        inbox.logged_in("dana@acme.test"),
        f"/inbox/conversations/{conversation_id}/notes",
        body=REFUND,
    )
    eli = inbox.logged_in("eli@acme.test")

    page = eli.get("/inbox/mentions").get_data(as_text=True)
    assert "<title>(1) Mentions · Parley</title>" in page and REFUND in page

    (mention,) = inbox.rows(NoteMention)
    read = post(eli, f"/inbox/mentions/{mention.id}/read", next="/inbox/mentions")
    assert read.status_code == 302 and read.location == "/inbox/mentions"
    page = eli.get("/inbox/mentions").get_data(as_text=True)
    assert REFUND not in page and "No unread mentions." in page
    # Any other "next" is not followed.
    assert (
        post(eli, f"/inbox/mentions/{mention.id}/read", next="https://evil.test/").location
        == "/inbox/"
    )


def test_a_tab_left_open_and_polling_does_not_keep_its_agent_available(inbox: Inbox) -> None:
    dana, eli = inbox.logged_in("dana@acme.test"), inbox.logged_in("eli@acme.test")
    available(dana)
    available(eli)
    # Both tabs poll for longer than AGENT_AWAY_MINUTES; only Eli also opens a page. (Were
    # both present, the tie would go to Dana, the lower id.)
    for _ in range(4):
        inbox.clock.advance(inbox.services.settings.agent_away_after / 3)
        feed(dana)
        feed(eli)
        assert eli.get("/inbox/").status_code == 200

    inbox.handed_off()

    assert feed(eli)["counts"]["queue"] == 1  # at his desk: round robin gives him the person
    assert feed(dana)["counts"]["queue"] == 0  # away by idleness, polling or not

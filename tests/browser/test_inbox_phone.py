"""The inbox on a phone (390 px wide), and a conversation page that follows changes made elsewhere.

Every page must fit the screen: nothing cut off, tables scroll inside their own box. An open
conversation page must show who holds the chat, and keep its header true while another agent
or the customer changes things.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import PHONE_VIEWPORT
from tests.browser.inbox_steps import (
    add_agent,
    ask_for_a_human,
    button,
    log_in,
    open_the_waiting_chat,
)
from tests.browser.layout import assert_fits
from tests.support.sms import BOB

if TYPE_CHECKING:
    from collections.abc import Callable

    from playwright.sync_api import Page

    from tests.browser.conftest import LiveServer

DANA = "dana@acme.test"
ELI = "eli@acme.test"
NAV_LINKS = [
    "Queue",
    "Mentions",
    "Conversations",
    "Contacts",
    "Campaigns",
    "Flows",
    "Labels",
    "Reports",
    "Agents",
]
# Long words that would push a card past a phone's edge if it did not wrap them.
NOTE = "@ada the customer-sent-photos-of-the-crushed-box-and-the-torn-lid: a free return?"


@pytest.fixture
def ada(live_server: LiveServer) -> str:
    """An admin, so every page (Agents too) is in the navigation."""
    return add_agent(live_server, "Ada Admin", is_admin=True)


@pytest.fixture
def two_agents(live_server: LiveServer) -> tuple[str, str]:
    return add_agent(live_server, "Dana", DANA), add_agent(live_server, "Eli", ELI)


# Where a tap on each link lands, as Playwright's click checks it (the hit target at the centre,
# once scrolled into view), for every link of the navigation in one round trip: a trial click
# per link also waited for two animation frames (6.8 of this file's 18 s for 180 links), and a
# round trip per link took most of the rest.
TAPS = """(links) => links.map((link) => {
  const seen = link.getBoundingClientRect();  // where it is before anything scrolls
  const shown = seen.width > 0 && seen.height > 0
    && getComputedStyle(link).visibility !== "hidden";
  link.scrollIntoView({block: "nearest", inline: "nearest"});
  const box = link.getBoundingClientRect();
  const hit = document.elementFromPoint(box.left + box.width / 2, box.top + box.height / 2);
  return {name: link.innerText.replace(/\\s+/g, " ").trim(), left: seen.left,
          right: seen.right, shown: shown, tapped: hit !== null && link.contains(hit)};
})"""


def assert_nav_usable(page: Page) -> None:
    """Every link of the navigation is on screen and would take a tap (nothing covers it)."""
    width = page.viewport_size["width"] if page.viewport_size else 0
    taps = page.get_by_role("navigation").get_by_role("link").evaluate_all(TAPS)
    for name in NAV_LINKS:
        # A badge's count is part of the link's name ("Mentions 1").
        named = re.compile(rf"^{name}( \d+)?$")
        (tap,) = [tap for tap in taps if named.match(tap["name"])] or [{"name": name}]
        assert tap.get("shown") and 0 <= tap["left"] and tap["right"] <= width, (name, tap)
        assert tap["tapped"], f"{name}: something covers the link"


def at_the_waiting_chat(page: Page, live_server: LiveServer, email: str = DANA) -> None:
    """The customer asks for a human; the agent logs in and opens their chat."""
    log_in(page, email)
    ask_for_a_human(live_server)
    open_the_waiting_chat(page)


def expect_ended_without_reload(page: Page, label: str | re.Pattern[str], hint: str) -> None:
    """The open page's header shows the chat ended (no step, no take over), on the same page."""
    expect(page.locator("#chat-state")).to_have_text(label)
    expect(page.locator("#chat-summary")).not_to_contain_text("to_human")
    expect(page.locator("#reply-hint")).to_have_text(hint)
    expect(button(page, "take over")).to_be_hidden()
    assert page.evaluate("window.stillTheSamePage") is True


def every_page(conversation: str, contact: str) -> list[str]:
    """Every page of the inbox; the conversation's, the queue's and the campaign's have tables."""
    return [
        "/inbox/",
        "/inbox/?view=mine",
        "/inbox/?view=unassigned",
        "/inbox/?view=all",
        "/inbox/mentions",
        "/inbox/conversations",
        "/inbox/conversations?label=vip",
        conversation,
        "/inbox/contacts",
        "/inbox/contacts?q=0101",
        contact,
        "/inbox/labels",
        "/inbox/account",
        "/inbox/agents",
        "/inbox/campaigns",
        "/inbox/campaigns/winter_sale",
        "/inbox/flows",
        "/inbox/flows/feedback",
        "/inbox/reports",
        "/inbox/conversations/999999",  # the error page
    ]


def test_every_inbox_page_fits_a_phone(
    open_page: Callable[..., Page], phone: Page, live_server: LiveServer, ada: str
) -> None:
    phone.goto("/inbox/login")
    assert_fits(phone)
    log_in(phone)
    ask_for_a_human(live_server, comment="The box was crushed and the lid was torn " * 3)
    live_server.text("wheres-my-order-number-1234567890-please-answer-asap", phone=BOB)
    open_the_waiting_chat(phone)
    conversation = urlsplit(phone.url).path
    # A colleague's note mentions Ada, so her mentions list has something to lay out.
    add_agent(live_server, "Dana", DANA)
    dana = open_page(PHONE_VIEWPORT)
    log_in(dana, DANA)
    dana.goto(conversation)
    dana.get_by_label(re.compile("private note", re.IGNORECASE)).fill(NOTE)
    button(dana, "add note").click()
    expect(dana.get_by_role("status").filter(has_text="Mentioned: Ada Admin")).to_be_visible()
    assert_fits(dana)
    phone.reload()
    phone.get_by_label("Label to add").select_option("vip")
    button(phone, "add label").click()
    expect(phone.locator("#labels-on")).to_contain_text("vip")
    phone.goto("/inbox/contacts")
    contact = phone.get_by_role("link", name=BOB).get_attribute("href") or ""
    assert re.search(r"/inbox/contacts/\d+$", contact), contact
    for path in every_page(conversation, contact):
        phone.goto(path)
        assert_fits(phone)
        assert_nav_usable(phone)


def test_a_second_agent_sees_who_has_the_chat_and_cannot_take_it(
    open_page: Callable[..., Page], live_server: LiveServer, two_agents: tuple[str, str]
) -> None:
    dana, eli = open_page(), open_page()
    log_in(eli, ELI)
    at_the_waiting_chat(dana, live_server)
    eli.goto(dana.url)
    expect(button(eli, "take over")).to_be_visible()

    button(dana, "take over").click()
    expect(dana.locator("#chat-state")).to_have_text("You have this chat")
    # Eli's open page learns it from the poll; a fresh load says the same.
    for page in (eli, eli.context.new_page()):
        if page is not eli:
            page.goto(eli.url)
        expect(page.locator("#chat-state")).to_have_text("Dana has this chat")
        expect(button(page, "take over")).to_be_hidden()
        expect(page.locator("#reply-hint")).to_have_text(
            "Dana has this chat: only they can reply or hand it back."
        )


def test_the_header_follows_a_hand_back_made_by_another_agent(
    open_page: Callable[..., Page], live_server: LiveServer, two_agents: tuple[str, str]
) -> None:
    dana, eli = open_page(), open_page()
    log_in(eli, ELI)
    at_the_waiting_chat(dana, live_server)
    button(dana, "take over").click()
    eli.goto(dana.url)
    expect(eli.locator("#chat-state")).to_have_text("Dana has this chat")
    expect(eli.locator("#chat-handoff")).to_contain_text("low rating")
    eli.evaluate("window.stillTheSamePage = true")

    button(dana, "hand back").click()  # the feedback flow goes on to its end

    expect_ended_without_reload(eli, re.compile(r"^Ended"), "This conversation has ended.")
    expect(eli.locator("#chat-handoff")).to_be_hidden()


def test_the_header_follows_a_stop_while_the_agent_has_the_chat(
    phone: Page, live_server: LiveServer, two_agents: tuple[str, str]
) -> None:
    at_the_waiting_chat(phone, live_server)
    button(phone, "take over").click()
    expect(phone.locator("#reply-form")).to_be_visible()
    expect(phone.locator("#chat-summary")).not_to_contain_text("opted out")
    phone.evaluate("window.stillTheSamePage = true")

    live_server.text("STOP")

    expect_ended_without_reload(
        phone, "Ended (opted out)", "This number opted out: it cannot be texted."
    )
    expect(phone.locator("#chat-summary")).to_contain_text("opted out")
    expect(phone.locator("#reply-form")).to_be_hidden()
    expect(button(phone, "hand back")).to_be_hidden()


def test_answers_read_as_people_write_them(
    phone: Page, live_server: LiveServer, two_agents: tuple[str, str]
) -> None:
    at_the_waiting_chat(phone, live_server)
    answers = phone.locator(".answers")
    expect(answers.locator("dt:has-text('wants_human') + dd")).to_contain_text("Yes")
    expect(answers.locator("dt:has-text('rating') + dd")).to_contain_text("1")
    expect(answers).not_to_contain_text("True")


def test_the_reply_counter_says_what_room_is_left(
    phone: Page, live_server: LiveServer, two_agents: tuple[str, str]
) -> None:
    at_the_waiting_chat(phone, live_server)
    button(phone, "take over").click()
    counter = phone.locator("#segment-info")
    expect(counter).to_have_text("160 characters left")
    phone.get_by_label(re.compile("reply", re.IGNORECASE)).fill("Hello")
    expect(counter).to_have_text("1 segment · GSM-7 · 155 characters left")
    phone.get_by_label(re.compile("reply", re.IGNORECASE)).fill("")
    expect(counter).to_have_text("160 characters left")

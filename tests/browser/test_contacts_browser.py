"""Contacts in a real browser, at desktop and phone width: find a person, text them first, and
the chat is the agent's, with the bot quiet and the reply box working."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import PHONE_VIEWPORT, VIEWPORT
from tests.browser.inbox_steps import add_agent, button, log_in, texts
from tests.browser.layout import assert_fits
from tests.support.sms import BOB

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from playwright.sync_api import Page

    from tests.browser.conftest import LiveServer

CAROL = "+14155550102"


@pytest.mark.parametrize("viewport", [VIEWPORT, PHONE_VIEWPORT], ids=["desktop", "phone"])
def test_find_a_contact_and_text_them(
    open_page: Callable[..., Page],
    live_server: LiveServer,
    viewport: dict[str, int],
    screenshots: Path,
) -> None:
    live_server.text("HELP", phone=BOB)
    live_server.text("STOP", phone=CAROL)  # opted out, never in a conversation
    add_agent(live_server, "Ana Agent")
    page = open_page(viewport)
    log_in(page)

    page.get_by_role("navigation").get_by_role("link", name="Contacts", exact=True).click()
    expect(page).to_have_url(re.compile(r"/inbox/contacts$"))
    assert_fits(page)

    # Carol is found though she never had a conversation; she cannot be texted.
    page.get_by_label("Search contacts").fill("(415) 555-0102")
    button(page, "search").click()
    page.get_by_role("link", name=CAROL).click()
    expect(page.get_by_text("This number opted out: it cannot be texted.")).to_be_visible()
    expect(page.locator("#reply-form")).to_have_count(0)

    page.goto("/inbox/contacts")
    page.get_by_label("Search contacts").fill("415.555.0101")
    button(page, "search").click()
    page.get_by_role("link", name=BOB).click()
    expect(page).to_have_url(re.compile(r"/inbox/contacts/\d+$"))
    box = page.get_by_label(re.compile("^Text "))
    box.fill("Hi Bob, your parcel left today.")
    expect(page.locator("#segment-info")).to_have_text("1 segment · GSM-7 · 129 characters left")
    assert_fits(page)
    if viewport == VIEWPORT:
        page.screenshot(path=screenshots / "contact.png")
    button(page, "send").click()

    expect(page).to_have_url(re.compile(r"/inbox/conversations/\d+$"))
    expect(page.locator("#chat-state")).to_have_text("You have this chat")
    expect(texts(page).get_by_text("Hi Bob, your parcel left today.")).to_be_visible()
    assert [text.body for text in live_server.gateway.outbox if text.to == BOB][-1] == (
        "Hi Bob, your parcel left today."
    )
    assert live_server.text("Great, thanks!", phone=BOB) == []  # the bot stays quiet
    expect(texts(page).get_by_text("Great, thanks!")).to_be_visible()  # without a reload
    expect(page.locator("#reply-form")).to_be_visible()
    assert_fits(page)

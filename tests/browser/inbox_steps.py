"""What the inbox's browser tests do again and again: add an agent, log in, play the customer."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from playwright.sync_api import expect

from bot.accounts.agents import create_agent
from tests.support.passwords import hash_once
from tests.support.sms import ALICE

if TYPE_CHECKING:
    from playwright.sync_api import Locator, Page

    from tests.browser.conftest import LiveServer

EMAIL = "ana@acme.test"
PASSWORD = "correct horse battery staple"
HANDOFF_ANSWER = "Thanks. A teammate will text you shortly."


def add_agent(
    live_server: LiveServer, name: str, email: str = EMAIL, *, is_admin: bool = False
) -> str:
    """An agent who can log in with PASSWORD; returns the name the inbox shows."""
    services = live_server.services
    now = services.conversations.clock()
    create_agent(services.db, email, name, PASSWORD, is_admin=is_admin, now=now, hasher=hash_once)
    return name


def log_in(page: Page, email: str = EMAIL) -> None:
    page.goto("/inbox/")
    expect(page).to_have_url(re.compile(r"/inbox/login"))
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name=re.compile("log in", re.IGNORECASE)).click()
    expect(page).to_have_url(re.compile(r"/inbox/$"))


def ask_for_a_human(live_server: LiveServer, comment: str = "The box was crushed") -> None:
    """The shipped feedback flow: a low rating, a comment, and yes to a teammate."""
    assert any("rate your last order" in reply for reply in live_server.text("FEEDBACK"))
    assert any("Anything you'd like" in reply for reply in live_server.text("1"))
    assert any("someone from our team" in reply for reply in live_server.text(comment))
    assert live_server.text("yes") == [HANDOFF_ANSWER]


def open_the_waiting_chat(page: Page) -> None:
    page.goto("/inbox/")
    page.get_by_role("link", name=re.compile(re.escape(ALICE))).first.click()
    expect(page).to_have_url(re.compile(r"/inbox/conversations/\d+$"))


def button(page: Page, name: str) -> Locator:
    return page.get_by_role("button", name=re.compile(name, re.IGNORECASE))


def texts(page: Page) -> Locator:
    """The conversation's texts (the side panel repeats answers such as the comment)."""
    return page.locator("#messages")

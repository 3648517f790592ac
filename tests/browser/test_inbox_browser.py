"""The agent's whole story in a real browser: log in, see the queue, take over, reply, hand back.

A customer is played by posting Twilio's form to the live server; the agent by Chromium.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from playwright.sync_api import expect

from tests.browser.inbox_steps import (
    add_agent,
    ask_for_a_human,
    button,
    log_in,
    open_the_waiting_chat,
    texts,
)
from tests.support.sms import ALICE

if TYPE_CHECKING:
    from playwright.sync_api import Page

    from tests.browser.conftest import LiveServer

SCRIPT = "<script>window.pwned=1</script>"


@pytest.fixture
def agent(live_server: LiveServer) -> str:
    """An agent who can log in; returns the name the inbox shows."""
    return add_agent(live_server, "Ana Agent")


def test_an_agent_takes_over_replies_and_hands_back(
    page: Page, live_server: LiveServer, agent: str, screenshots: Path
) -> None:
    log_in(page)
    ask_for_a_human(live_server)

    page.goto("/inbox/")
    expect(page.get_by_text(ALICE).first).to_be_visible()
    page.screenshot(path=screenshots / "inbox.png")

    open_the_waiting_chat(page)
    expect(texts(page).get_by_text("The box was crushed")).to_be_visible()
    button(page, "take over").click()
    expect(page.get_by_text("You have this chat").first).to_be_visible()

    # A text arriving now shows up without a reload: the marker would not survive one.
    page.evaluate("window.stillTheSamePage = true")
    assert live_server.text("Hello? Is anyone there?") == []  # the bot is quiet
    expect(texts(page).get_by_text("Hello? Is anyone there?")).to_be_visible()
    assert page.evaluate("window.stillTheSamePage") is True

    reply = "Hi, this is Ana. Sorry about the box: a new one is on its way."
    page.get_by_label(re.compile("reply", re.IGNORECASE)).fill(reply)
    button(page, "send").click()
    expect(texts(page).get_by_text(reply)).to_be_visible()
    assert [(text.to, text.body) for text in live_server.gateway.outbox] == [(ALICE, reply)]
    button(page, "send").scroll_into_view_if_needed()  # the newest texts in the picture
    page.screenshot(path=screenshots / "conversation.png")

    button(page, "hand back").click()
    expect(page.get_by_role("status").filter(has_text="Handed back")).to_be_visible()
    assert any("recommend us" in answer for answer in live_server.text("SURVEY"))


def test_a_script_in_a_customer_text_shows_as_text_and_never_runs(
    page: Page, live_server: LiveServer, agent: str
) -> None:
    log_in(page)
    ask_for_a_human(live_server, comment=SCRIPT)  # rendered by the server's template
    open_the_waiting_chat(page)
    expect(texts(page).get_by_text(SCRIPT)).to_be_visible()

    button(page, "take over").click()
    expect(page.get_by_text("You have this chat").first).to_be_visible()
    live_server.text(f"again: {SCRIPT}")  # rendered by the page's own script, live
    expect(texts(page).get_by_text(f"again: {SCRIPT}")).to_be_visible()
    assert page.evaluate("typeof window.pwned") == "undefined"


@pytest.mark.parametrize("path", ["/inbox/", "/inbox/conversations/1", "/inbox/agents"])
def test_a_page_without_a_session_redirects_to_the_login(
    page: Page, live_server: LiveServer, path: str
) -> None:
    page.goto(path)
    expect(page).to_have_url(re.compile(r"/inbox/login\?next="))
    expect(page.get_by_label("Password")).to_be_visible()


def test_a_form_post_without_the_csrf_token_is_refused(
    page: Page, live_server: LiveServer, agent: str
) -> None:
    log_in(page)
    ask_for_a_human(live_server)
    open_the_waiting_chat(page)
    take_url = page.url + "/take"

    # The browser's own cookies, but no token: what a forged cross-site form would send.
    response = page.request.post(take_url, form={}, max_redirects=0)
    assert response.status == 400

    page.reload()
    expect(page.get_by_text("Waiting for an agent").first).to_be_visible()  # nothing changed

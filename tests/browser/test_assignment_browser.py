"""Two agents share the queue in two browsers: they turn available, round robin deals the
people who text in between them, one passes a chat to the other, then goes away."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from playwright.sync_api import expect

from tests.browser.inbox_steps import add_agent, button, log_in

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from playwright.sync_api import Page

    from tests.browser.conftest import LiveServer

QUESTION = "Where is my order #4411?"
PEOPLE = ("+14155550300", "+14155550301", "+14155550302", "+14155550303")


def turn_available(page: Page) -> None:
    button(page, "^away$").click()
    expect(page.locator("#availability")).to_have_text("Available")


def mine(page: Page) -> Page:
    page.goto("/inbox/?view=mine")
    return page


def test_two_agents_share_the_people_waiting_and_pass_one_on(
    open_page: Callable[..., Page], live_server: LiveServer, screenshots: Path
) -> None:
    add_agent(live_server, "Ana Agent", "ana@acme.test")
    add_agent(live_server, "Ben Agent", "ben@acme.test")
    ana, ben = open_page(), open_page()
    log_in(ana, "ana@acme.test")
    log_in(ben, "ben@acme.test")
    expect(ana.locator("#availability")).to_have_text("Away")  # nobody starts available
    turn_available(ana)
    turn_available(ben)

    for phone in PEOPLE:
        live_server.text(QUESTION, phone=phone)

    # Each sees two under "mine": the fewest open chats first, ties to whoever waited longest.
    expect(mine(ana).locator("#view-mine .count")).to_have_text("2")
    expect(mine(ben).locator("#view-mine .count")).to_have_text("2")
    expect(ana.locator("#view-unassigned .count")).to_have_text("0")
    expect(ana.locator("#view-all .count")).to_have_text("4")
    anas = [phone for phone in PEOPLE if ana.get_by_text(phone).count()]
    bens = [phone for phone in PEOPLE if ben.get_by_text(phone).count()]
    assert sorted(anas + bens) == sorted(PEOPLE) and len(anas) == 2
    ana.screenshot(path=screenshots / "queue-tabs.png")

    # Ana takes one of hers over, then passes it to Ben, who holds it from then on.
    ana.get_by_role("button", name=re.compile("take over", re.IGNORECASE)).first.click()
    expect(ana).to_have_url(re.compile(r"/inbox/conversations/\d+$"))
    ana.get_by_label("Assigned to").select_option(label="Ben Agent")
    button(ana, "^assign$").click()
    expect(ana.get_by_text("Assigned to Ben Agent.")).to_be_visible()
    expect(ana.locator("#reply-form")).to_be_hidden()  # not hers to answer any more

    mine(ben)
    expect(ben.locator("h2", has_text="Your chats").locator(".count")).to_have_text("1")
    expect(mine(ana).locator("#view-mine .count")).to_have_text("1")

    # Ana goes away: her last waiting one goes round robin to Ben, the only one available.
    button(ana, "^available$").click()
    expect(ana.locator("#availability")).to_have_text("Away")
    expect(mine(ben).locator("#view-mine .count")).to_have_text("3")
    expect(mine(ana).locator("#view-mine .count")).to_have_text("0")

"""The reports page on a phone: a chat handed back with a rating shows in every report."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import pytest
from playwright.sync_api import expect

from bot.testing.clock import FakeClock
from tests.browser.conftest import VIEWPORT
from tests.browser.inbox_steps import (
    add_agent,
    ask_for_a_human,
    button,
    log_in,
    open_the_waiting_chat,
)
from tests.browser.layout import assert_fits

if TYPE_CHECKING:
    from pathlib import Path

    from playwright.sync_api import Page

    from tests.browser.conftest import LiveServer

REPORTS = ["first-response", "resolution", "csat", "queue"]


@pytest.fixture
def live_clock() -> FakeClock:
    """A clock the test moves, so the chat takes minutes as a real one would."""
    return FakeClock(datetime.now(UTC))


def test_the_reports_fit_a_phone_and_follow_the_agent_picked(
    phone: Page, live_server: LiveServer, live_clock: FakeClock, screenshots: Path
) -> None:
    add_agent(live_server, "Dana")
    log_in(phone)
    ask_for_a_human(live_server)
    live_clock.advance(timedelta(minutes=3))
    open_the_waiting_chat(phone)
    button(phone, "take over").click()
    phone.get_by_label(re.compile("reply", re.IGNORECASE)).fill("A new box is on its way.")
    button(phone, "send").click()
    expect(phone.locator("#messages")).to_contain_text("A new box is on its way.")
    live_clock.advance(timedelta(minutes=9))
    phone.get_by_label('Ask "How did we do?"').check()
    button(phone, "hand back").click()
    expect(phone.locator(".flash")).to_contain_text("Handed back")
    live_server.text("4")  # the customer rates the chat

    phone.get_by_role("navigation").get_by_role("link", name="Reports", exact=True).click()
    expect(phone).to_have_url(re.compile(r"/inbox/reports$"))
    for name in REPORTS:
        section = phone.locator(f"#report-{name}")
        expect(section.locator("svg")).to_be_visible()
        expect(section.get_by_role("link", name="Download CSV")).to_be_visible()
    expect(phone.locator("#report-csat svg")).to_contain_text("4.00")
    expect(phone.locator("#report-first-response svg")).to_contain_text("3.0 min")
    expect(phone.locator("#report-resolution svg")).to_contain_text("12.0 min")
    assert_fits(phone)

    phone.get_by_label("Agent").select_option(label="Dana")
    button(phone, "show").click()
    expect(phone).to_have_url(re.compile(r"agent=\d+"))
    expect(phone.locator("#report-csat svg")).to_contain_text("Dana (1)")
    assert_fits(phone)
    with phone.expect_download() as download:
        phone.locator("#report-csat").get_by_role("link", name="Download CSV").click()
    assert download.value.suggested_filename.startswith("csat-")

    phone.set_viewport_size(VIEWPORT)  # the README's picture, at desktop width
    phone.screenshot(path=screenshots / "reports.png", full_page=True)

"""The browser harness itself: Chromium reaches the live server and can take a screenshot."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from playwright.sync_api import expect

if TYPE_CHECKING:
    from playwright.sync_api import Page

    from tests.browser.conftest import LiveServer


def test_chromium_opens_the_live_app_and_takes_a_screenshot(
    page: Page, live_server: LiveServer, tmp_path: Path
) -> None:
    response = page.goto("/healthz")
    assert response is not None and response.status == 200
    assert json.loads(page.locator("body").inner_text()) == {"status": "ok", "database": "ok"}

    page.goto("/inbox/login")
    expect(page.get_by_role("heading", name="Log in")).to_be_visible()
    screenshot = page.screenshot(path=tmp_path / "login.png")
    assert screenshot.startswith(b"\x89PNG")


def test_a_customer_text_reaches_the_live_app(live_server: LiveServer) -> None:
    assert any("rate your last order" in reply for reply in live_server.text("FEEDBACK"))

"""Browser fixtures: the real app on a local port, driven by Playwright in Debian's Chromium.

Needs /usr/bin/chromium (`.ci/ensure-chromium` installs it) and the `playwright` package (the
`dev` extra; its driver ships in the wheel, so never run `playwright install`). Without them the
folder skips, except under CI=true, where it fails: CI must run these tests.
"""

from __future__ import annotations

import importlib.util
import os
import threading
import xml.etree.ElementTree as ElementTree
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from flask import Flask
from werkzeug.serving import make_server

from bot.app import create_app, services_of
from bot.sending.gateways.fake import FakeGateway
from bot.services import Services
from bot.testing.processes import post_form
from tests.support.databases import SqliteTemplate
from tests.support.harness import make_settings
from tests.support.passwords import check_once
from tests.support.paths import ROOT, SHIPPED_FLOWS
from tests.support.sms import ALICE, BRAND_NUMBER, next_sid

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Page, Playwright

CHROMIUM = Path("/usr/bin/chromium")
# The flags this machine's Chromium needs: no sandbox as root, no GPU, and no calls home
# (the closed network refuses them, many at a time). Playwright adds a fresh user-data-dir.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORT = {"width": 1280, "height": 800}
PHONE_VIEWPORT = {"width": 390, "height": 844}  # a current iPhone's screen, in CSS pixels
SECRET_KEY = "browser-test-secret-key"
TIMEOUT_MS = 10_000  # a local page that takes longer than this is broken, not slow
DOC_SCREENSHOTS = ROOT / "docs" / "screenshots"


def _missing_requirement() -> str | None:
    if not CHROMIUM.exists():
        return f"{CHROMIUM} is missing (as root: .ci/ensure-chromium, or apt-get install chromium)"
    if importlib.util.find_spec("playwright") is None:
        return "the playwright package is missing (pip install -e '.[dev]')"
    return None


class _CannotRun(pytest.Module):
    """A test module that is not imported (it imports playwright): skipped, or under CI failed."""

    reason = ""

    def collect(self) -> list[pytest.Item]:
        if os.environ.get("CI") == "true":
            raise self.CollectError(f"browser tests cannot run under CI=true: {self.reason}")
        pytest.skip(f"browser tests skipped: {self.reason}", allow_module_level=True)


def pytest_pycollect_makemodule(
    module_path: Path, parent: pytest.Collector
) -> pytest.Module | None:
    """Every module of this folder skips (or fails under CI) when a requirement is missing."""
    missing = _missing_requirement()
    if missing is None:
        return None
    module = _CannotRun.from_parent(parent, path=module_path)
    module.reason = missing
    return module


@dataclass
class LiveServer:
    """The app answering real HTTP on 127.0.0.1, and a way to be its customer."""

    base_url: str
    app: Flask
    services: Services
    gateway: FakeGateway

    def text(self, body: str, *, phone: str = ALICE) -> list[str]:
        """A customer text arrives as Twilio posts it; returns the bot's TwiML answers."""
        form = {"MessageSid": next_sid(), "From": phone, "To": BRAND_NUMBER, "Body": body}
        status, answer = post_form(f"{self.base_url}/twilio/sms", form)
        assert status == 200, f"/twilio/sms answered {status}: {answer}"
        root = ElementTree.fromstring(answer)
        return [(message.text or "").strip() for message in root.iter("Message")]


@pytest.fixture(scope="session")
def browser_sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> SqliteTemplate:
    return SqliteTemplate(tmp_path_factory.mktemp("browser-template"))


@pytest.fixture
def live_settings() -> dict[str, object]:
    """Settings a test module adds to the live server's (override it in the module)."""
    return {}


@pytest.fixture
def live_clock() -> Callable[[], datetime] | None:
    """The live server's clock: the real one, unless a test module overrides this fixture."""
    return None


@pytest.fixture
def live_server(
    browser_sqlite_template: SqliteTemplate,
    tmp_path: Path,
    live_settings: dict[str, object],
    live_clock: Callable[[], datetime] | None,
) -> Iterator[LiveServer]:
    """The real app with the shipped flows on a fresh SQLite database, served in a thread."""
    settings = make_settings(
        browser_sqlite_template.fresh(tmp_path),
        FLOWS_DIR=SHIPPED_FLOWS,
        SECRET_KEY=SECRET_KEY,
        **live_settings,
    )
    gateway = FakeGateway()
    app = create_app(settings, gateway=gateway, clock=live_clock, check_password=check_once)
    server = make_server("127.0.0.1", 0, app, threaded=True)  # port 0: the OS picks a free one
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    try:
        yield LiveServer(
            base_url=f"http://127.0.0.1:{server.server_port}",
            app=app,
            services=services_of(app),
            gateway=gateway,
        )
    finally:
        server.shutdown()
        thread.join(timeout=10)
        services_of(app).close()


# Package scope, not session: the sync API keeps an asyncio loop running in this thread while
# it is open, and later tests that call asyncio.run() (tests/test_actions.py) would fail.
@pytest.fixture(scope="package")
def playwright() -> Iterator[Playwright]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="package")
def browser(playwright: Playwright) -> Iterator[Browser]:
    """One Chromium for all browser tests; each test gets its own context (cookies, storage)."""
    browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
    yield browser
    browser.close()


@pytest.fixture
def open_page(browser: Browser, live_server: LiveServer) -> Iterator[Callable[..., Page]]:
    """Opens pages of the live server at a viewport, each in its own context (one agent each)."""
    contexts: list[BrowserContext] = []

    def open_page(viewport: dict[str, int] = VIEWPORT) -> Page:
        context = browser.new_context(base_url=live_server.base_url, viewport=viewport)
        context.set_default_timeout(TIMEOUT_MS)
        contexts.append(context)
        return context.new_page()

    yield open_page
    for context in contexts:
        context.close()


@pytest.fixture
def page(open_page: Callable[..., Page]) -> Page:
    """A fresh context and page at desktop size."""
    return open_page()


@pytest.fixture
def phone(open_page: Callable[..., Page]) -> Page:
    """A fresh context and page at a phone's size."""
    return open_page(PHONE_VIEWPORT)


@pytest.fixture
def screenshots(tmp_path: Path) -> Path:
    """Where the pictures go: the README's own with UPDATE_SCREENSHOTS=1, else a scratch folder.

    A plain test run leaves the working tree as it found it, and still takes every picture, so a
    picture that cannot be taken fails the run.
    """
    folder = DOC_SCREENSHOTS if os.environ.get("UPDATE_SCREENSHOTS") == "1" else tmp_path
    folder.mkdir(parents=True, exist_ok=True)
    return folder

"""A person signs up on /join with a phone (390 px wide) and gets the double opt-in text; the
same form works framed on a shop's own site, where the browser keeps our cookies from it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest
from playwright.sync_api import expect

from bot.testing.processes import wait_until
from tests.browser.layout import assert_fits
from tests.support.sms import ALICE, BRAND_NUMBER
from tests.support.web_server import Answer, WebServer

if TYPE_CHECKING:
    from playwright.sync_api import ConsoleMessage, Frame, Page

    from tests.browser.conftest import LiveServer

INCENTIVE = "15% off your first order"


@pytest.fixture
def shop() -> Iterator[WebServer]:
    """The shop's own site, on this machine: Chromium lets only a local page frame a local one."""
    with WebServer() as server:
        yield server


def shop_origin(shop: WebServer) -> str:
    # Another site than the live server's 127.0.0.1, whose cookies a browser keeps from a frame.
    return shop.url("", host="localhost")


@pytest.fixture
def live_settings(shop: WebServer) -> dict[str, object]:
    return {
        "TWILIO_FROM": BRAND_NUMBER,
        "INCENTIVE": INCENTIVE,
        "JOIN_EMBED_ORIGINS": shop_origin(shop),
    }


def watch_for_blocked(page: Page) -> list[str]:
    """What the page's Content-Security-Policy blocks from now on, as the console reports it."""
    blocked: list[str] = []

    def note(message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text:
            blocked.append(message.text)

    page.on("console", note)
    return blocked


def fill_in(form: Page | Frame, *, tick: bool = True) -> None:
    form.get_by_label("Mobile number").fill("(415) 555-0100")
    form.get_by_label("First name").fill("Alice")
    if tick:
        form.get_by_role("checkbox").check()
    form.get_by_role("button", name="Sign up").click()


def test_a_person_signs_up_on_a_phone_and_gets_the_double_opt_in_text(
    phone: Page, live_server: LiveServer
) -> None:
    blocked = watch_for_blocked(phone)
    phone.goto("/join?source=instagram")
    expect(phone.get_by_role("heading", name="Get our texts")).to_be_visible()
    expect(phone.get_by_text(INCENTIVE)).to_be_visible()
    expect(phone.locator("#consent-text")).to_contain_text("recurring automated marketing")
    expect(phone.get_by_role("link", name="text JOIN")).to_have_attribute(
        "href", f"sms:{BRAND_NUMBER}?&body=JOIN"
    )
    qr = phone.get_by_role("img", name="QR code")
    expect(qr).to_be_visible()
    assert qr.evaluate("image => image.naturalWidth") > 0  # the SVG loads under the page's CSP
    assert_fits(phone)

    fill_in(phone, tick=False)  # the box left unticked: the page says so, nothing is sent
    expect(phone.get_by_role("alert")).to_contain_text("tick the box")
    assert live_server.gateway.outbox == []
    assert_fits(phone)

    phone.get_by_role("checkbox").check()
    phone.get_by_role("button", name="Sign up").click()
    expect(phone.get_by_role("heading", name="Check your phone")).to_be_visible()
    assert_fits(phone)
    [sent] = live_server.gateway.outbox  # sent before the page answered
    assert sent.to == ALICE and "Reply Y to confirm" in sent.body
    # The welcome makes a coupon (an action) after the webhook's answer: the confirmation and
    # the welcome come through the outbox, in that order.
    assert live_server.text("Y") == []
    wait_until(
        lambda: len(live_server.gateway.outbox) == 3, [], what="the confirmation and the welcome"
    )
    _, subscribed, welcome = (text.body for text in live_server.gateway.outbox)
    assert subscribed.startswith("Acme: You are subscribed!")
    assert "Alice" in welcome  # the first name typed on the page
    assert blocked == []


def test_the_form_works_framed_on_the_shops_site(
    phone: Page, live_server: LiveServer, shop: WebServer
) -> None:
    snippet = (
        f'<!doctype html><title>Shop</title><h1>Our shop</h1><iframe id="join" '
        f'src="{live_server.base_url}/join?source=shop" title="Get our texts" '
        'style="width:100%;height:640px;border:0"></iframe>'
    )
    page = Answer(body=snippet.encode(), headers={"Content-Type": "text/html"})
    shop.routes["/"] = lambda _call: page
    phone.goto(f"{shop_origin(shop)}/")
    frame = phone.frame_locator("#join")
    expect(frame.get_by_role("heading", name="Get our texts")).to_be_visible()
    join_frame = next(frame for frame in phone.frames if frame.url.startswith(live_server.base_url))
    fill_in(join_frame)
    expect(frame.get_by_role("heading", name="Check your phone")).to_be_visible()
    [sent] = live_server.gateway.outbox
    assert sent.to == ALICE and "Reply Y" in sent.body

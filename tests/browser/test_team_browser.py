"""Two agents working one chat in real browsers: a note that mentions a colleague reaches them,
and a saved reply typed as /shortcut is filled in, counted and sent."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING

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
    from pathlib import Path

    from playwright.sync_api import Page

    from tests.browser.conftest import LiveServer

BEN = "ben@acme.test"
NOTE = "@ben she sent photos of the crushed box: a free return?"


def test_a_mention_reaches_a_colleague_who_answers_with_a_saved_reply(
    open_page: Callable[..., Page], live_server: LiveServer, screenshots: Path
) -> None:
    add_agent(live_server, "Ana Agent")
    add_agent(live_server, "Ben Baker", BEN)
    ask_for_a_human(live_server)

    ana = open_page()
    log_in(ana)
    open_the_waiting_chat(ana)
    ana.get_by_label(re.compile("private note", re.IGNORECASE)).fill(NOTE)
    button(ana, "add note").click()
    expect(ana.get_by_role("status").filter(has_text="Mentioned: Ben Baker")).to_be_visible()
    expect(texts(ana).locator(".msg-note")).to_contain_text(NOTE)

    ben = open_page()
    log_in(ben, BEN)
    mention = ben.locator(".mention")
    expect(mention).to_contain_text(NOTE)
    expect(mention).to_contain_text("Ana Agent")
    mention.get_by_role("link", name=re.compile(re.escape(ALICE))).click()
    expect(texts(ben).locator(".msg-note")).to_contain_text(NOTE)
    assert live_server.gateway.outbox == []  # the note went to nobody's phone

    button(ben, "take over").click()
    expect(ben.get_by_text("You have this chat").first).to_be_visible()
    # The page shows before its deferred scripts run, and a /shortcut typed before replies.js
    # listens stays plain text; the counter needs no wait, it counts the box when it starts.
    ben.wait_for_load_state("domcontentloaded")
    box = ben.get_by_label(re.compile("reply as", re.IGNORECASE))
    box.click()
    box.press_sequentially("/returns ")
    expect(box).to_have_value(re.compile(r"^Hi there, you can return or exchange anything"))
    expect(ben.locator("#segment-info")).to_contain_text(" segment")  # counted as typed
    sent = box.input_value()
    ben.screenshot(path=screenshots / "team.png")
    button(ben, "send").click()
    expect(texts(ben).get_by_text(sent)).to_be_visible()
    assert [(text.to, text.body) for text in live_server.gateway.outbox] == [(ALICE, sent)]

    ben.goto("/inbox/")
    button(ben, "mark read").click()
    expect(ben.locator(".mention")).to_have_count(0)

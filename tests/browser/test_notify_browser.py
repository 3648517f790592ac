"""Ben, opted in to notifications, keeps the queue open: a chat round robin gives him and a
note in which Ana mentions him show in his tab's title and badges, each as one browser
notification, without a reload."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from playwright.sync_api import expect

from tests.browser.conftest import TIMEOUT_MS
from tests.browser.inbox_steps import (
    add_agent,
    ask_for_a_human,
    button,
    log_in,
    open_the_waiting_chat,
)
from tests.support.sms import ALICE

if TYPE_CHECKING:
    from collections.abc import Callable

    from playwright.sync_api import Page

    from tests.browser.conftest import LiveServer

BEN = "ben@acme.test"
POLL_MS = 4000  # notify.js's POLL_MS
NOTE = "@ben she sent photos of the crushed box: a free return?"
# The page's notifications and beeps, as the browser is asked for them (a headless Chromium
# shows and plays nothing): the real Notification and tone are still made.
RECORD_NOTIFICATIONS = """
window.shownNotifications = [];
const RealNotification = window.Notification;
window.Notification = function (title, options) {
  window.shownNotifications.push({ title: title, body: (options || {}).body });
  return new RealNotification(title, options);
};
Object.defineProperty(window.Notification, "permission", {
  get: () => RealNotification.permission,
});
window.Notification.requestPermission = () => RealNotification.requestPermission();
window.beeps = 0;
// Each poll's news, once shown: notify.js remembers what it told right before it announces.
window.newsShown = 0;
const rememberItem = Storage.prototype.setItem;
Storage.prototype.setItem = function (key, value) {
  rememberItem.call(this, key, value);
  if (String(key).startsWith("parley-notified-")) {
    window.newsShown += 1;
  }
};
const makeTone = AudioContext.prototype.createOscillator;
AudioContext.prototype.createOscillator = function () {
  window.beeps += 1;
  return makeTone.call(this);
};
"""


def shown(page: Page, count: int) -> list[dict[str, Any]]:
    """Waits until the page has asked for `count` notifications; returns them."""
    page.wait_for_function(f"() => window.shownNotifications.length >= {count}", timeout=TIMEOUT_MS)
    notifications: list[dict[str, Any]] = page.evaluate("window.shownNotifications")
    return notifications


def next_poll(page: Page) -> None:
    """Moves the page's clock on to its next poll of the news (notify.js polls every 4 s)."""
    page.clock.fast_forward(POLL_MS)


def test_an_assigned_chat_and_a_mention_reach_an_opted_in_agent(
    open_page: Callable[..., Page], live_server: LiveServer
) -> None:
    add_agent(live_server, "Ana Agent")
    add_agent(live_server, "Ben Baker", BEN)
    ben = open_page()
    ben.context.grant_permissions(["notifications"], origin=live_server.base_url)
    ben.context.add_init_script(RECORD_NOTIFICATIONS)
    # The page's timers on a clock the test moves on: each poll comes when the test says, not
    # after up to POLL_MS of waiting (time still passes as usual in between).
    ben.clock.install()
    log_in(ben, BEN)
    button(ben, "^away$").click()  # available: round robin gives him the next person waiting
    ben.goto("/inbox/account")
    ben.get_by_label("Show a browser notification").check()
    ben.get_by_label("Play a sound").check()
    button(ben, "save notifications").click()
    expect(ben.get_by_role("status")).to_contain_text("notifications and a sound for new chats")

    ben.goto("/inbox/")
    expect(ben).to_have_title("Queue · Parley")
    # The tab's first poll: what was unread then is counted, only what comes later announced.
    # Functions, not expressions: an expression is eval'd, which the inbox's CSP refuses.
    ben.wait_for_function(
        "() => localStorage.getItem('parley-notified-' + document.body.dataset.agent) !== null"
    )

    ask_for_a_human(live_server)
    next_poll(ben)

    expect(ben).to_have_title("(1) Queue · Parley", timeout=TIMEOUT_MS)
    expect(ben.locator("#badge-queue")).to_have_text("1")
    expect(ben.locator("#badge-mentions")).to_be_hidden()
    (assigned,) = shown(ben, 1)
    assert assigned["title"] == "A chat is assigned to you"
    assert ben.evaluate("window.beeps") == 1

    ana = open_page()
    log_in(ana)
    open_the_waiting_chat(ana)
    ana.get_by_label(re.compile("private note", re.IGNORECASE)).fill(NOTE)
    button(ana, "add note").click()
    expect(ana.get_by_role("status").filter(has_text="Mentioned: Ben Baker")).to_be_visible()
    next_poll(ben)

    expect(ben).to_have_title("(2) Queue · Parley", timeout=TIMEOUT_MS)
    expect(ben.locator("#badge-mentions")).to_have_text("1")
    mention = shown(ben, 2)[1]
    assert mention == {"title": "Ana Agent mentioned you", "body": f"{ALICE}: {NOTE}"}
    assert ben.evaluate("window.beeps") == 2
    assert not ana.title().startswith("(")  # Ana, neither named nor assigned, has no news

    # Read: the count goes down, and the reloaded page announces nothing again.
    ben.locator("#nav-mentions").click()
    expect(ben.locator(".mention")).to_contain_text(NOTE)
    button(ben, "mark read").click()
    expect(ben.locator(".mention")).to_have_count(0)
    expect(ben).to_have_title("(1) Mentions · Parley")
    expect(ben.locator("#badge-mentions")).to_be_hidden()
    next_poll(ben)
    # The reloaded page's news shown twice (its first poll, and the next): nothing announced.
    ben.wait_for_function("() => window.newsShown >= 2", timeout=TIMEOUT_MS)
    assert ben.evaluate("[window.shownNotifications, window.beeps]") == [[], 0]
    expect(ben).to_have_title("(1) Mentions · Parley")

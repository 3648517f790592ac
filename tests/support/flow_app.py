"""Flows a test can edit, through the real webhook: the app over a flows folder, and a flow."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.support.harness import AppHarness
from tests.support.sms import ALICE, reply_to

START = datetime(2026, 1, 5, 18, 0, tzinfo=UTC)

ASK_FLOW = """\
flow: quiz
triggers:
  keywords: [QUIZ]
steps:
  - id: color
    ask: "Favourite colour? Reply red or blue."
    expect: choice
    options: [red, blue]
  - id: size
    ask: "Which size? Reply S or L."
    expect: choice
    options: [S, L]
  - end: "Thanks!"
"""


class FlowApp(AppHarness):
    """An app over a flows folder the test can edit."""

    def __init__(self, database_url: str, flows_dir: Path, **overrides: object) -> None:
        super().__init__(database_url, now=START, flows_dir=flows_dir, **overrides)

    def text(self, body: str, phone: str = ALICE) -> list[str]:
        """What the phone gets back: the webhook's answer, then texts sent meanwhile (an
        action's, which come after the answer through the outbox)."""
        before = len(self.gateway.outbox)
        answer = reply_to(self.client, body, phone=phone)
        # An action runs on the app's action pool once the webhook has answered: let it finish.
        assert self.services.action_pool.wait_idle(30.0), "an action never finished"
        return answer + [text.body for text in self.gateway.outbox[before:]]

    def wait(self, duration: timedelta) -> list[str]:
        """The texts sent while `duration` passes."""
        before = len(self.gateway.outbox)
        self.let_time_pass(duration)
        return [text.body for text in self.gateway.outbox[before:]]

    def reload(self) -> None:
        self.services.flows.reload()


def write(folder: Path, name: str, text: str) -> None:
    (folder / name).write_text(text, encoding="utf-8")

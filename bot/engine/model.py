"""A parsed flow: its triggers, settings and steps."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cached_property
from typing import Any

from bot.engine.steps.base import Step
from bot.engine.templates import Template


@dataclass(frozen=True)
class Restart:
    """How soon a trigger may start a flow again for a person who has had it."""

    after: timedelta | None  # None: never again; zero: every time the trigger fires

    def allows(self, last_started: datetime | None, now: datetime) -> bool:
        """Whether a flow last started for this person at `last_started` may start now."""
        if last_started is None or self.after == timedelta(0):
            return True
        return self.after is not None and now - last_started >= self.after


RESTART_ALWAYS = Restart(timedelta(0))
RESTART_NEVER = Restart(None)
# Joining happens again after every STOP and START: what greets a new subscriber must not.
ONCE_PER_PERSON_EVENTS = frozenset({"subscribed"})


@dataclass(frozen=True)
class Triggers:
    """What starts the flow."""

    keywords: tuple[str, ...] = ()  # whole message or its first word, any case
    events: tuple[str, ...] = ()  # e.g. cart_abandoned, subscribed
    intents: tuple[str, ...] = ()  # example phrases a free-text message is matched against
    restart: Restart | None = None  # as written; None: the default of the trigger that fires
    lines: dict[str, int] = field(default_factory=dict, compare=False)

    def restart_for(self, event: str | None = None) -> Restart:
        """The restart rule when `event` (None: a keyword or an intent) starts the flow."""
        if self.restart is not None:
            return self.restart
        return RESTART_NEVER if event in ONCE_PER_PERSON_EVENTS else RESTART_ALWAYS


@dataclass(frozen=True)
class FlowSettings:
    """How the flow behaves around its steps."""

    promotional: bool = False  # marketing: quiet hours, caps and opt-in apply to its texts
    expires_after: timedelta = timedelta(days=1)  # an unanswered flow ends after this
    interruptible: bool = True  # another flow's keyword may end it and start that flow
    cancel_on: tuple[str, ...] = ()  # events that end it at once (order_placed …)
    max_segments: int = 3  # lint: warn about texts longer than this


@dataclass(frozen=True)
class Flow:
    """One flow file, parsed."""

    name: str
    file: str
    version: str  # a hash of the file's text: conversations remember which version they run
    description: str
    triggers: Triggers
    settings: FlowSettings
    steps: tuple[Step, ...]
    attributes: tuple[str, ...] = ()  # subscriber attributes its texts and conditions may use
    tests: Any = None  # the scripted conversations, run by `bot flows test`
    # What the person hears when they text something the flow cannot take (it is waiting for
    # a timer, say): their text goes to the agents; None leaves the wording to UNEXPECTED_REPLY.
    unexpected_reply: Template | None = None
    lines: dict[str, int] = field(default_factory=dict, compare=False)

    @cached_property
    def _by_id(self) -> dict[str, int]:
        return {step.id: index for index, step in enumerate(self.steps)}

    def step(self, step_id: str | None) -> Step | None:
        """The step with this id, if the flow has one."""
        index = self._by_id.get(step_id or "")
        return None if index is None else self.steps[index]

    def following(self, step: Step) -> str | None:
        """The id of the step written after `step`, or None at the end."""
        index = self._by_id[step.id] + 1
        return self.steps[index].id if index < len(self.steps) else None

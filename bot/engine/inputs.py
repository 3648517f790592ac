"""What can wake a paused flow: a reply, a timer, an action's or a call's result, an event."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from bot.domain.vocabulary import TimerKind


@dataclass(frozen=True)
class Reply:
    """The subscriber texted."""

    text: str


@dataclass(frozen=True)
class TimerFired:
    """A timer the flow set came due."""

    kind: TimerKind
    step: str | None


@dataclass(frozen=True)
class ActionCompleted:
    """A custom action finished; its slot updates are already stored as attributes."""

    step: str
    slot_updates: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class HttpAnswered:
    """An `http` step's call came back: the fields read from the answer, or why it failed."""

    step: str
    answers: Mapping[str, Any] = field(default_factory=dict)
    attributes: Mapping[str, Any] = field(default_factory=dict)
    failure: str | None = None  # None: the call served; else why not, for the log


@dataclass(frozen=True)
class EventArrived:
    """The brand's systems reported something (order_placed …)."""

    type: str
    data: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class HandedBack:
    """The agent who took the conversation over gave it back to the bot."""


Input = Reply | TimerFired | ActionCompleted | HttpAnswered | EventArrived | HandedBack

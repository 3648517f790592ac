"""A conversation's place in its flow, as a value that round-trips through JSON."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Any


class Waiting(StrEnum):
    """What a paused flow waits for."""

    ANSWER = "answer"
    TIMER = "timer"
    ACTION = "action"  # the host is making an action or http step's call
    AGENT = "agent"  # a human has the conversation; the flow goes on when they hand it back


class Origin(StrEnum):
    """Why a flow started: it decides whether its texts answer the person or inform them."""

    PERSON = "person"  # a keyword or an intent the person texted
    EVENT = "event"  # an event (an order shipped, a signup confirmed)


@dataclass(frozen=True)
class FlowState:
    """Where a conversation stands: which flow and version, which step, what was answered."""

    flow: str
    version: str
    step: str | None  # the step the flow is paused on
    waiting: Waiting | None  # what it waits for
    started_at: datetime
    origin: Origin = Origin.PERSON
    retries: int = 0
    answers: dict[str, Any] = field(default_factory=dict)
    event: dict[str, Any] = field(default_factory=dict)  # the data of the event that started it

    def with_changes(self, **changes: Any) -> FlowState:
        """A copy with some fields changed."""
        return replace(self, **changes)

    def to_json(self) -> dict[str, Any]:
        """A JSON-able dict."""
        # By hand, not dataclasses.asdict: this runs on every turn and asdict deep-copies.
        return {
            "flow": self.flow,
            "version": self.version,
            "step": self.step,
            "waiting": self.waiting,
            "started_at": self.started_at.isoformat(),
            "origin": self.origin,
            "retries": self.retries,
            "answers": self.answers,
            "event": self.event,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FlowState:
        """The state stored by to_json()."""
        waiting = data.get("waiting")
        return cls(
            **{
                **data,
                "started_at": datetime.fromisoformat(data["started_at"]),
                "waiting": None if waiting is None else Waiting(waiting),
                "origin": Origin(data.get("origin", Origin.PERSON)),
            }
        )

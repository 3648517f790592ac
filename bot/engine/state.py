"""A conversation's place in its flow, as a value that round-trips through JSON."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class FlowState:
    """Where a conversation stands: which flow and version, which step, what was answered."""

    flow: str
    version: str
    step: str | None  # the step the flow is paused on
    waiting: str | None  # what it waits for (see steps.base.Waiting)
    started_at: datetime
    origin: str = "person"  # person (keyword, intent) or event: decides the texts' purpose
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
        return cls(**{**data, "started_at": datetime.fromisoformat(data["started_at"])})

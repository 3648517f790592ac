"""What a flow asks of a custom action, what it gets back, and the runner interface."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class ActionRequest:
    """One call of a custom action for one subscriber."""

    action: str  # e.g. "action_issue_coupon"
    phone: str  # E.164; becomes the tracker's sender_id
    slots: Mapping[str, Any]  # subscriber attributes and flow answers
    latest_message: str | None  # the subscriber's last text
    flow: str | None = None
    step: str | None = None

    def describe(self) -> str:
        """The action and where the flow called it, for error messages."""
        places = (("flow", self.flow), ("step", self.step))
        where = ", ".join(f"{label} '{value}'" for label, value in places if value)
        return f"action '{self.action}'" + (f" ({where})" if where else "")


@dataclass(frozen=True)
class ActionResult:
    """What an action produced: texts to send and subscriber attributes to set."""

    texts: tuple[str, ...]  # uttered texts, in order
    slot_updates: Mapping[str, Any]  # from SlotSet events; the last one wins per slot
    media_urls: tuple[str, ...] = field(default=())  # uttered images, in order


class ActionError(Exception):
    """The action could not run; the message says which action and why."""


class ActionRunner(Protocol):
    """Runs custom actions by name."""

    def run(self, request: ActionRequest) -> ActionResult:
        """Run one action; raise ActionError when it cannot run."""
        ...

    def names(self) -> frozenset[str] | None:
        """The actions this runner knows, or None when it cannot tell (remote)."""
        ...

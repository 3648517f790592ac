"""An action that raises, and one that rejects its call."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.interfaces import ActionExecutionRejection


class ActionCrash(Action):
    """Fails the way a bug in a marketer's action would."""

    def name(self) -> str:
        return "action_crash"

    def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        raise ValueError("coupon service said no")


class ActionRefuse(Action):
    """Rejects the call, as rasa-sdk lets an action do."""

    def name(self) -> str:
        return "action_refuse"

    def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        raise ActionExecutionRejection(self.name(), "not today")

"""An action that sends a picture and changes its mind about a slot."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher


class ActionSendPoster(Action):
    """Utters a text, then an image; sets `poster` twice so the last value must win."""

    def name(self) -> str:
        return "action_send_poster"

    def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        dispatcher.utter_message(text=f"Hi {tracker.get_slot('first_name')}, here is our poster.")
        dispatcher.utter_message(image="https://example.test/poster.png")
        return [SlotSet("poster", "draft"), SlotSet("poster", "sent")]


class ActionEchoLatest(Action):
    """Says back the subscriber's latest text, as the tracker has it."""

    def name(self) -> str:
        return "action_echo_latest"

    def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        dispatcher.utter_message(text=f"You said {tracker.latest_message.get('text')!r}.")
        return []

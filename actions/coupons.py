"""Issue a personal coupon code; a flow step calls it with `action: action_issue_coupon`."""

from __future__ import annotations

import hashlib
import hmac
import os
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

# Set COUPON_SECRET in production: whoever knows the secret can work out anyone's code.
DEV_SECRET = "parley-dev-coupon-secret"


def coupon_code(phone: str, campaign: str, secret: str) -> str:
    """The code for this phone and campaign: always the same, so a retried step repeats it."""
    digest = hmac.new(secret.encode(), f"{campaign}:{phone}".encode(), hashlib.sha256)
    return "SAVE-" + digest.hexdigest()[:6].upper()


class ActionIssueCoupon(Action):
    """Text the subscriber their code and remember it in the `coupon_code` slot."""

    def name(self) -> str:
        return "action_issue_coupon"

    def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        code = _code_for(tracker)
        discount = tracker.get_slot("discount_percent") or 10
        dispatcher.utter_message(text=f"Your code is {code}: {discount}% off, valid 7 days.")
        return [SlotSet("coupon_code", code)]


class ActionCreateCoupon(Action):
    """Remember a code in the `coupon_code` slot without texting: the flow's own text says it.

    Every text counts against the frequency cap, so a flow that wants the code inside its own
    reminder uses this one.
    """

    def name(self) -> str:
        return "action_create_coupon"

    def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        return [SlotSet("coupon_code", _code_for(tracker))]


def _code_for(tracker: Tracker) -> str:
    campaign = tracker.get_slot("campaign") or "default"
    return coupon_code(tracker.sender_id, campaign, os.environ.get("COUPON_SECRET", DEV_SECRET))

"""Rasa's action-server JSON: build the action call and read the events and responses back."""

from __future__ import annotations

from importlib.metadata import version
from typing import Any

from bot.actions.base import ActionError, ActionRequest, ActionResult


def action_call(request: ActionRequest) -> dict[str, Any]:
    """The payload Rasa would POST to an action server for this request."""
    slots = dict(request.slots)
    return {
        "next_action": request.action,
        "sender_id": request.phone,
        "tracker": {
            "sender_id": request.phone,
            "slots": slots,
            "latest_message": {
                "text": request.latest_message,
                "intent": {},
                "entities": [],
                # Rasa puts channel metadata here; actions can read where the flow called them.
                "metadata": {"flow": request.flow, "step": request.step},
            },
            "events": [],
            "paused": False,
            "followup_action": None,
            "active_loop": {},
            "latest_action_name": None,
        },
        # Non-empty on purpose: the executor rejects a call with neither domain nor known digest,
        # and keeps an empty one as "no domain", handing the action None.
        "domain": {"slots": {name: {"type": "any"} for name in slots}, "actions": [request.action]},
        # Same major.minor as the SDK, so the server does not warn about an old Rasa.
        "version": version("rasa-sdk"),
    }


def action_result(request: ActionRequest, body: Any) -> ActionResult:
    """Turn an action server's {"events": [...], "responses": [...]} into an ActionResult."""
    if not isinstance(body, dict):
        raise ActionError(f"{request.describe()} returned {type(body).__name__}, not an object")
    events, responses = body.get("events"), body.get("responses")
    if not isinstance(events, list) or not isinstance(responses, list):
        raise ActionError(f"{request.describe()} returned no 'events' and 'responses' lists")
    texts: list[str] = []
    media_urls: list[str] = []
    for response in responses:
        if not isinstance(response, dict):
            raise ActionError(f"{request.describe()} returned a response that is not an object")
        if response.get("text"):
            texts.append(response["text"])
        if response.get("image"):
            media_urls.append(response["image"])
        if not response.get("text") and response.get("response"):
            # Parley has no domain of response templates to fill, so the text would be lost.
            raise ActionError(
                f"{request.describe()} uttered response '{response['response']}', which Parley "
                "cannot render; use dispatcher.utter_message(text=...)"
            )
    # Other events (follow-ups, restarts, reminders) steer Rasa's dialogue; flows steer their own.
    slot_updates = {
        event["name"]: event.get("value")
        for event in events
        if isinstance(event, dict) and event.get("event") == "slot" and "name" in event
    }
    return ActionResult(texts=tuple(texts), slot_updates=slot_updates, media_urls=tuple(media_urls))

"""Run actions on a Rasa action server (`python -m rasa_sdk`) over its HTTP webhook."""

from __future__ import annotations

import requests

from bot.actions.base import ActionError, ActionRequest, ActionResult
from bot.actions.protocol import action_call, action_result


class RemoteActionRunner:
    """POSTs action calls to an action server's webhook, e.g. http://127.0.0.1:5055/webhook."""

    def __init__(self, url: str, timeout: float = 5.0) -> None:
        self._url = url
        self._timeout = timeout

    def names(self) -> None:
        """The server's actions can change while Parley runs, so it does not tell."""
        return None

    def run(self, request: ActionRequest) -> ActionResult:
        """Run one action on the server and translate its answer."""
        try:
            # A connection per call, not a shared Session: Sessions are not thread-safe, and an idle
            # kept-alive connection holds up the action server's graceful shutdown for 15 s.
            response = requests.post(self._url, json=action_call(request), timeout=self._timeout)
        except requests.Timeout as error:
            raise ActionError(
                f"{request.describe()}: action server {self._url} did not answer "
                f"within {self._timeout:g} s"
            ) from error
        except requests.RequestException as error:
            raise ActionError(
                f"{request.describe()}: cannot reach action server {self._url}: {error}"
            ) from error
        try:
            body = response.json()
        except ValueError:
            body = None
        if response.status_code != 200:
            # The server explains 400 (rejected), 404 (unknown action) and 500 (action raised)
            # in {"error": ...}; anything else (a proxy's page, say) is reported by status.
            reason = body.get("error") if isinstance(body, dict) else None
            raise ActionError(
                f"{request.describe()} failed on action server {self._url} "
                f"(HTTP {response.status_code}): {reason or response.text[:200]}"
            )
        return action_result(request, body)

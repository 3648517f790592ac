"""Choose the action runner the settings ask for."""

from __future__ import annotations

from bot.actions.base import ActionRunner
from bot.actions.local import LocalActionRunner
from bot.actions.remote import RemoteActionRunner


def build_action_runner(*, action_server_url: str | None, package: str = "actions") -> ActionRunner:
    """A runner for the action server at the URL if one is given, else for the local package."""
    if action_server_url:
        return RemoteActionRunner(action_server_url)
    return LocalActionRunner(package)

"""What a request handler asks of the app: its services, the clock, the agent who is logged in."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from flask import current_app, request, session

from bot.accounts.sessions import session_agent

if TYPE_CHECKING:
    from bot.services import Services
    from bot.store.models import Agent

SESSION_TOKEN = "session"  # the cookie's key for the token of the agent_session row


def services() -> Services:
    """The services the app was built with (`create_app`)."""
    built: Services = current_app.extensions["parley"]
    return built


def now() -> datetime:
    """Now, by the one injected clock."""
    return services().conversations.clock()


def logged_in_agent(*, touch: bool = True) -> Agent | None:
    """The enabled agent this request's session belongs to, else None.

    Read on every request: an ended session, or a disabled agent, is refused at once. With
    `touch` False the request does not count as the agent's activity (presence, idle expiry).
    """
    return session_agent(services().db, session.get(SESSION_TOKEN), now=now(), touch=touch)


def here() -> str:
    """This request's path and query: where a login sends the agent back to."""
    query = request.query_string.decode("utf-8", "replace")
    return f"{request.path}?{query}" if query else request.path


def client_address() -> str:
    """The client's address; behind TRUSTED_PROXIES, ProxyFix has put the real one here."""
    return request.remote_addr or "unknown"

"""The inbox's live channel for the agent: unread counts and news, and the opt-in to be told.

A blueprint nested in the inbox's (`bot/web/inbox.py`), so its login, CSRF and error pages
cover every route here. Every inbox page polls `GET /inbox/events` every 4 s
(`bot/static/notify.js`): a short request suits gunicorn's sync workers, where a
server-sent-events stream would hold a whole worker per open tab.
"""

from __future__ import annotations

from flask import Blueprint, Response, flash, g, jsonify, redirect, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from bot.accounts.agents import set_notifications
from bot.conversations.notices import Notices, agent_notices
from bot.web import context

bp = Blueprint("notices", __name__)

JSON_ENDPOINTS = frozenset({"inbox.notices.events"})
# A tab left open polls on its own: that is not the agent at their desk, so these requests
# keep nobody available (AGENT_AWAY_MINUTES) nor their session from idling out.
PASSIVE_ENDPOINTS = frozenset({"inbox.notices.events"})


def unread() -> Notices | None:
    """The logged-in agent's counts for a page's title and badges; None when nobody is."""
    agent = g.get("agent")
    if agent is None:
        return None
    return agent_notices(context.services().db, agent.id)


@bp.get("/events")
def events() -> tuple[Response, int]:
    """The agent's unread counts and the items behind them, each with a key to notify once."""
    notices = agent_notices(context.services().db, g.agent.id)
    body = {
        "counts": {"queue": notices.queue, "mentions": notices.mentions, "total": notices.total},
        "notices": [
            {
                "key": item.key,
                "kind": item.kind,
                "title": item.title,
                "body": item.body,
                "url": url_for("inbox.conversation", conversation_id=item.conversation_id)
                if item.conversation_id is not None
                else url_for("inbox.queue"),
            }
            for item in notices.items
        ],
        "notify": {"desktop": g.agent.notify_desktop, "sound": g.agent.notify_sound},
    }
    return jsonify(body), 200


@bp.post("/account/notifications")
def notifications() -> BaseResponse:
    """The agent's opt-in: a browser notification and/or a beep for news."""
    desktop = request.form.get("desktop") == "1"
    sound = request.form.get("sound") == "1"
    set_notifications(context.services().db, g.agent.id, desktop=desktop, sound=sound)
    told = [name for name, on in (("notifications", desktop), ("a sound", sound)) if on]
    flash(
        f"You get {' and '.join(told)} for new chats and mentions."
        if told
        else "Notifications are off: the title and badges still count what is new.",
        "info",
    )
    return redirect(url_for("inbox.account"))

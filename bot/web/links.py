"""Tracked links: /l/<code> records a click and sends the browser on to the real URL."""

from __future__ import annotations

from flask import Blueprint, Response, redirect, request
from werkzeug.wrappers import Response as BaseResponse

from bot.sending.links import follow
from bot.store.db import transaction
from bot.web import context

bp = Blueprint("links", __name__)

NOT_FOUND_PAGE = """<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Link not found</title></head>
<body><p>This link does not exist or has expired.</p></body>
</html>
"""


@bp.get("/l/", defaults={"code": ""})
@bp.get("/l/<path:code>")
def follow_link(code: str) -> BaseResponse:
    """No authentication: a 302 to the link's URL, or a small 404 page for an unknown code."""
    services = context.services()
    with transaction(services.db) as connection:
        url = follow(
            connection,
            code,
            user_agent=request.user_agent.string or None,
            now=services.conversations.clock(),
        )
    if url is None:
        return Response(NOT_FOUND_PAGE, status=404, mimetype="text/html")
    response = redirect(url, code=302)
    # Every visit should reach us (and count), and the shop need not learn the short link.
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response

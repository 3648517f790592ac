"""Bearer-key authentication for the JSON API."""

from __future__ import annotations

import hmac

from flask import Request, Response

from bot.web.errors import problem


def require_api_key(req: Request, api_key: str | None) -> tuple[Response, int] | None:
    """None when the request carries `Authorization: Bearer <API_KEY>`, else a 401 answer."""
    if not api_key:
        return problem(401, "the API is disabled until API_KEY is set")
    scheme, _, token = req.headers.get("Authorization", "").partition(" ")
    # Compared as bytes: compare_digest refuses a str with non-ASCII characters (a TypeError).
    sent = token.strip().encode("utf-8", "surrogateescape")
    if scheme.lower() != "bearer" or not hmac.compare_digest(sent, api_key.encode()):
        return problem(401, "send Authorization: Bearer <API_KEY>")
    return None

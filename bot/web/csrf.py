"""Cross-site request forgery protection: a random token per session, echoed by every POST."""

from __future__ import annotations

import hmac
import secrets

from flask import request, session

SESSION_KEY = "csrf_token"
FORM_FIELD = "csrf_token"
HEADER = "X-CSRF-Token"  # for the inbox's own JavaScript, which posts JSON


def csrf_token() -> str:
    """This session's token, made on first use; forms put it in a hidden field."""
    token = session.get(SESSION_KEY)
    if not isinstance(token, str) or not token:
        token = secrets.token_urlsafe(32)
        session[SESSION_KEY] = token
    return token


def renew_csrf_token() -> str:
    """A fresh token (at login and logout), so a token seen before then is worthless."""
    session.pop(SESSION_KEY, None)
    return csrf_token()


def csrf_ok() -> bool:
    """Whether this request carries the session's token, in the form or in the header."""
    expected = session.get(SESSION_KEY)
    sent = request.form.get(FORM_FIELD) or request.headers.get(HEADER) or ""
    if not isinstance(expected, str) or not expected or not sent:
        return False
    return hmac.compare_digest(sent.encode(), expected.encode())

"""Cross-site request forgery protection: a random token per session, echoed by every POST;
a signed, session-less one for public forms."""

from __future__ import annotations

import hmac
import secrets

from flask import abort, current_app, request, session
from itsdangerous import BadData, URLSafeTimedSerializer

from bot.web.sessions import app_secret_key

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


# Public forms (the sign-up page, also inside a shop's iframe, where browsers withhold our
# cookies) carry a signed, dated token instead: it proves the form came from our page lately,
# and binds what the form showed (`bound`: the consent wording's digest) to what is posted.
PUBLIC_FORM_SALT = "parley-public-form"
PUBLIC_FORM_MAX_AGE = 2 * 60 * 60  # seconds: a form left open longer is shown afresh


def public_form_token(bound: str) -> str:
    """A session-less token for a public form that showed `bound`."""
    return _public_serializer().dumps({"n": secrets.token_urlsafe(8), "b": bound})


def public_form_ok(bound: str) -> bool:
    """Whether this request's form carries a token of ours, recent, made for `bound`."""
    sent = request.form.get(FORM_FIELD, "")
    if not sent or len(sent) > 512:
        return False
    try:
        value = _public_serializer().loads(sent, max_age=PUBLIC_FORM_MAX_AGE)
    except BadData:
        return False
    return isinstance(value, dict) and hmac.compare_digest(str(value.get("b", "")), bound)


def _public_serializer() -> URLSafeTimedSerializer:
    key = app_secret_key(current_app)
    if key is None:  # never sign with an empty key
        abort(503, description="The service is starting. Please try again in a minute.")
    return URLSafeTimedSerializer(key, salt=PUBLIC_FORM_SALT)

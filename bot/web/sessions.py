"""Browser sessions only where a browser is: the Twilio edge, the API and links are stateless."""

from __future__ import annotations

from flask import Flask, Request
from flask.sessions import NullSession, SecureCookieSession, SecureCookieSessionInterface
from itsdangerous import URLSafeTimedSerializer

from bot.store.secret_key import DatabaseUnreachable, NoSecretKey, secret_key

# The sign-up page keeps no session either: its form carries a signed token of its own.
STATELESS_PREFIXES = ("/twilio/", "/api/", "/healthz", "/l/", "/join")


class BrowserOnlySessions(SecureCookieSessionInterface):
    """Signed-cookie sessions, skipped for machine-to-machine routes.

    Opening a signed session costs a serializer per request; the webhook is the hot path and
    never uses one.
    """

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        if request.path.startswith(STATELESS_PREFIXES):
            return NullSession()
        return super().open_session(app, request)

    def get_signing_serializer(self, app: Flask) -> URLSafeTimedSerializer | None:
        if app_secret_key(app) is None:
            return None  # Flask answers with a NullSession; nothing is signed with no key
        return super().get_signing_serializer(app)


def app_secret_key(app: Flask) -> str | bytes | None:
    """The app's signing key; a process that started while the database was down has none
    yet, so it asks again now. None while there is still none."""
    if not app.secret_key:
        try:
            app.secret_key = secret_key(None, app.extensions["parley"].db)
        except (NoSecretKey, DatabaseUnreachable):
            return None
    return app.secret_key

"""Browser sessions only where a browser is: the Twilio edge, the API and links are stateless."""

from __future__ import annotations

from flask import Flask, Request
from flask.sessions import NullSession, SecureCookieSession, SecureCookieSessionInterface
from itsdangerous import URLSafeTimedSerializer

from bot.store.secret_key import DatabaseUnreachable, NoSecretKey, secret_key

STATELESS_PREFIXES = ("/twilio/", "/api/", "/healthz", "/l/")


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
        # A process that started while the database was down has no key yet: ask again now.
        if not app.secret_key:
            try:
                app.secret_key = secret_key(None, app.extensions["parley"].db)
            except (NoSecretKey, DatabaseUnreachable):
                return None  # Flask answers with a NullSession; nothing is signed with no key
        return super().get_signing_serializer(app)

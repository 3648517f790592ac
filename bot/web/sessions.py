"""Browser sessions only where a browser is: the Twilio edge, the API and links are stateless."""

from __future__ import annotations

from flask import Flask, Request
from flask.sessions import NullSession, SecureCookieSessionInterface, SessionMixin

STATELESS_PREFIXES = ("/twilio/", "/api/", "/healthz", "/l/")


class BrowserOnlySessions(SecureCookieSessionInterface):
    """Signed-cookie sessions, skipped for machine-to-machine routes.

    Opening a signed session costs a serializer per request; the webhook is the hot path and
    never uses one.
    """

    def open_session(self, app: Flask, request: Request) -> SessionMixin | None:
        if request.path.startswith(STATELESS_PREFIXES):
            return NullSession()
        return super().open_session(app, request)

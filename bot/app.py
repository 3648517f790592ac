"""The application factory: settings, services, blueprints."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from flask import Flask, redirect, url_for
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.security import check_password_hash
from werkzeug.wrappers import Response

from bot.accounts.agents import PasswordCheck
from bot.sending.gateways.base import Gateway
from bot.services import Services, build_services
from bot.settings import Settings, load_settings
from bot.shopify import webhook as shopify
from bot.store.models import utcnow
from bot.store.secret_key import NoSecretKey, secret_key
from bot.twilio import webhook as sms
from bot.web import analytics, api, health, inbox, join, links
from bot.web.compiled_templates import COMPILED_TEMPLATES
from bot.web.errors import register_error_handlers
from bot.web.limits import register_input_limits
from bot.web.sessions import BrowserOnlySessions

log = logging.getLogger(__name__)

MAX_REQUEST_BYTES = 64 * 1024  # a Twilio webhook is a few KB; anything larger is not one


def create_app(
    settings: Settings | None = None,
    *,
    gateway: Gateway | None = None,
    clock: Callable[[], datetime] | None = None,
    check_password: PasswordCheck = check_password_hash,
) -> Flask:
    """Build the Flask app; `webhook.py` calls this with no arguments.

    Raises NoSecretKey when neither SECRET_KEY nor the database (`bot db upgrade`) has a key;
    a database that does not answer yet is asked again when the first session needs the key.
    """
    settings = settings or load_settings()
    services = build_services(
        settings, gateway=gateway, clock=clock or utcnow, check_password=check_password
    )
    try:
        key = secret_key(settings.SECRET_KEY, services.db)
    except NoSecretKey:
        services.db.dispose()
        raise
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=key,
        MAX_CONTENT_LENGTH=MAX_REQUEST_BYTES,
        JSON_SORT_KEYS=False,
        # The inbox's session cookie: out of reach of scripts, not sent by other sites' forms,
        # and only over HTTPS when the service is served over it.
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=(settings.PUBLIC_URL or "").startswith("https"),
    )
    app.session_interface = BrowserOnlySessions()
    app.jinja_options = {**app.jinja_options, "bytecode_cache": COMPILED_TEMPLATES}
    if settings.TRUSTED_PROXIES:
        # Each trusted hop appends to X-Forwarded-*: believe that many, so login limits and
        # logs see the client, not the proxy. Webhook signatures still use PUBLIC_URL.
        hops = settings.TRUSTED_PROXIES
        # Flask's documented way to wrap its WSGI app replaces a method on the instance.
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops
        )
    app.extensions["parley"] = services
    register_error_handlers(app)
    register_input_limits(app)  # before the blueprints: their routes use its `id` converter
    edges = (sms.bp, shopify.bp, api.bp, health.bp, inbox.bp, analytics.bp, links.bp, join.bp)
    for blueprint in edges:
        app.register_blueprint(blueprint)
    app.add_url_rule("/", "index", _index)
    _warn_about_development_mode(services)
    return app


def _index() -> Response:
    """The site's root is the agent inbox."""
    return redirect(url_for("inbox.queue"))


def services_of(app: Flask) -> Services:
    """The services an app was built with."""
    return app.extensions["parley"]


def close_app(app: object) -> None:
    """Close a Parley app's services as its process stops (`Services.close`); any other WSGI
    app (a benchmark's bare one, say) is left alone."""
    if isinstance(app, Flask) and "parley" in app.extensions:
        services_of(app).close()


def _warn_about_development_mode(services: Services) -> None:
    settings = services.settings
    if not settings.signatures_required:
        log.warning(
            "DEVELOPMENT MODE: TWILIO_AUTH_TOKEN is not set, so webhook signatures are NOT "
            "checked and anyone can post to /twilio/sms. Set it before exposing this service."
        )
    if not settings.API_KEY:
        log.warning("API_KEY is not set: every /api route answers 401 until it is.")

"""Twilio webhook signatures: checked whenever an auth token is set, behind a proxy too."""

from __future__ import annotations

import functools
import hmac
import logging
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from flask import Request, Response, request
from twilio.request_validator import RequestValidator, get_signature_algorithm
from werkzeug.sansio.utils import get_current_url

from bot.twilio.signing import SIGNATURE_HEADER
from bot.web import context
from bot.web.errors import problem

log = logging.getLogger(__name__)

SETTINGS_HEADER = "X-Twilio-Webhooks-Signature-Settings"

Params = ParamSpec("Params")
Answer = TypeVar("Answer")


# `req.url`, remembered: werkzeug rebuilds it (quoting, then uri_to_iri) for every request, a
# tenth of the webhook's own CPU, though every text comes to the same host and path.
_current_url = functools.lru_cache(maxsize=256)(get_current_url)


def signed_url(req: Request, public_url: str | None) -> str:
    """The URL Twilio signed: PUBLIC_URL's origin (TLS ends at a proxy) plus the path and query."""
    if not public_url:
        return _current_url(req.scheme, req.host, req.root_path, req.path, req.query_string)
    query = req.query_string.decode("latin-1")
    return f"{public_url}{req.path}" + (f"?{query}" if query else "")


def signature_is_valid(req: Request, auth_token: str, public_url: str | None) -> bool:
    """Whether the request carries a valid X-Twilio-Signature for our auth token."""
    signature = req.headers.get(SIGNATURE_HEADER)
    if not signature:
        return False
    validator = RequestValidator(auth_token)
    algorithm = get_signature_algorithm(req.headers.get(SETTINGS_HEADER))
    url = signed_url(req, public_url)
    # Twilio signs the URL it requested; validate() also tries it with the port added or
    # removed, costing a second HMAC on every request. Try the URL as it came first.
    try:
        exact = validator.compute_signature(url, req.form, algorithm)
    except ValueError:  # an algorithm this twilio release does not know: validate() says no
        return validator.validate(url, req.form, signature, algorithm)
    if hmac.compare_digest(exact.encode(), signature.encode()):
        return True
    return validator.validate(url, req.form, signature, algorithm)


def twilio_signed(
    view: Callable[Params, Answer],
) -> Callable[Params, Answer | tuple[Response, int]]:
    """Refuse (403) a request not signed by Twilio, before anything is read or stored."""

    @functools.wraps(view)
    def checked(*args: Params.args, **kwargs: Params.kwargs) -> Answer | tuple[Response, int]:
        settings = context.services().settings
        auth_token = settings.TWILIO_AUTH_TOKEN  # signatures are checked whenever one is set
        if auth_token and not signature_is_valid(request, auth_token, settings.PUBLIC_URL):
            log.warning(
                "refused %s %s: bad or missing Twilio signature", request.method, request.path
            )
            return problem(403, "invalid or missing X-Twilio-Signature")
        return view(*args, **kwargs)

    return checked

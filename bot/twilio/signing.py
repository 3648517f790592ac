"""Signing a webhook request as Twilio does, without Flask: for `bot text`, the fake Twilio
server and the benchmarks, none of which serves a web page (bot/twilio/signature.py checks
the signatures Parley receives)."""

from __future__ import annotations

import urllib.request
from collections.abc import Mapping
from urllib.parse import urlencode

from twilio.request_validator import RequestValidator

SIGNATURE_HEADER = "X-Twilio-Signature"


def signed_request(
    url: str, form: Mapping[str, str], auth_token: str | None, *, signed_url: str | None = None
) -> urllib.request.Request:
    """A form POST as Twilio makes it: X-Twilio-Signature over `signed_url` (default: `url`,
    the address Twilio was given) and the form, when there is an auth token to sign with."""
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    if auth_token:
        validator = RequestValidator(auth_token)
        headers[SIGNATURE_HEADER] = validator.compute_signature(signed_url or url, dict(form))
    return urllib.request.Request(url, data=urlencode(form).encode(), headers=headers)

"""Be a visitor of the sign-up page: read its form as a browser would, and send it back."""

from __future__ import annotations

import html
import re

from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from tests.support.sms import ALICE

_HIDDEN = re.compile(r'<input type="hidden" name="([a-z_]+)" value="([^"]*)">')
_CONSENT = re.compile(r'<span id="consent-text">(.*?)</span>', re.S)


def hidden_fields(page: str) -> dict[str, str]:
    """The hidden fields of the form on `page` (its token and source tag)."""
    return {name: html.unescape(value) for name, value in _HIDDEN.findall(page)}


def consent_shown(page: str) -> str:
    """The consent wording as the page shows it beside the checkbox."""
    found = _CONSENT.search(page)
    assert found is not None, "the page shows no consent wording"
    return html.unescape(found.group(1))


def sign_up(
    client: FlaskClient,
    *,
    phone: str = ALICE,
    first_name: str = "Alice",
    consent: str | None = "yes",
    path: str = "/join",
    address: str = "203.0.113.7",
    headers: dict[str, str] | None = None,
) -> TestResponse:
    """Open the page at `path` and send its form filled in, as a browser at `address` would."""
    environ = {"REMOTE_ADDR": address}
    page = client.get(path, environ_base=environ, headers=headers)
    assert page.status_code == 200, page.text
    form = {**hidden_fields(page.text), "phone": phone, "first_name": first_name}
    if consent is not None:
        form["consent"] = consent
    return client.post("/join", data=form, environ_base=environ, headers=headers)

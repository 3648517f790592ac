"""Without PUBLIC_URL the signed URL is the request's own, as werkzeug's `request.url` says."""

from __future__ import annotations

import pytest
from flask import Request
from werkzeug.test import EnvironBuilder

from bot.twilio.signature import signed_url

CASES = {
    "plain": {"path": "/twilio/sms"},
    "a port": {"path": "/twilio/sms", "base_url": "http://localhost:8000"},
    "https": {"path": "/twilio/sms", "base_url": "https://sms.acme.example"},
    "IPv6": {"path": "/twilio/sms", "base_url": "http://[::1]:5000"},
    "a query": {"path": "/twilio/status", "query_string": "mid=7&x=a%20b+c%2Fd"},
    "mounted": {"path": "/twilio/sms", "base_url": "http://localhost/parley/"},
    "escapes in the path": {"path": "/twilio/sms%20x/%C3%A9/%25"},
    "unicode in the query": {"path": "/twilio/status", "query_string": "mid=1&n=%C3%A9%E2%82%AC"},
}


@pytest.mark.parametrize("where", CASES.values(), ids=CASES.keys())
def test_the_signed_url_is_request_url(where: dict[str, str]) -> None:
    for _again in range(2):  # the second time from what signed_url remembered
        builder = EnvironBuilder(method="POST", **where)
        request = Request(builder.get_environ())
        assert signed_url(request, None) == request.url


def test_public_url_replaces_the_origin() -> None:
    environ = EnvironBuilder(path="/twilio/status", query_string="mid=7").get_environ()
    assert signed_url(Request(environ), "https://sms.acme.example") == (
        "https://sms.acme.example/twilio/status?mid=7"
    )

"""The `http` step as values: how it is read and checked, the request it fills in, the answer it
reads. No network here (tests/unit/test_http_calls.py calls a local server; the database tests
run the step end to end)."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from textwrap import dedent
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.domain.effects import CallHttp
from bot.domain.http_calls import HttpReply, HttpRequest, MissingSecret, Secret, Secrets
from bot.engine.checker import check_flow
from bot.engine.json_paths import (
    MISSING,
    JsonPathError,
    parse_json_path,
    read_json_path,
)
from bot.engine.parser import parse_flow
from bot.engine.runtime import Context, start
from bot.engine.steps.http import HttpStep, encode_url_value
from bot.engine.templates import parse_template

NOW = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
SECRETS = Secrets({"SHOP_TOKEN": "s3cret"}, reserved=frozenset({"TWILIO_AUTH_TOKEN"}))


def flow_text(http: str, *, extra: str = "    on_failure: sorry\n") -> str:
    """A flow with one http step (`http` is its body, indented under `http:`)."""
    body = "".join(f"      {line}\n" for line in dedent(http).strip().splitlines())
    return (
        "flow: t\nattributes: [order_id, total]\nsteps:\n"
        f"  - id: lookup\n    http:\n{body}{extra}"
        "  - end: Done.\n"
        "  - id: sorry\n    end: Sorry.\n"
    )


def problems(text: str, secrets: Secrets | None = SECRETS) -> list[str]:
    parsed = parse_flow(text, "t.yaml")
    found = list(parsed.problems)
    if parsed.flow is not None:
        found += check_flow(parsed.flow, secrets=secrets)
    return [str(problem) for problem in found]


def step_of(http: str) -> HttpStep:
    parsed = parse_flow(flow_text(http), "t.yaml")
    assert parsed.flow is not None, parsed.problems
    step = parsed.flow.step("lookup")
    assert isinstance(step, HttpStep)
    return step


GOOD = """
    method: post
    url: "https://shop.example/api/orders/{order_id}?phone={phone}"
    headers: {Authorization: "Bearer ${SHOP_TOKEN}", Accept: application/json}
    body: {phone: "{phone}", total: "{total}", note: "from {first_name|someone}", n: [1, 2.5]}
    timeout: 10s
    save: {status: order.status, first_item: items.0.sku}
    save_attributes: {tier: customer.tier}
"""


def test_a_good_step_checks_clean_and_defines_what_it_saves() -> None:
    assert problems(flow_text(GOOD)) == []
    step = step_of(GOOD)
    assert step.method == "POST"
    assert step.timeout.total_seconds() == 10
    assert set(step.defines()) == {"status", "first_item", "tier"}
    assert list(step.secrets()) == [Secret("SHOP_TOKEN")]
    assert [target for target, _ in step.jumps()] == ["sorry"]


PARSE_ERRORS = [
    pytest.param("url: https://shop.example/\nverb: GET", "unknown key 'verb'", id="unknown key"),
    pytest.param("method: DELETE\nurl: https://shop.example/", "GET or POST", id="method"),
    pytest.param("method: GET", "http needs a url", id="no url"),
    pytest.param("url: ftp://shop.example/", "http:// or https://", id="another scheme"),
    pytest.param('url: "shop.example/api"', "http:// or https://", id="no scheme"),
    pytest.param('url: "https://{host}/api"', "never choose the server", id="a value as host"),
    pytest.param('url: "https://shop.example{path}"', "never choose the server", id="host+value"),
    pytest.param('url: "https://me:pw@shop.example/"', "no user:password@", id="credentials"),
    pytest.param('url: "https://shop.example/{"', "unclosed '{'", id="a broken template"),
    pytest.param(
        'url: "https://shop.example/?key=${SHOP_TOKEN}"', "only headers may use", id="secret url"
    ),
    pytest.param(
        'url: https://shop.example/\nmethod: POST\nbody: {key: "${SHOP_TOKEN}"}',
        "only headers may use",
        id="secret in a body",
    ),
    pytest.param(
        "url: https://shop.example/\nbody: {a: 1}", "a GET sends no body", id="body on a GET"
    ),
    pytest.param(
        "url: https://shop.example/\nmethod: POST\nbody: hello",
        "body is JSON written as a mapping",
        id="a text body",
    ),
    pytest.param(
        'url: https://shop.example/\nheaders: {"Bad Name": x}', "not a header name", id="header"
    ),
    pytest.param(
        "url: https://shop.example/\nheaders: {X-A: [1]}", "needs a text value", id="header list"
    ),
    pytest.param(
        'url: https://shop.example/\nheaders: {X-A: "${not a name}"}',
        "write an environment variable as ${NAME}",
        id="a malformed secret",
    ),
    pytest.param(
        "url: https://shop.example/\ntimeout: 0.5s", "whole number of seconds", id="timeout short"
    ),
    pytest.param("url: https://shop.example/\ntimeout: 1m", "1s and 30s", id="timeout long"),
    pytest.param("url: https://shop.example/\ntimeout: 5", "timeout:", id="timeout bare number"),
    pytest.param(
        "url: https://shop.example/\nsave: {status: order..status}", "not a path", id="bad path"
    ),
    pytest.param("url: https://shop.example/\nsave: {status: ''}", "dotted path", id="no path"),
    pytest.param(
        "url: https://shop.example/\nsave_attributes: {a b: x}", "single word", id="bad name"
    ),
    pytest.param("url: https://shop.example/\nsave: [a, b]", "must be a mapping", id="save list"),
]


@pytest.mark.parametrize(("http", "expected"), PARSE_ERRORS)
def test_a_malformed_step_is_an_error_on_its_line(http: str, expected: str) -> None:
    found = problems(flow_text(http))
    assert len(found) == 1 and expected in found[0], found
    assert found[0].startswith("t.yaml:")


def test_the_step_body_must_be_a_mapping() -> None:
    text = "flow: t\nsteps:\n  - http: https://shop.example/\n"
    assert problems(text) == ["t.yaml:3: http must be a mapping (key: value lines)"]


CHECKS = [
    pytest.param(
        "url: https://shop.example/\nheaders: {Authorization: Bearer abc123}",
        ["warning: http: header Authorization holds a secret written out"],
        id="a literal bearer token",
    ),
    pytest.param(
        "url: https://shop.example/\nheaders: {X-Api-Key: abc}",
        ["warning: http: header X-Api-Key holds a secret written out"],
        id="a literal key",
    ),
    pytest.param(
        "url: https://shop.example/\nheaders: {X-Shop: sk_live_4eC39HqLyjWDarjtT1zdp7dc}",
        ["warning: http: header X-Shop holds a secret written out"],
        id="a token under any name",
    ),
    pytest.param(
        'url: https://shop.example/\nheaders: {Authorization: "Basic ${SHOP_TOKEN}"}',
        [],
        id="a scheme word and a secret",
    ),
    pytest.param(
        'url: https://shop.example/\nheaders: {X-Customer-Key: "{phone}"}', [], id="a value"
    ),
    pytest.param(
        'url: https://shop.example/\nheaders: {X-Token: "${MISSING_TOKEN}"}',
        ["warning: http: environment variable MISSING_TOKEN is not set, so the call will fail"],
        id="a variable not set",
    ),
    pytest.param(
        'url: https://shop.example/\nheaders: {X-Token: "${TWILIO_AUTH_TOKEN}"}',
        ["http: ${TWILIO_AUTH_TOKEN} is one of Parley's own settings"],
        id="one of Parley's own settings",
    ),
    pytest.param(
        'url: "https://shop.example/{nobody}"',
        ["unknown template variable {nobody}"],
        id="an unknown name in the url",
    ),
    pytest.param(
        'url: https://shop.example/\nmethod: POST\nbody: {a: ["{nobody}"]}',
        ["unknown template variable {nobody}"],
        id="an unknown name in the body",
    ),
    pytest.param(
        'url: https://shop.example/\nheaders: {X-Who: "{nobody}"}',
        ["unknown template variable {nobody}"],
        id="an unknown name in a header",
    ),
]


@pytest.mark.parametrize(("http", "expected"), CHECKS)
def test_checks(http: str, expected: list[str]) -> None:
    found = problems(flow_text(http))
    assert len(found) == len(expected), found
    for message, wanted in zip(found, expected, strict=True):
        assert wanted in message, found


def test_secrets_are_looked_up_only_when_the_checker_is_given_them() -> None:
    http = 'url: https://shop.example/\nheaders: {X-Token: "${MISSING_TOKEN}"}'
    assert problems(flow_text(http), secrets=None) == []


def test_on_failure_must_name_a_step() -> None:
    found = problems(flow_text("url: https://shop.example/", extra="    on_failure: nowhere\n"))
    assert found == ["t.yaml:7: jump to a step that does not exist: 'nowhere'"]


def test_the_request_is_filled_in_with_values_encoded_and_secrets_left_for_the_call() -> None:
    parsed = parse_flow(flow_text(GOOD), "t.yaml")
    assert parsed.flow is not None
    step = step_of(GOOD)
    attributes = {"order_id": "7/../../admin?x=1#y", "total": 12.5, "first_name": "${SHOP_TOKEN}"}
    outcome = start(parsed.flow, Context(now=NOW, phone="+14155550123", attributes=attributes))
    [request] = [effect.request for effect in outcome.effects if isinstance(effect, CallHttp)]
    assert request == step.request(
        {**attributes, "phone": "+14155550123", "first_name": "${SHOP_TOKEN}"}
    )
    assert request.url == (
        "https://shop.example/api/orders/7%2F..%2F..%2Fadmin%3Fx%3D1%23y?phone=%2B14155550123"
    )
    assert dict(request.headers)["Authorization"] == ("Bearer ", Secret("SHOP_TOKEN"))
    # A value that is one placeholder keeps its type; a person's "${…}" stays text.
    assert request.body == {
        "phone": "+14155550123",
        "total": 12.5,
        "note": "from ${SHOP_TOKEN}",
        "n": [1, 2.5],
    }
    assert json.loads(json.dumps(request.body, allow_nan=False)) == request.body
    assert (
        request.describe() == "POST https://shop.example/api/orders/7%2F..%2F..%2Fadmin%3Fx%3D1%23y"
    )


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        (float("nan"), None),
        ({"a": [1, {"b": True}]}, {"a": [1, {"b": True}]}),
        (datetime(2026, 1, 2, tzinfo=UTC).date(), "2026-01-02"),
    ],
)
def test_a_lone_placeholder_in_a_body_sends_its_value_as_json(value: object, expected: Any) -> None:
    step = step_of('method: POST\nurl: https://shop.example/\nbody: {v: "{total}"}')
    assert step.request({"total": value}).body == {"v": expected}


@given(st.text())
def test_a_value_in_a_url_never_changes_its_server_path_or_parameters(value: str) -> None:
    template = parse_template("https://shop.example/api/orders/{order}/status?phone={order}&x=1")
    url = template.render_encoded({"order": value}, encode_url_value)
    parts = urlsplit(url)
    assert (parts.scheme, parts.netloc, parts.fragment) == ("https", "shop.example", "")
    segments = parts.path.split("/")
    assert segments[:4] == ["", "api", "orders", segments[3]] and segments[4:] == ["status"]
    assert unquote(segments[3]) == value and segments[3] not in {".", ".."}
    query = parts.query.split("&")
    assert len(query) == 2 and query[1] == "x=1" and unquote(query[0]) == f"phone={value}"


REPLIES = [
    pytest.param(HttpReply.failed("no answer within 5 s"), "no answer within 5 s", id="timeout"),
    pytest.param(HttpReply(503, {"order": {"status": "x"}}, True), "HTTP 503", id="not 2xx"),
    pytest.param(HttpReply(302), "HTTP 302", id="a redirect too many"),
    pytest.param(HttpReply(200), "is not JSON", id="not JSON"),
    pytest.param(HttpReply(200, {"order": {}}, True), "no order.status", id="a field missing"),
    pytest.param(HttpReply(200, [1], True), "no order.status, customer.tier", id="a list"),
]


@pytest.mark.parametrize(("reply", "failure"), REPLIES)
def test_an_answer_that_does_not_serve_is_a_failure_that_says_why(
    reply: HttpReply, failure: str
) -> None:
    step = step_of(
        "url: https://shop.example/\nsave: {status: order.status}\n"
        "save_attributes: {tier: customer.tier}"
    )
    answered = step.read(reply)
    assert answered.failure is not None and failure in answered.failure
    assert (answered.answers, answered.attributes) == ({}, {})


def test_an_answer_that_serves_gives_its_fields() -> None:
    step = step_of(GOOD)
    document = {
        "order": {"status": None},
        "items": [{"sku": "A-1"}],
        "customer": {"tier": {"name": "gold"}},
    }
    answered = step.read(HttpReply(201, document, True))
    assert answered.failure is None
    assert answered.answers == {"status": None, "first_item": "A-1"}  # null is a value
    assert answered.attributes == {"tier": {"name": "gold"}}


def test_without_saves_any_2xx_serves_json_or_not() -> None:
    step = step_of("url: https://shop.example/")
    assert step.read(HttpReply(204)).failure is None


# --- secrets -------------------------------------------------------------------------------


def test_secrets_are_filled_in_from_the_variables_but_never_parleys_own() -> None:
    secrets = Secrets({"SHOP_TOKEN": "abc", "API_KEY": "k", "EMPTY": ""}, frozenset({"API_KEY"}))
    assert secrets.fill(("Bearer ", Secret("SHOP_TOKEN"))) == "Bearer abc"
    with pytest.raises(
        MissingSecret, match=re.escape("${API_KEY} is one of Parley's own settings")
    ):
        secrets.fill((Secret("API_KEY"),))
    with pytest.raises(MissingSecret, match="environment variable EMPTY is not set"):
        secrets.fill((Secret("EMPTY"),))
    with pytest.raises(MissingSecret, match="environment variable NOPE is not set"):
        secrets.fill((Secret("NOPE"),))


def test_parleys_settings_are_the_reserved_names(monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.support.harness import make_settings

    monkeypatch.setenv("SHOP_TOKEN", "from-the-environment")
    secrets = make_settings("sqlite://").flow_secrets
    assert {"TWILIO_AUTH_TOKEN", "DATABASE_URL", "SECRET_KEY", "API_KEY"} <= secrets.reserved
    assert secrets.fill((Secret("SHOP_TOKEN"),)) == "from-the-environment"
    monkeypatch.setenv("SHOP_TOKEN", "changed")  # read at each call, not once
    assert secrets.fill((Secret("SHOP_TOKEN"),)) == "changed"


def test_a_request_describes_itself_without_its_query() -> None:
    request = HttpRequest("GET", "https://shop.example/api/x?phone=%2B1415")
    assert request.describe() == "GET https://shop.example/api/x"


# --- the JSON path reader ----------------------------------------------------------------------

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.text(min_size=1).filter(lambda key: "." not in key), inner, max_size=4)
    ),
    max_leaves=20,
)


def _paths(document: Any, prefix: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], Any]]:
    """Every path in a document and the value there."""
    found = [(prefix, document)] if prefix else []
    if isinstance(document, dict):
        for key, value in document.items():
            found += _paths(value, (*prefix, key))
    elif isinstance(document, list):
        for index, value in enumerate(document):
            found += _paths(value, (*prefix, str(index)))
    return found


@given(JSON)
def test_every_path_in_a_document_reads_its_value(document: Any) -> None:
    for path, value in _paths(document):
        assert read_json_path(document, path) == value or value != value


@given(JSON, st.lists(st.text(min_size=1), min_size=1, max_size=4))
def test_a_path_that_leads_nowhere_is_missing(document: Any, path: list[str]) -> None:
    if tuple(path) not in dict(_paths(document)):
        assert read_json_path(document, tuple(path)) is MISSING


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("order.status", ("order", "status")),
        (" items.0.sku ", ("items", "0", "sku")),
        ("a", ("a",)),
    ],
)
def test_paths_are_dotted_names(text: str, expected: tuple[str, ...]) -> None:
    assert parse_json_path(text) == expected


@pytest.mark.parametrize("text", ["", "a..b", ".a", "a.", "a. b", 3, None])
def test_malformed_paths_are_refused(text: object) -> None:
    with pytest.raises(JsonPathError):
        parse_json_path(text)


def test_a_number_picks_a_list_item_but_not_beyond_it() -> None:
    document = {"items": [{"sku": "A"}, {"sku": "B"}], "0": "zero"}
    assert read_json_path(document, ("items", "1", "sku")) == "B"
    assert read_json_path(document, ("items", "2", "sku")) is MISSING
    assert read_json_path(document, ("items", "-1")) is MISSING
    assert read_json_path(document, ("0",)) == "zero"  # a mapping's key, though it is a digit
    assert read_json_path(document, ("items", "sku")) is MISSING

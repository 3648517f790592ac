"""The http step's caller against a real local server: what counts as an answer, and the limits
(time, size, redirects, schemes, secrets) that keep a flow's call from hurting anyone."""

from __future__ import annotations

import gzip
import socket
from collections.abc import Iterator

import pytest

from bot.actions.http_calls import MAX_ANSWER_BYTES, MAX_REDIRECTS, WebCaller, read_reply
from bot.domain.http_calls import HttpReply, HttpRequest, Secret, Secrets
from tests.support.web_server import Answer, Call, WebServer

SECRETS = Secrets({"SHOP_TOKEN": "s3cret", "API_KEY": "parley's"}, frozenset({"API_KEY"}))
TOKEN_HEADERS = (("Authorization", ("Bearer ", Secret("SHOP_TOKEN"))), ("X-Shop-Key", ("k-1",)))
SHORT = 0.2  # seconds: a call to a server that never answers gives up after this


def _echo(call: Call) -> Answer:
    return Answer(200, {"method": call.method, "path": call.path, "headers": call.headers})


def _redirects(server: WebServer, hops: int, then: str) -> None:
    """/hop/N redirects to /hop/N-1 … /hop/1 to `then`."""
    for hop in range(1, hops + 1):
        target = then if hop == 1 else f"/hop/{hop - 1}"
        server.routes[f"/hop/{hop}"] = lambda _call, target=target: Answer(  # type: ignore[misc]
            302, headers={"Location": target}
        )


@pytest.fixture
def server() -> Iterator[WebServer]:
    routes = {
        "/echo": _echo,
        "/order": lambda call: Answer(200, {"order": {"status": "shipped"}, "got": call.json()}),
        "/text": lambda _call: Answer(200, b"<html>hello</html>"),
        "/empty": lambda _call: Answer(204),
        "/nan": lambda _call: Answer(200, b'{"total": NaN}'),
        "/deep": lambda _call: Answer(200, b"[" * 100_000 + b"]" * 100_000),
        "/down": lambda _call: Answer(503, {"error": "maintenance"}),
        "/hold": lambda _call: Answer(200, {"late": True}, hold=True),
        "/hold-body": lambda _call: Answer(200, {"late": True}, hold_after_headers=True),
        "/big": lambda _call: Answer(200, b"x" * (MAX_ANSWER_BYTES + 1)),
        "/big-undeclared": lambda _call: Answer(
            200, b"[" + b"1," * MAX_ANSWER_BYTES + b"1]", declare_length=False
        ),
        "/gzip-bomb": lambda _call: Answer(
            200,
            gzip.compress(b"0" * (MAX_ANSWER_BYTES * 4)),
            headers={"Content-Encoding": "gzip"},
        ),
    }
    with WebServer(routes) as running:
        yield running


def call(url: str, **options: object) -> HttpReply:
    request = HttpRequest(**{"method": "GET", "url": url, "timeout": 5.0, **options})  # type: ignore[arg-type]
    return WebCaller(SECRETS).call(request)


def test_a_json_answer_is_read_and_the_body_and_secrets_are_sent(server: WebServer) -> None:
    reply = call(
        server.url("/order?phone=%2B1415"), method="POST", body={"n": 1}, headers=TOKEN_HEADERS
    )
    assert reply == HttpReply(200, {"order": {"status": "shipped"}, "got": {"n": 1}}, True)
    [sent] = server.calls
    assert sent.path == "/order?phone=%2B1415"
    assert sent.headers["Authorization"] == "Bearer s3cret"
    assert sent.headers["Content-Type"] == "application/json"
    assert sent.headers["Accept"] == "application/json"
    assert sent.headers["User-Agent"].startswith("Parley")


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/text", HttpReply(200)),
        ("/empty", HttpReply(204)),
        ("/nan", HttpReply(200)),  # NaN is no JSON value: no database would store it
        ("/deep", HttpReply(200)),
        ("/down", HttpReply(503, {"error": "maintenance"}, True)),
    ],
)
def test_answers_that_are_not_json_are_no_document(
    server: WebServer, path: str, expected: HttpReply
) -> None:
    assert call(server.url(path)) == expected


@pytest.mark.parametrize("path", ["/big", "/big-undeclared", "/gzip-bomb"])
def test_an_answer_over_the_size_cap_is_a_failure(server: WebServer, path: str) -> None:
    reply = call(server.url(path))
    assert reply.problem == f"the answer is larger than {MAX_ANSWER_BYTES:,} bytes"


@pytest.mark.parametrize("path", ["/hold", "/hold-body"])
def test_a_server_that_does_not_answer_in_time_is_a_timeout(server: WebServer, path: str) -> None:
    assert call(server.url(path), timeout=SHORT) == HttpReply.timed_out(SHORT)


def test_redirects_are_followed_up_to_the_limit(server: WebServer) -> None:
    _redirects(server, MAX_REDIRECTS, "/echo")
    assert call(server.url(f"/hop/{MAX_REDIRECTS}")).status == 200
    _redirects(server, MAX_REDIRECTS + 1, "/echo")
    reply = call(server.url(f"/hop/{MAX_REDIRECTS + 1}"))
    assert reply.problem == f"more than {MAX_REDIRECTS} redirects"


def test_a_redirect_to_another_host_drops_the_steps_headers(server: WebServer) -> None:
    server.routes["/same"] = lambda _call: Answer(302, headers={"Location": "/echo"})
    elsewhere = server.url("/echo", host="localhost")  # the same server under another name
    server.routes["/away"] = lambda _call: Answer(302, headers={"Location": elsewhere})
    same = call(server.url("/same"), headers=TOKEN_HEADERS).document["headers"]
    away = call(server.url("/away"), headers=TOKEN_HEADERS).document["headers"]
    assert same["Authorization"] == "Bearer s3cret" and same["X-Shop-Key"] == "k-1"
    assert "Authorization" not in away and "X-Shop-Key" not in away


def test_a_redirect_to_another_scheme_is_a_failure(server: WebServer) -> None:
    server.routes["/file"] = lambda _call: Answer(302, headers={"Location": "file:///etc/passwd"})
    assert call(server.url("/file")).problem is not None


def test_only_http_and_https_urls_are_called() -> None:
    reply = call("file:///etc/passwd")
    assert reply.problem == "only http:// and https:// URLs are called"


@pytest.mark.parametrize(
    ("secret", "problem"),
    [
        ("NOT_SET", "environment variable NOT_SET is not set"),
        ("API_KEY", "${API_KEY} is one of Parley's own settings: a flow may not send it anywhere"),
    ],
)
def test_a_secret_that_cannot_be_filled_in_fails_before_any_call(
    server: WebServer, secret: str, problem: str
) -> None:
    reply = call(server.url("/echo"), headers=(("X-Token", (Secret(secret),)),))
    assert reply == HttpReply.failed(problem)
    assert server.calls == []


def test_a_header_value_with_a_line_break_is_a_failure_not_an_injection(server: WebServer) -> None:
    reply = call(server.url("/echo"), headers=(("X-Name", ("Ann\r\nX-Admin: yes",)),))
    assert reply.problem is not None and server.calls == []


def test_a_server_that_is_down_is_a_failure_that_names_it() -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    reply = call(f"http://127.0.0.1:{port}/x")
    assert reply.problem is not None and f"cannot reach 127.0.0.1:{port}" in reply.problem


def test_read_reply_reads_json_in_any_unicode_encoding() -> None:
    assert read_reply(200, '{"a": "é"}'.encode("utf-16")) == HttpReply(200, {"a": "é"}, True)
    assert read_reply(200, b"  \n") == HttpReply(200)

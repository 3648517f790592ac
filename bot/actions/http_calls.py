"""The `http` flow step's calls, made after the turn is stored: bounded in time, size and
redirects, with secrets filled in only here, at the moment of the call."""

from __future__ import annotations

import json
import time
from typing import Any, Protocol
from urllib.parse import urlsplit

import requests
from requests import Session
from requests.structures import CaseInsensitiveDict
from urllib3.exceptions import ReadTimeoutError

from bot.domain.http_calls import HttpReply, HttpRequest, MissingSecret, Secrets

MAX_ANSWER_BYTES = 1_000_000
MAX_REDIRECTS = 3
USER_AGENT = "Parley (http flow step)"
_CHUNK = 64 * 1024


class HttpCaller(Protocol):
    """Makes an http step's call; never raises: a failure is a reply with its `problem`."""

    def call(self, request: HttpRequest) -> HttpReply:
        """Call the URL and say what it answered."""
        ...


class _TooLarge(Exception):
    pass


class _TooSlow(Exception):
    pass


class WebCaller:
    """Calls URLs over the network, with `${NAME}` read from `secrets` at each call."""

    def __init__(self, secrets: Secrets) -> None:
        self.secrets = secrets

    def call(self, request: HttpRequest) -> HttpReply:
        """Call the URL; a timeout, an answer over 1 MB or too many redirects is a failure."""
        if urlsplit(request.url).scheme.lower() not in {"http", "https"}:
            return HttpReply.failed("only http:// and https:// URLs are called")
        try:
            headers = CaseInsensitiveDict(
                {name: self.secrets.fill(value) for name, value in request.headers}
            )
        except MissingSecret as error:
            return HttpReply.failed(str(error))
        headers.setdefault("User-Agent", USER_AGENT)
        headers.setdefault("Accept", "application/json")
        own_headers = {name for name, _ in request.headers}
        deadline = time.monotonic() + request.timeout  # for the whole call, body and all
        try:
            # A session per call: sessions are not thread-safe, and no idle connection lingers.
            with (
                _RedirectSession(own_headers) as session,
                session.request(
                    request.method,
                    request.url,
                    headers=headers,
                    json=request.body,
                    timeout=request.timeout,
                    stream=True,
                ) as response,
            ):
                content = _read_capped(response, deadline)
                status = response.status_code
        except (requests.Timeout, _TooSlow):
            return HttpReply.timed_out(request.timeout)
        except requests.TooManyRedirects:
            return HttpReply.failed(f"more than {MAX_REDIRECTS} redirects")
        except _TooLarge:
            return HttpReply.failed(f"the answer is larger than {MAX_ANSWER_BYTES:,} bytes")
        except requests.ConnectionError as error:
            if error.args and isinstance(error.args[0], ReadTimeoutError):  # mid-body
                return HttpReply.timed_out(request.timeout)
            return HttpReply.failed(f"cannot reach {urlsplit(request.url).netloc}: {error}")
        except (requests.RequestException, ValueError) as error:
            # A refused connection, a bad certificate, a header value with a line break …
            return HttpReply.failed(f"the call failed: {type(error).__name__}: {error}")
        return read_reply(status, content)


def read_reply(status: int, content: bytes) -> HttpReply:
    """A status and body as an HttpReply: the body read as JSON when it is JSON."""
    if not content.strip():
        return HttpReply(status)
    try:
        document = json.loads(content, parse_constant=_not_json)
    except (ValueError, RecursionError):  # not JSON, NaN (no database stores it), too deep
        return HttpReply(status)
    return HttpReply(status, document, is_json=True)


def _not_json(constant: str) -> Any:
    raise ValueError(f"{constant} is not a JSON value")


class _RedirectSession(Session):
    """A session whose redirects to another host carry none of the step's headers.

    requests already drops `Authorization` there; a secret in `X-Api-Key` must go too.
    """

    def __init__(self, own_headers: set[str]) -> None:
        super().__init__()
        self.max_redirects = MAX_REDIRECTS
        self.own_headers = own_headers

    def rebuild_auth(self, prepared_request: Any, response: Any) -> None:
        # `response.request` is the request being redirected: compare its host with the next.
        if self.should_strip_auth(response.request.url, prepared_request.url):
            for name in self.own_headers:
                prepared_request.headers.pop(name, None)
        super().rebuild_auth(prepared_request, response)


def _read_capped(response: requests.Response, deadline: float) -> bytes:
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > MAX_ANSWER_BYTES:
        raise _TooLarge
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_content(_CHUNK):  # decompressed: a small gzip cannot get past
        size += len(chunk)
        if size > MAX_ANSWER_BYTES:
            raise _TooLarge
        if time.monotonic() > deadline:  # a server that drips bytes to stay under the timeout
            raise _TooSlow
        chunks.append(chunk)
    return b"".join(chunks)

"""A small web server on a thread, standing in for a shop's API: it answers from a table of
routes, records every call, and can hold a call until the test lets it answer."""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

HOLD_LIMIT = 60.0  # a held call answers by itself after this, so a failed test cannot hang


@dataclass(frozen=True)
class Call:
    """One request the server received."""

    method: str
    path: str  # with its query, as sent
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Answer:
    """What a route answers: a status, a body (JSON for anything but bytes) and headers."""

    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    hold: bool = False  # wait for `release` before answering
    hold_after_headers: bool = False  # send the status and headers, then wait to send the body
    declare_length: bool = True  # False: no Content-Length; the body ends when the line closes

    def payload(self) -> bytes:
        if self.body is None:
            return b""
        return self.body if isinstance(self.body, bytes) else json.dumps(self.body).encode()


Route = Callable[[Call], Answer]


class WebServer:
    """Answers `routes[path without query]`; a path it does not know is a 404."""

    def __init__(self, routes: dict[str, Route] | None = None) -> None:
        self.routes: dict[str, Route] = dict(routes or {})
        self.calls: list[Call] = []
        self.called = threading.Event()  # set at every call
        self.release = threading.Event()  # lets held calls answer
        self.during_call: Callable[[Call], None] | None = None  # runs inside each call
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        # Polled often: shutdown() waits up to one poll, and every test shuts a server down.
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"

    def __enter__(self) -> WebServer:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.release.set()
        self._server.shutdown()
        self._server.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                self._answer()

            def do_POST(self) -> None:
                self._answer()

            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                call = Call(self.command, self.path, dict(self.headers), self.rfile.read(length))
                server.calls.append(call)
                if server.during_call is not None:
                    server.during_call(call)
                server.called.set()
                route = server.routes.get(self.path.split("?")[0])
                answer = route(call) if route else Answer(404, {"error": "no such route"})
                if answer.hold:
                    server.release.wait(HOLD_LIMIT)
                payload = answer.payload()
                self.send_response(answer.status)
                headers = dict(answer.headers)
                if answer.declare_length:
                    headers.setdefault("Content-Length", str(len(payload)))
                else:
                    headers["Connection"] = "close"
                    self.close_connection = True
                if answer.body is not None and not isinstance(answer.body, bytes):
                    headers.setdefault("Content-Type", "application/json")
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                if answer.hold_after_headers:
                    self.wfile.flush()
                    server.release.wait(HOLD_LIMIT)
                # The caller may have given up (a test of timeouts or size): nobody reads it.
                with contextlib.suppress(OSError):
                    self.wfile.write(payload)

            def log_message(self, *_args: object) -> None:
                pass

        return Handler

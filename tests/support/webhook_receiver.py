"""A webhook receiver on a thread: the CRM or e-mail tool that Parley's events are posted to.

It keeps what it accepted, answers with the status a test sets, and can go down (its port
refuses connections) and come back on the same port, as a real receiver does in an outage.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from bot.testing.processes import free_port
from tests.support.paths import ROOT


def documented_verify() -> Any:
    """The `verify` function of README's "Verifying the signature", as a receiver copies it."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("### Verifying the signature", 1)[1]
    code = section.split("```python\n", 1)[1].split("```", 1)[0]
    namespace: dict[str, Any] = {}
    exec(code, namespace)  # the snippet as printed, nothing added
    return namespace["verify"]


@dataclass(frozen=True)
class Received:
    """One request the receiver accepted: its raw body and headers, and the body as JSON."""

    body: bytes
    headers: dict[str, str]

    @property
    def event(self) -> dict[str, Any]:
        return json.loads(self.body)

    @property
    def signature(self) -> str:
        return self.headers["Parley-Signature"]


class WebhookReceiver:
    """A local HTTP server standing in for a webhook receiver."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/hooks/parley"
        self.status = 200  # what it answers; anything but 2xx is a failure Parley retries
        # Time a request takes, so that workers posting at once overlap (as FakeTwilioServer's).
        self.delay_seconds = 0.0
        self.accepted: list[Received] = []
        self.refused = 0  # requests answered with a failing status
        self._changed = threading.Condition()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def __enter__(self) -> WebhookReceiver:
        self.come_up()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.go_down()

    def come_up(self) -> None:
        """Listen (again) on the receiver's port."""
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                if receiver.delay_seconds:
                    time.sleep(receiver.delay_seconds)
                status = receiver.status
                # Kept before answering: once Parley hears 2xx, the event is here.
                receiver._record(status, Received(body, dict(self.headers.items())))
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok" if status < 300 else b"no")

            def log_message(self, *_args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def go_down(self) -> None:
        """Stop listening: from now on a connection to the port is refused."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            assert self._thread is not None
            self._thread.join()
            self._server = self._thread = None

    def events(self) -> list[dict[str, Any]]:
        """The events it accepted, in the order they arrived."""
        with self._changed:
            return [received.event for received in self.accepted]

    def wait_for(self, count: int, timeout: float = 120.0) -> list[dict[str, Any]]:
        """Wait until it accepted `count` events (a safety-net timeout for a hung run)."""
        with self._changed:
            arrived = self._changed.wait_for(lambda: len(self.accepted) >= count, timeout)
            assert arrived, f"{len(self.accepted)} of {count} events arrived"
        return self.events()

    def _record(self, status: int, received: Received) -> None:
        with self._changed:
            if 200 <= status < 300:
                self.accepted.append(received)
            else:
                self.refused += 1
            self._changed.notify_all()

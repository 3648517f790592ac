"""A local fake of Twilio's REST Messages API that the real `twilio` client can talk to.

Like bolt-python's tests do for Slack, tests point the real client at this server instead of
patching it, then look at what the server received:

    with FakeTwilioServer(account_sid=SID, auth_token="secret") as server:
        gateway = TwilioGateway(SID, "secret", from_number="+15550000000",
                                api_base_url=server.base_url)
        gateway.send(OutboundText(to="+15551112222", body="Hi"))
        assert server.messages[0]["Body"] == "Hi"
"""

from __future__ import annotations

import contextlib
import logging
import queue
import socket
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any, Self, TypeAlias
from urllib.parse import urlencode

from flask import Flask, Response, jsonify, request
from werkzeug.serving import BaseWSGIServer, ThreadedWSGIServer

from bot.domain.segments import count_segments
from bot.twilio.phone import status_callback_form
from bot.twilio.signing import signed_request

log = logging.getLogger(__name__)

# What socketserver hands a request handler: a TCP socket (or a datagram and its socket).
_Connection: TypeAlias = socket.socket | tuple[bytes, socket.socket]


class _CountingServer(ThreadedWSGIServer):
    """werkzeug's threaded server (what make_server(threaded=True) builds), reporting each
    connection as it opens (+1) and closes (-1)."""

    def __init__(self, host: str, port: int, app: Flask, count: Callable[[int], None]) -> None:
        super().__init__(host, port, app)
        self._count = count

    # socketserver accepts on the serving thread and hands each connection to a thread of its
    # own; counting there sees a connection before any of its requests is read.
    def process_request(self, request: _Connection, client_address: Any) -> None:
        self._count(+1)
        super().process_request(request, client_address)

    def process_request_thread(self, request: _Connection, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._count(-1)


API_VERSION = "2010-04-01"
MESSAGES_RULE = f"/{API_VERSION}/Accounts/<account_sid>/Messages.json"
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 1000

# Twilio's own error codes for the failures the fake can produce.
AUTHENTICATE = 20003
NOT_FOUND = 20404
INVALID_PARAMETER = 20001
TO_REQUIRED = 21604
FROM_REQUIRED = 21603
BODY_REQUIRED = 21602
UNSUBSCRIBED_RECIPIENT = 21610


@dataclass(frozen=True)
class ScriptedFailure:
    """An error response the server gives instead of handling the next request."""

    status: int
    code: int
    message: str


@dataclass(frozen=True)
class Arrival:
    """One accepted text and the moment it reached the server (on the machine's monotonic clock,
    which every process shares, so tests can order it against what other processes did)."""

    to: str
    body: str
    monotonic: float


@dataclass(frozen=True)
class StatusReport:
    """A status callback the server posted, and what the app answered (0: no answer)."""

    url: str
    sid: str
    status: str
    answered: int


# What a handset reports after a text is accepted, in the order Twilio posts it.
DELIVERY_STATUSES = ("sent", "delivered")


@dataclass(frozen=True)
class _StoredMessage:
    resource: dict[str, Any]
    date_sent: datetime


class FakeTwilioServer:
    """Twilio's Messages API (create and list) served from a daemon thread on 127.0.0.1."""

    def __init__(
        self,
        account_sid: str = "AC" + "0" * 32,
        auth_token: str = "secret",
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.clock = clock
        self.opted_out: set[str] = set()  # numbers that answer 21610, as after a STOP
        # Post signed status callbacks (sent, delivered) to a text's StatusCallback, as Twilio
        # does; numbers in `undeliverable` get "undelivered" (error 30003) instead.
        self.report_delivery = True
        self.undeliverable: set[str] = set()
        self._reports: list[StatusReport] = []
        self._to_report: queue.Queue[tuple[str, dict[str, str]] | None] = queue.Queue()
        self._reports_changed = threading.Condition()
        self._reporter: threading.Thread | None = None
        self.delay_seconds = 0.0  # added before each response leaves, after the work is done
        self.latency_seconds = 0.0  # the network's: before a request reaches "Twilio" at all
        self._answers_released = threading.Event()
        self._answers_released.set()
        # An outage: until its clock reaches `down_until`, every request gets `down_status`.
        self.down_until: datetime | None = None
        self.down_status = 503
        self.answered_down = 0  # requests answered with the outage's error
        self._lock = threading.Lock()
        self._received: list[dict[str, Any]] = []
        self._arrivals: list[Arrival] = []
        self._stored: list[_StoredMessage] = []
        self._failures: deque[ScriptedFailure] = deque()
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None
        self._open_connections = 0
        self._connections_changed = threading.Condition(self._lock)
        self.app = self._build_app()

    # -- what tests use -------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """Where the server listens, e.g. "http://127.0.0.1:54321"."""
        if self._server is None:
            raise RuntimeError("FakeTwilioServer is not running; use it as a context manager")
        return f"http://127.0.0.1:{self._server.server_port}"

    @property
    def messages(self) -> list[dict[str, Any]]:
        """A snapshot of the accepted create requests: form params (MediaUrl a list) plus "sid"."""
        with self._lock:
            return [dict(params) for params in self._received]

    @property
    def arrivals(self) -> list[Arrival]:
        """When each accepted text reached the server (time.monotonic), in order of arrival."""
        with self._lock:
            return list(self._arrivals)

    @property
    def status_reports(self) -> list[StatusReport]:
        """The status callbacks posted so far, in order."""
        with self._reports_changed:
            return list(self._reports)

    def wait_for_reports(self, count: int, timeout: float = 60.0) -> list[StatusReport]:
        """Wait until `count` status callbacks have been posted (and answered or refused)."""
        with self._reports_changed:
            if not self._reports_changed.wait_for(lambda: len(self._reports) >= count, timeout):
                raise TimeoutError(f"{len(self._reports)} status callbacks, not {count}")
            return list(self._reports)

    def fail_next(
        self, *, status: int, code: int | None = None, message: str | None = None
    ) -> None:
        """Answer the next request with this error instead; queued failures are used in order."""
        # Twilio's generic HTTP errors are 20000 + status (20429 Too Many Requests, 20500 …).
        failure = ScriptedFailure(
            status=status,
            code=code if code is not None else 20000 + status,
            message=message or f"Scripted failure (HTTP {status})",
        )
        with self._lock:
            self._failures.append(failure)

    def hold_answers(self) -> None:
        """Do the work of each request but keep its answer until release_answers().

        A client's read timeout then fires for certain, however busy the machine is, while
        "Twilio" has the text: the case reconciliation exists for.
        """
        self._answers_released.clear()

    def release_answers(self) -> None:
        """Let held and later answers go."""
        self._answers_released.set()

    def wait_until_idle(self, timeout: float = 60.0) -> None:
        """Wait until every connection made so far has been served and closed.

        After a client process is killed, this is the moment its last request has surely been
        handled (or refused): what the server holds then is all it will ever get from it.
        """
        # Connections are accepted in order: once this request is answered, every connection
        # opened before it has been accepted, and counted.
        with contextlib.suppress(urllib.error.HTTPError):
            urllib.request.urlopen(f"{self.base_url}/", timeout=timeout).close()
        with self._connections_changed:
            if not self._connections_changed.wait_for(
                lambda: self._open_connections == 0, timeout=timeout
            ):
                raise TimeoutError(f"{self._open_connections} connections still open")

    def go_down(self, until: datetime, *, status: int = 503) -> None:
        """Answer every request with HTTP `status` until the server's clock reaches `until`."""
        with self._lock:
            self.down_until, self.down_status = until, status

    def start(self, port: int = 0) -> Self:
        """Start serving on `port` (0: a free one)."""
        self._server = _CountingServer("127.0.0.1", port, self.app, self._count_connection)
        # A short poll interval keeps shutdown() quick, so each test pays milliseconds for it.
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.01},
            name="fake-twilio",
            daemon=True,
        )
        self._thread.start()
        self._reporter = threading.Thread(
            target=self._report_statuses, name="fake-twilio-status", daemon=True
        )
        self._reporter.start()
        return self

    def _count_connection(self, change: int) -> None:
        with self._connections_changed:
            self._open_connections += change
            if change < 0:
                self._connections_changed.notify_all()

    def stop(self) -> None:
        """Stop serving and free the port."""
        self.release_answers()  # no handler may keep shutdown waiting
        if self._server is not None and self._thread is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join()
        self._server = self._thread = None
        if self._reporter is not None:
            self._to_report.put(None)
            self._reporter.join()
            self._reporter = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- the HTTP side --------------------------------------------------------------------------

    def _build_app(self) -> Flask:
        app = Flask(__name__)
        app.before_request(self._gatekeep)
        app.after_request(self._delay)
        app.add_url_rule(MESSAGES_RULE, "create_message", self._create_message, methods=["POST"])
        app.add_url_rule(MESSAGES_RULE, "list_messages", self._list_messages, methods=["GET"])
        return app

    def _gatekeep(self) -> Response | None:
        """Authenticate, check the account in the URL, then play any scripted failure."""
        if self.latency_seconds > 0:
            time.sleep(self.latency_seconds)
        auth = request.authorization
        if auth is None or (auth.username, auth.password) != (self.account_sid, self.auth_token):
            return _error(401, AUTHENTICATE, "Authenticate")
        if (request.view_args or {}).get("account_sid") != self.account_sid:
            return _error(404, NOT_FOUND, f"The requested resource {request.path} was not found")
        with self._lock:
            if self.down_until is not None and self.clock() < self.down_until:
                self.answered_down += 1
                status = self.down_status
                return _error(status, 20000 + status, f"Service unavailable (HTTP {status})")
            failure = self._failures.popleft() if self._failures else None
        if failure is not None:
            return _error(failure.status, failure.code, failure.message)
        return None

    def _delay(self, response: Response) -> Response:
        if self.delay_seconds > 0:
            time.sleep(self.delay_seconds)
        self._answers_released.wait()
        return response

    def _create_message(self, account_sid: str) -> Response:
        # The moment the text reached "Twilio": a phone could get it from here on.
        arrived_at = time.monotonic()
        form = request.form
        to, body, media_urls = form.get("To"), form.get("Body"), form.getlist("MediaUrl")
        sender, service_sid = form.get("From"), form.get("MessagingServiceSid")
        if not to:
            return _error(400, TO_REQUIRED, "A 'To' phone number is required.")
        if not sender and not service_sid:
            return _error(400, FROM_REQUIRED, "A 'From' phone number is required.")
        if not body and not media_urls:
            return _error(400, BODY_REQUIRED, "Message body is required.")
        if to in self.opted_out:
            return _error(400, UNSUBSCRIBED_RECIPIENT, "Attempt to send to unsubscribed recipient")

        sid = "SM" + uuid.uuid4().hex
        now = self.clock()
        uri = f"/{API_VERSION}/Accounts/{account_sid}/Messages/{sid}.json"
        resource: dict[str, Any] = {
            "account_sid": account_sid,
            "api_version": API_VERSION,
            "body": body or "",
            "date_created": format_datetime(now),
            "date_updated": format_datetime(now),
            # The fake hands texts over at once, so DateSent filters see every message.
            "date_sent": format_datetime(now),
            "direction": "outbound-api",
            "error_code": None,
            "error_message": None,
            # Through a messaging service Twilio picks the sender later and says "accepted".
            "from": sender,
            "messaging_service_sid": service_sid,
            "num_media": str(len(media_urls)),
            "num_segments": str(count_segments(body or "").segments),
            "price": None,
            "price_unit": "USD",
            "sid": sid,
            "status": "queued" if sender else "accepted",
            "subresource_uris": {"media": uri.removesuffix(".json") + "/Media.json"},
            "to": to,
            "uri": uri,
        }
        params = {key: form.getlist(key) if key == "MediaUrl" else form[key] for key in form}
        with self._lock:
            self._received.append({**params, "sid": sid})
            self._arrivals.append(Arrival(to=to, body=body or "", monotonic=arrived_at))
            self._stored.append(_StoredMessage(resource=resource, date_sent=now))
        callback = form.get("StatusCallback")
        if callback and self.report_delivery:
            self._queue_reports(callback, sid, to, sender or "")
        return _json(201, resource)

    # -- status callbacks -----------------------------------------------------------------------

    def _queue_reports(self, url: str, sid: str, to: str, sender: str) -> None:
        """Queue the callbacks of one text; a thread posts them after the create is answered."""
        statuses = ("undelivered",) if to in self.undeliverable else DELIVERY_STATUSES
        for status in statuses:
            form = status_callback_form(self.account_sid, sid, status, sender=sender, to=to)
            if status == "undelivered":
                form["ErrorCode"] = "30003"  # Twilio's "unreachable destination handset"
            self._to_report.put((url, form))

    def _report_statuses(self) -> None:
        """Post queued callbacks one at a time, in order, signed with the auth token."""
        while (item := self._to_report.get()) is not None:
            url, form = item
            answered = _post_signed(url, form, self.auth_token)
            with self._reports_changed:
                self._reports.append(
                    StatusReport(url, form["MessageSid"], form["MessageStatus"], answered)
                )
                self._reports_changed.notify_all()

    def _list_messages(self, account_sid: str) -> Response:
        args = request.args
        try:
            page = int(args.get("Page", 0))
            page_size = min(int(args.get("PageSize", DEFAULT_PAGE_SIZE)), MAX_PAGE_SIZE)
            sent_after = _parse_date_filter(args.get("DateSent>"))
        except ValueError as exc:
            return _error(400, INVALID_PARAMETER, f"Invalid filter or paging parameter: {exc}")
        if page < 0 or page_size < 1:
            return _error(400, INVALID_PARAMETER, "Page must be >= 0 and PageSize >= 1")

        with self._lock:
            stored = list(self._stored)
        matches = [
            message.resource
            for message in reversed(stored)  # Twilio lists the newest first
            if args.get("To") in (None, message.resource["to"])
            and args.get("From") in (None, message.resource["from"])
            and (sent_after is None or message.date_sent >= sent_after)
        ]
        start = page * page_size
        records = matches[start : start + page_size]
        filters = {key: args[key] for key in ("To", "From", "DateSent>") if key in args}
        path = f"/{API_VERSION}/Accounts/{account_sid}/Messages.json"

        def page_uri(number: int) -> str:
            return f"{path}?{urlencode({**filters, 'PageSize': page_size, 'Page': number})}"

        has_next = start + page_size < len(matches)
        return _json(
            200,
            {
                "messages": records,
                "page": page,
                "page_size": page_size,
                "start": start,
                "end": start + max(len(records) - 1, 0),
                "uri": page_uri(page),
                "first_page_uri": page_uri(0),
                "next_page_uri": page_uri(page + 1) if has_next else None,
                "previous_page_uri": page_uri(page - 1) if page > 0 else None,
            },
        )


def _parse_date_filter(value: str | None) -> datetime | None:
    """Read a DateSent filter: "YYYY-MM-DD" or "YYYY-MM-DDThh:mm:ssZ", in UTC."""
    if value is None:
        return None
    for pattern in ("%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%d"):
        try:
            return datetime.strptime(value, pattern).replace(tzinfo=UTC)
        except ValueError:
            continue
    raise ValueError(f"DateSent> {value!r} is not YYYY-MM-DD or YYYY-MM-DDThh:mm:ssZ")


def _post_signed(url: str, form: dict[str, str], auth_token: str) -> int:
    """POST a form as Twilio does (X-Twilio-Signature); the HTTP status, 0 when unreachable."""
    try:
        with urllib.request.urlopen(signed_request(url, form, auth_token), timeout=10) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as error:
        log.warning("status callback to %s answered %s", url, error.code)
        return error.code
    except (OSError, ValueError) as error:
        log.warning("status callback to %s failed: %s", url, error)
        return 0


def _json(status: int, payload: dict[str, Any]) -> Response:
    response = jsonify(payload)
    response.status_code = status
    return response


def _error(status: int, code: int, message: str) -> Response:
    """Twilio's error body, which the client turns into a TwilioRestException."""
    return _json(
        status,
        {
            "code": code,
            "message": message,
            "more_info": f"https://www.twilio.com/docs/errors/{code}",
            "status": status,
        },
    )


def main(argv: list[str] | None = None) -> None:
    """`python -m bot.twilio.fake_server`: a local stand-in for Twilio to try sends against."""
    import argparse
    import time

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument("--account-sid", default="AC" + "0" * 32)
    parser.add_argument("--auth-token", default="secret")
    args = parser.parse_args(argv)
    server = FakeTwilioServer(args.account_sid, args.auth_token).start(args.port)
    print(
        f"Fake Twilio on {server.base_url}: set TWILIO_API_URL={server.base_url} "
        f"TWILIO_ACCOUNT_SID={args.account_sid} TWILIO_AUTH_TOKEN={args.auth_token} "
        "TWILIO_FROM=+15005550006. Ctrl-C stops it.",
        flush=True,
    )
    shown = reported = 0
    try:
        while True:
            time.sleep(0.5)
            for message in server.messages[shown:]:
                print(f"{message['sid']} to {message.get('To')}: {message.get('Body')}", flush=True)
            shown = len(server.messages)
            for report in server.status_reports[reported:]:
                answer = report.answered or "no answer"
                print(f"{report.sid} {report.status} -> {report.url} ({answer})", flush=True)
                reported += 1
    except KeyboardInterrupt:
        server.stop()


if __name__ == "__main__":
    main()

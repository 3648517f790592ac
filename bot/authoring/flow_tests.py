"""`bot flows test`: run the scripted conversations flow files carry, on a scratch database.

The script drives the real conversation service (keywords, flows, send policy, timers) with a fake
clock and a fake gateway, and answers `http` steps' calls from its `http:` lines (no network), so
a test shows what a phone would see.
"""

from __future__ import annotations

import json
import re
import uuid
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select, update

from bot.authoring.scratch import ScratchDatabases
from bot.domain.http_calls import HttpReply, HttpRequest
from bot.domain.inbound import InboundSms
from bot.domain.vocabulary import SubscriberStatus
from bot.domain.yamlsource import LocatedDict, LocatedList, YamlError, load_yaml
from bot.engine.durations import DurationError, parse_duration
from bot.engine.parser import ParsedFile
from bot.engine.problems import Problem, did_you_mean
from bot.sending.gateways.fake import FakeGateway
from bot.services import Services, build_services
from bot.settings import Settings
from bot.store.db import transaction
from bot.store.subscribers import claim_subscriber
from bot.store.tables import ANSWERS, SUBSCRIBERS
from bot.testing.clock import FakeClock, let_time_pass

TEST_PHONE = "+14155550123"
# 10:00 in San Francisco on a Monday: inside everyone's sending hours.
DEFAULT_START = datetime(2026, 1, 5, 18, 0, tzinfo=UTC)
LINE_KINDS = ("user", "bot", "wait", "event", "expect", "http")
HTTP_STUB_KEYS = ("url", "method", "status", "json", "timeout")


@dataclass(frozen=True)
class ScriptOutcome:
    """One scripted conversation's result."""

    file: str
    line: int
    name: str
    failures: tuple[str, ...] = ()

    @property
    def passed(self) -> bool:
        return not self.failures

    def __str__(self) -> str:
        head = f"{'PASS' if self.passed else 'FAIL'} {self.file}:{self.line}: {self.name}"
        return "\n".join([head, *(f"    {failure}" for failure in self.failures)])


@dataclass
class _Script:
    name: str
    line: int
    subscriber: dict[str, Any]
    start: datetime
    lines: list[tuple[str, Any, int]] = field(default_factory=list)


class ScriptError(ValueError):
    """A test script is malformed; names the line."""

    def __init__(self, message: str, line: int) -> None:
        super().__init__(message)
        self.line = line


class TestsFileError(ValueError):
    """A `<name>.tests.yaml` cannot be read; names that file, not the flow's."""

    def __init__(self, file: Path, message: str, line: int, column: int = 0) -> None:
        super().__init__(message)
        self.problem = Problem(str(file), line, message, column=column)


def tests_of(parsed: ParsedFile) -> tuple[Path | None, Any]:
    """The tests of a flow file: its own `tests:` or a sibling `<name>.tests.yaml`.

    Raises TestsFileError when the sibling is no YAML or holds no `tests:`.
    """
    path = Path(parsed.file)
    sibling = path.with_name(f"{path.stem}.tests.yaml")
    if parsed.flow is not None and parsed.flow.tests is not None:
        return path, parsed.flow.tests
    if not sibling.is_file():
        return None, None
    try:
        document = load_yaml(sibling.read_text(encoding="utf-8"))
    except YamlError as error:
        raise TestsFileError(sibling, error.message, error.line, error.column) from None
    except (OSError, UnicodeDecodeError) as error:
        raise TestsFileError(sibling, f"cannot read the file: {error}", 1) from None
    if not isinstance(document, LocatedDict) or "tests" not in document:
        keys = document if isinstance(document, LocatedDict) else ()
        hint = did_you_mean(next(iter(keys), ""), ["tests"]) if keys else ""
        raise TestsFileError(sibling, f"a tests file holds `tests:`, a list of scripts{hint}", 1)
    return sibling, document["tests"]


def check_tests(parsed: ParsedFile) -> list[Problem]:
    """What is wrong with a flow's scripts as written, each against the file that holds it."""
    try:
        source, tests = tests_of(parsed)
    except TestsFileError as error:
        return [error.problem]
    if source is None:
        return []
    if not isinstance(tests, LocatedList):
        return [Problem(str(source), 1, "tests must be a list of scripts")]
    problems = []
    for node, line in zip(tests, tests.item_lines, strict=True):
        try:
            _script(node, line)
        except ScriptError as error:
            problems.append(Problem(str(source), error.line, f"tests: {error}"))
    return problems


class FlowTestRunner:
    """Runs scripts against fresh copies of one migrated scratch database."""

    def __init__(self, flows_dir: Path, settings: Settings) -> None:
        self.flows_dir = flows_dir
        self.base_settings = settings
        self.scratch = ScratchDatabases("parley-flow-tests-")

    def close(self) -> None:
        self.scratch.close()

    def run_file(self, parsed: ParsedFile) -> Iterator[ScriptOutcome]:
        """Run every script of one flow file."""
        try:
            source, tests = tests_of(parsed)
        except TestsFileError as error:
            problem = error.problem
            yield ScriptOutcome(problem.file, problem.line, "tests", (problem.message,))
            return
        if tests is None:
            return
        file = str(source)
        if not isinstance(tests, LocatedList):
            yield ScriptOutcome(file, 1, "tests", ("tests must be a list of scripts",))
            return
        for node, line in zip(tests, tests.item_lines, strict=True):
            try:
                script = _script(node, line)
            except ScriptError as error:
                yield ScriptOutcome(file, error.line, "(malformed test)", (str(error),))
                continue
            yield ScriptOutcome(file, script.line, script.name, tuple(self._run(script)))

    def _run(self, script: _Script) -> Iterator[str]:
        database = self.scratch.fresh()
        clock = FakeClock(script.start)
        gateway = FakeGateway()
        settings = self.base_settings.model_copy(
            update={"DATABASE_URL": f"sqlite:///{database}", "FLOWS_DIR": self.flows_dir}
        )
        http = ScriptedHttp()
        services = build_services(settings, gateway=gateway, clock=clock, http=http, paced=False)
        try:
            _prepare_subscriber(services, script.subscriber)
            yield from _Conversation(services, clock, gateway, http).play(script.lines)
        finally:
            services.db.dispose()
            database.unlink(missing_ok=True)


@dataclass(frozen=True)
class HttpStub:
    """An `http:` line: what the next call answers, and what it must look like."""

    line: int
    reply: HttpReply | None  # None: no answer, the call times out
    url: str | None = None  # exact, or /regex/
    method: str | None = None


class ScriptedHttp:
    """Answers http steps' calls from a script's `http:` lines, in order, with no network."""

    def __init__(self) -> None:
        self.waiting: deque[HttpStub] = deque()
        # What went wrong, with the http: line it concerns (None: the line that led to a call).
        self.problems: list[tuple[int | None, str]] = []

    def call(self, request: HttpRequest) -> HttpReply:
        called = f"{request.method} {request.url}"
        if not self.waiting:
            self.problems.append(
                (
                    None,
                    f"the flow called {called}, but no http: line answers it "
                    "(write one before the line that leads to the call)",
                )
            )
            return HttpReply.failed("the test script has no http: answer for this call")
        stub = self.waiting.popleft()
        if stub.url is not None and not _matches(stub.url, request.url):
            self.problems.append(
                (stub.line, f"expected a call to {stub.url!r}\n      got: {called}")
            )
        if stub.method is not None and stub.method.upper() != request.method:
            self.problems.append((stub.line, f"expected a {stub.method.upper()}, got: {called}"))
        return stub.reply or HttpReply.timed_out(request.timeout)


class _Conversation:
    def __init__(
        self, services: Services, clock: FakeClock, gateway: FakeGateway, http: ScriptedHttp
    ) -> None:
        self.services = services
        self.clock = clock
        self.gateway = gateway
        self.http = http
        self.heard: list[str] = []  # bot texts not yet matched by a `bot:` line
        self.seen = 0  # how many of the gateway's texts are already in `heard`

    def play(self, lines: list[tuple[str, Any, int]]) -> Iterator[str]:
        for kind, value, line in lines:
            if kind not in {"bot", "expect", "http"} and self.heard:
                yield f"line {line}: unexpected bot text before this line: {self.heard[0]!r}"
                self.heard.clear()
            if kind == "http":
                self.http.waiting.append(value)
            elif kind == "user":
                self._user(str(value))
            elif kind == "wait":
                self._wait(value)
            elif kind == "event":
                self._event(value)
            elif kind == "bot":
                failure = self._expect_bot(value, line)
                if failure:
                    yield failure
            elif kind == "expect":
                yield from self._expect_state(value, line)
            for stub_line, problem in self.http.problems:
                yield f"line {stub_line or line}: {problem}"
            self.http.problems.clear()
        for text in self.heard:
            yield f"end of script: unexpected bot text {text!r}"
        for stub in self.http.waiting:
            yield f"line {stub.line}: no call took this http: answer"

    def _user(self, text: str) -> None:
        sms = InboundSms(message_sid=f"SMtest{uuid.uuid4().hex}", from_phone=TEST_PHONE, body=text)
        result = self.services.conversations.handle_inbound(sms)
        self.heard.extend(reply.body for reply in result.replies)
        self.services.conversations.after_answer(result, self._send)

    def _wait(self, duration: timedelta) -> None:
        let_time_pass(self.services, self.clock, duration)
        self._collect()

    def _event(self, event: dict[str, Any]) -> None:
        outcome = self.services.conversations.handle_event(TEST_PHONE, event["type"], event["data"])
        self._send(outcome.message_ids)

    def _send(self, message_ids: list[int]) -> None:
        self.services.dispatcher.send(message_ids)
        self._collect()

    def _collect(self) -> None:
        """What the gateway sent since we last looked (policy-held texts never get there)."""
        self.heard.extend(text.body for text in self.gateway.outbox[self.seen :])
        self.seen = len(self.gateway.outbox)

    def _expect_bot(self, expected: str, line: int) -> str | None:
        if not self.heard:
            return f"line {line}: expected bot text {expected!r}, but the bot said nothing"
        got = self.heard.pop(0)
        if _matches(expected, got):
            return None
        return f"line {line}: expected bot text {expected!r}\n      got: {got!r}"

    def _expect_state(self, expected: dict[str, Any], line: int) -> Iterator[str]:
        with self.services.db.connect() as connection:
            subscriber = connection.execute(
                select(SUBSCRIBERS.c.status, SUBSCRIBERS.c.attributes, SUBSCRIBERS.c.tags).where(
                    SUBSCRIBERS.c.phone == TEST_PHONE
                )
            ).one()
            answers = {
                answer.name: answer.value
                for answer in connection.execute(
                    select(ANSWERS.c.name, ANSWERS.c.value)
                    .where(ANSWERS.c.phone == TEST_PHONE)
                    .order_by(ANSWERS.c.id)
                )
            }
            actual = {
                "status": str(subscriber.status),
                "attributes": subscriber.attributes,
                "tags": subscriber.tags,
                "answers": answers,
            }
        for key, value in expected.items():
            got = actual.get(key)
            if isinstance(value, dict) and isinstance(got, dict):
                wrong = {k: v for k, v in value.items() if got.get(k) != v}
                if wrong:
                    shown = {k: got.get(k) for k in wrong}
                    yield f"line {line}: expected {key} {wrong}, got {shown}"
            elif got != value:
                yield f"line {line}: expected {key} {value!r}, got {got!r}"


def _matches(expected: str, got: str) -> bool:
    if len(expected) >= 2 and expected.startswith("/") and expected.endswith("/"):
        return re.search(expected[1:-1], got) is not None
    return expected.strip() == got.strip()


def _prepare_subscriber(services: Services, spec: dict[str, Any]) -> None:
    if not spec:
        return
    now = services.conversations.clock()
    with transaction(services.db) as connection:
        subscriber = claim_subscriber(connection, TEST_PHONE, now)
        connection.execute(
            update(SUBSCRIBERS)
            .where(SUBSCRIBERS.c.id == subscriber.id)
            .values(
                status=SubscriberStatus(spec.get("status", "new")),
                first_name=spec.get("first_name"),
                attributes=dict(spec.get("attributes", {})),
                tags=list(spec.get("tags", [])),
                updated_at=now,
            )
        )


def _script(node: Any, line: int) -> _Script:
    if not isinstance(node, LocatedDict) or "conversation" not in node:
        raise ScriptError("a test needs a name and a conversation: list", line)
    unknown = set(node) - {"name", "conversation", "subscriber", "start"}
    if unknown:
        raise ScriptError(f"unknown key {sorted(unknown)[0]!r} in a test", line)
    subscriber = node.get("subscriber") or {}
    if not isinstance(subscriber, dict):
        raise ScriptError("subscriber must be a mapping", node.line_of("subscriber"))
    status = subscriber.get("status", "new")
    if status not in {s.value for s in SubscriberStatus}:
        raise ScriptError(
            f"subscriber status {status!r} is not one of new, pending, subscribed, unsubscribed",
            node.line_of("subscriber"),
        )
    script = _Script(
        str(node.get("name", f"test at line {line}")), line, dict(subscriber), _start(node)
    )
    conversation = node["conversation"]
    if not isinstance(conversation, LocatedList):
        raise ScriptError(
            "conversation must be a list of user:/bot: lines", node.line_of("conversation")
        )
    for item, item_line in zip(conversation, conversation.item_lines, strict=True):
        script.lines.append(_line(item, item_line))
    return script


def _start(node: LocatedDict) -> datetime:
    raw = node.get("start")
    if raw is None:
        return DEFAULT_START
    try:
        moment = raw if isinstance(raw, datetime) else datetime.fromisoformat(str(raw))
    except ValueError:
        raise ScriptError(
            f"start {raw!r} is not a date and time like 2026-01-05 18:00", node.line_of("start")
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _line(item: Any, line: int) -> tuple[str, Any, int]:
    if not isinstance(item, dict) or len(item) != 1:
        raise ScriptError(
            "each conversation line is one of user:, bot:, wait:, event:, expect:", line
        )
    ((kind, value),) = item.items()
    if kind not in LINE_KINDS:
        raise ScriptError(f"unknown conversation line {kind!r} (use {', '.join(LINE_KINDS)})", line)
    if kind == "wait":
        try:
            return kind, parse_duration(value), line
        except DurationError as error:
            raise ScriptError(f"wait: {error}", line) from None
    if kind == "event":
        if isinstance(value, str):
            value = {"type": value}
        if not isinstance(value, dict) or "type" not in value:
            raise ScriptError("event needs a type, e.g. event: order_placed", line)
        return kind, {"type": str(value["type"]), "data": dict(value.get("data") or {})}, line
    if kind == "http":
        return kind, _http_stub(value, line), line
    if kind == "expect":
        if not isinstance(value, dict):
            raise ScriptError("expect takes a mapping: status, attributes, tags, answers", line)
        return kind, dict(value), line
    if value is None:
        raise ScriptError(f"{kind}: needs a text", line)
    return kind, str(value), line


def _http_stub(value: Any, line: int) -> HttpStub:
    """`http: timeout`, or `http: {status: 200, json: {…}}` with an optional url and method."""
    if value == "timeout":
        return HttpStub(line, None)
    if not isinstance(value, dict) or not set(value) <= set(HTTP_STUB_KEYS):
        raise ScriptError(
            "http takes timeout, or a mapping of status and json (and url, method to check the "
            "call), e.g. http: {status: 200, json: {order: {status: shipped}}}",
            line,
        )
    status = value.get("status", 200)
    if isinstance(status, bool) or not isinstance(status, int) or not 100 <= status <= 599:
        raise ScriptError(f"http: status {status!r} is not an HTTP status such as 200", line)
    try:  # what a URL could answer: plain JSON
        document = json.loads(json.dumps(value["json"])) if "json" in value else None
    except (TypeError, ValueError):
        raise ScriptError("http: json must be plain JSON (quote dates and times)", line) from None
    url, method = value.get("url"), value.get("method")
    reply = None if value.get("timeout") else HttpReply(status, document, is_json="json" in value)
    return HttpStub(line, reply, None if url is None else str(url), method and str(method))

"""`http`: call a URL (your shop, your CRM) and save fields of its JSON answer.

```yaml
- id: lookup
  http:
    method: POST                  # GET (the default) or POST
    url: "https://shop.example/api/orders?phone={phone}"
    headers:
      Authorization: "Bearer ${SHOP_TOKEN}"    # ${NAME}: an environment variable
    body: {phone: "{phone}", order: "{event.order_id}"}    # POST only: JSON, with templates
    timeout: 5s                   # 1s to 30s (default 5s)
    save:                         # answers of this flow, as an ask step saves them
      status: order.status        # name: a field of the JSON answer
      eta: order.eta
    save_attributes:              # kept on the subscriber, for every flow
      tier: customer.tier
  on_failure: sorry               # no answer, not 2xx, not JSON, a field missing
- send: "Your order is {status}, due {eta}."
```
The call goes out once the turn is stored (the person's text answered), with no database
transaction waiting on it; the flow goes on when the answer comes. It succeeds on a 2xx answer
within the timeout, of at most 1 MB, holding every field `save` and `save_attributes` name: a
dotted path such as `order.status`, where a number picks a list's item (`items.0.sku`); JSON's
null is a value. Anything else goes to `on_failure`, or ends the flow when there is none, and
the log says why.
If Parley restarts while the call is out, it is made again two minutes later (three calls at
most, then `on_failure`): make a POST safe to repeat.

**Values in URLs.** Write the scheme and host out (`https://shop.example/…`). Each value filled
into the URL is percent-encoded, so a person's answer fills one path segment or one query
value and can never change the server, the path or the parameters. In a body, a value that is
one placeholder alone (`"{order_total}"`) keeps its type, a number stays a number; anything else
is text.

**Secrets.** Header values name environment variables as `${NAME}` (only there: URLs land in
logs), read when the call is made, from the environment or the `.env` file.
Parley's own settings (`TWILIO_AUTH_TOKEN`, `DATABASE_URL` …) are refused. A variable that is
not set fails the call; `bot flows check` warns about it, and about a secret written out in a
header. Up to 3 redirects are followed; one to another host drops the headers.

Who chooses the URL is whoever edits the flow files: Parley calls any address they write,
including ones inside your network, so review flow changes as you review code. People's
values only ever fill parts of it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from bot.domain.effects import CallHttp, FlowEffect
from bot.domain.http_calls import SECRET_REFERENCE, HeaderValue, HttpReply, HttpRequest, Secret
from bot.domain.vocabulary import TimerKind
from bot.engine.durations import format_duration
from bot.engine.expressions import lookup
from bot.engine.inputs import HttpAnswered, Input
from bot.engine.json_paths import MISSING, JsonPath, JsonPathError, parse_json_path, read_json_path
from bot.engine.problems import FlowFileError
from bot.engine.state import Waiting
from bot.engine.steps.base import Finish, Next, Pause, StepReader, Transition
from bot.engine.steps.calls import CallingStep
from bot.engine.templates import Template, TemplateError, format_value, parse_template

if TYPE_CHECKING:
    from bot.engine.runtime import Run

METHODS = ("GET", "POST")
DEFAULT_TIMEOUT = timedelta(seconds=5)
MIN_TIMEOUT = timedelta(seconds=1)
# The call holds one of a few action threads; and it must end well before ACTION_PATIENCE.
MAX_TIMEOUT = timedelta(seconds=30)
REQUEST_KEYS = ("method", "url", "headers", "body", "timeout", "save", "save_attributes")
# The scheme and host, written out before any placeholder: a value never picks the server.
_WRITTEN_HOST = re.compile(r"https?://[^/?#{}\s@]+(?=[/?#]|$)", re.IGNORECASE)
_HEADER_NAME = re.compile(r"[A-Za-z0-9!#$%&'*+.^_`|~-]+")

HeaderTemplate = tuple[Template | Secret, ...]
# A request body as written: JSON whose strings are templates.
BodyTemplate = (
    Template | int | float | bool | None | list["BodyTemplate"] | dict[str, "BodyTemplate"]
)


@dataclass(frozen=True)
class HttpStep(CallingStep):
    """Call a URL once the turn is stored, save fields of its answer, go on or to on_failure."""

    method: str
    url: Template
    headers: tuple[tuple[str, HeaderTemplate], ...] = ()
    body: BodyTemplate = None
    timeout: timedelta = DEFAULT_TIMEOUT
    save: tuple[tuple[str, JsonPath], ...] = ()
    save_attributes: tuple[tuple[str, JsonPath], ...] = ()
    on_failure: str | None = None

    kind = "http"
    keys = frozenset({"on_failure"})

    def jumps(self) -> Iterator[tuple[str, int]]:
        yield from super().jumps()
        if self.on_failure is not None:
            yield self.on_failure, self.line_of("on_failure")

    def defines(self) -> Iterator[str]:
        for name, _ in (*self.save, *self.save_attributes):
            yield name

    def data_templates(self) -> Iterator[tuple[Template, int]]:
        yield self.url, self.line
        for _, value in self.headers:
            yield from ((part, self.line) for part in value if isinstance(part, Template))
        yield from ((template, self.line) for template in _body_templates(self.body))

    def secrets(self) -> Iterator[Secret]:
        """The environment variables its headers name."""
        for _, value in self.headers:
            yield from (part for part in value if isinstance(part, Secret))

    def call(self, run: Run) -> FlowEffect:
        return CallHttp(self.id, self.request(run.variables()))

    def request(self, variables: Mapping[str, Any]) -> HttpRequest:
        """The call, filled in with the person's values."""
        return HttpRequest(
            method=self.method,
            url=self.url.render_encoded(variables, encode_url_value),
            headers=tuple((name, _header_value(value, variables)) for name, value in self.headers),
            body=_fill_body(self.body, variables),
            timeout=self.timeout.total_seconds(),
        )

    def read(self, reply: HttpReply) -> HttpAnswered:
        """What the answer gives the flow: the fields to save, or why the call failed."""
        failure = _failure(reply)
        if failure is not None:
            return HttpAnswered(self.id, failure=failure)
        if (self.save or self.save_attributes) and not reply.is_json:
            return HttpAnswered(self.id, failure=f"the answer (HTTP {reply.status}) is not JSON")
        answers, attributes = (
            {name: read_json_path(reply.document, path) for name, path in fields}
            for fields in (self.save, self.save_attributes)
        )
        missing = [
            ".".join(path)
            for values, fields in ((answers, self.save), (attributes, self.save_attributes))
            for name, path in fields
            if values[name] is MISSING
        ]
        if missing:
            return HttpAnswered(self.id, failure=f"the answer has no {', '.join(missing)}")
        return HttpAnswered(self.id, answers, attributes)

    def resume(self, run: Run, event: Input) -> Transition:
        if isinstance(event, HttpAnswered):
            run.cancel_timers(TimerKind.ACTION)
            if event.failure is not None:
                return self._failed()
            for name, value in event.answers.items():
                run.save_answer(self, name, value)
            if event.attributes:
                run.set_attributes(event.attributes)
            return Next()
        if self.is_guard(event):
            return self.call_again(run)
        return Pause(Waiting.ACTION)

    def never_answered(self, run: Run) -> Transition:
        return self._failed()

    def _failed(self) -> Transition:
        if self.on_failure is not None:
            return Next(self.on_failure)
        return Finish(f"http step {self.id} failed")


def encode_url_value(value: str) -> str:
    """A person's value as one inert piece of a URL: `/`, `?`, `&`, `#`, `@` encoded, and `.`
    and `..` too, which would otherwise climb the path."""
    if value in {".", ".."}:
        return value.replace(".", "%2E")
    return quote(value, safe="")


def _failure(reply: HttpReply) -> str | None:
    if reply.problem is not None:
        return reply.problem
    if reply.status is None or not 200 <= reply.status < 300:
        return f"the answer was HTTP {reply.status}"
    return None


def _header_value(value: HeaderTemplate, variables: Mapping[str, Any]) -> HeaderValue:
    return tuple(part if isinstance(part, Secret) else part.render(variables) for part in value)


def _fill_body(node: BodyTemplate, variables: Mapping[str, Any]) -> Any:
    if isinstance(node, Template):
        sole = node.sole_placeholder
        if sole is not None:  # "{order_total}": the value itself, a number stays a number
            return _json_value(lookup(variables, sole.path))
        return node.render(variables)
    if isinstance(node, dict):
        return {key: _fill_body(item, variables) for key, item in node.items()}
    if isinstance(node, list):
        return [_fill_body(item, variables) for item in node]
    return node


def _json_value(value: object) -> Any:
    """A value as JSON can carry it: what JSON lacks (a date, NaN) as it reads in a text."""
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(key): _json_value(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_json_value(item) for item in value]
    return format_value(value)


def _body_templates(node: BodyTemplate) -> Iterator[Template]:
    if isinstance(node, Template):
        yield node
    elif isinstance(node, dict):
        for item in node.values():
            yield from _body_templates(item)
    elif isinstance(node, list):
        for item in node:
            yield from _body_templates(item)


def parse(reader: StepReader) -> HttpStep:
    request = reader.mapping()
    inner = type(reader)(request, "http", reader.index)
    unknown = sorted(set(request) - set(REQUEST_KEYS))
    if unknown:
        raise inner.fail(
            f"http: unknown key {unknown[0]!r} (known: {', '.join(REQUEST_KEYS)})", unknown[0]
        )
    method = _method(inner)
    body = _body(inner) if "body" in request else None
    if body is not None and method == "GET":
        raise inner.fail("http: a GET sends no body; use method: POST", "body")
    return HttpStep(
        **reader.common(),
        method=method,
        url=_url(inner),
        headers=_headers(inner),
        body=body,
        timeout=_timeout(inner),
        save=_saves(inner, "save"),
        save_attributes=_saves(inner, "save_attributes"),
        on_failure=reader.name("on_failure"),
    )


def _method(reader: StepReader) -> str:
    method = reader.value("method", "GET")
    if not isinstance(method, str) or method.strip().upper() not in METHODS:
        raise reader.fail(f"http: method must be GET or POST, not {method!r}", "method")
    return method.strip().upper()


def _url(reader: StepReader) -> Template:
    if "url" not in reader.node:
        raise reader.fail('http needs a url, e.g. url: "https://shop.example/api/orders"')
    source = reader.text("url")
    assert source is not None
    source = source.strip()
    _refuse_secrets(reader, source, "url")
    if _WRITTEN_HOST.match(source) is None:
        raise reader.fail(
            "http: url must start with http:// or https:// and the server's name, written out "
            "(a value may fill the path or the query, never choose the server); no user:password@",
            "url",
        )
    return _template(reader, source, "url")


def _headers(reader: StepReader) -> tuple[tuple[str, HeaderTemplate], ...]:
    if "headers" not in reader.node:
        return ()
    headers: list[tuple[str, HeaderTemplate]] = []
    for name, value in reader.mapping("headers").items():
        if not _HEADER_NAME.fullmatch(name):
            raise reader.fail(f"http: {name!r} is not a header name", "headers")
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise reader.fail(f"http: header {name} needs a text value", "headers")
        headers.append((name, _header_template(reader, str(value))))
    return tuple(headers)


def _header_template(reader: StepReader, source: str) -> HeaderTemplate:
    """Text and `${NAME}` secrets; the text may hold `{…}` placeholders."""
    parts: list[Template | Secret] = []
    position = 0
    for match in SECRET_REFERENCE.finditer(source):
        parts.extend(_header_text(reader, source[position : match.start()]))
        parts.append(Secret(match.group(1)))
        position = match.end()
    parts.extend(_header_text(reader, source[position:]))
    return tuple(parts)


def _header_text(reader: StepReader, text: str) -> Iterator[Template]:
    if "${" in text:
        raise reader.fail(
            "http: write an environment variable as ${NAME}: letters, digits and _", "headers"
        )
    if text:
        yield _template(reader, text, "headers")


def _body(reader: StepReader) -> BodyTemplate:
    body = reader.value("body")
    if not isinstance(body, dict | list):
        raise reader.fail("http: body is JSON written as a mapping (key: value lines)", "body")
    return _body_node(reader, body)


def _body_node(reader: StepReader, node: Any) -> BodyTemplate:
    if isinstance(node, str):
        _refuse_secrets(reader, node, "body")
        return _template(reader, node, "body")
    if isinstance(node, dict):
        return {str(key): _body_node(reader, item) for key, item in node.items()}
    if isinstance(node, list):
        return [_body_node(reader, item) for item in node]
    if node is None or isinstance(node, bool | int):
        return node
    if isinstance(node, float) and math.isfinite(node):
        return node
    raise reader.fail(f"http: body: {node!r} is not a JSON value", "body")


def _timeout(reader: StepReader) -> timedelta:
    timeout = reader.duration("timeout", required=False) or DEFAULT_TIMEOUT
    if not MIN_TIMEOUT <= timeout <= MAX_TIMEOUT:
        raise reader.fail(
            f"http: timeout must be between {format_duration(MIN_TIMEOUT)} and "
            f"{format_duration(MAX_TIMEOUT)}, not {format_duration(timeout)}",
            "timeout",
        )
    return timeout


def _saves(reader: StepReader, key: str) -> tuple[tuple[str, JsonPath], ...]:
    if key not in reader.node:
        return ()
    saves = reader.mapping(key)
    fields: list[tuple[str, JsonPath]] = []
    for name, path in saves.items():
        if not name.isidentifier():
            raise reader.fail(f"http: {key}: {name!r} must be a single word like status", key)
        try:
            fields.append((name, parse_json_path(path)))
        except JsonPathError as error:
            raise FlowFileError(f"http: {key}: {name}: {error}", saves.line_of(name)) from None
    return tuple(fields)


def _refuse_secrets(reader: StepReader, source: str, key: str) -> None:
    if "${" in source:
        raise reader.fail(
            f"http: ${{…}} names an environment variable, which only headers may use "
            f"(a {key} ends up in logs)",
            key,
        )


def _template(reader: StepReader, source: str, key: str) -> Template:
    try:
        return parse_template(source)
    except TemplateError as error:
        raise reader.fail(f"http: {key}: {error.message}", key) from None

"""Where outbound webhooks go: WEBHOOK_URL, and the endpoints of `FLOWS_DIR/webhooks.yaml`.

```yaml
endpoints:
  - name: crm                      # letters, digits, - and _; names its deliveries
    url: https://crm.example.com/hooks/parley
    events: [subscriber.subscribed, subscriber.opted_out, subscriber.erased]
    secret_env: CRM_WEBHOOK_SECRET # the variable that holds the signing secret
  - name: warehouse
    url: https://data.example.com/parley
    events: ["*"]                  # every type ("subscriber.*": every subscriber event)
    secret_env: WAREHOUSE_WEBHOOK_SECRET
```
The file is in git; secrets are not: each endpoint names the environment variable holding its
secret. Every problem is reported as `file:line: message`.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from bot.domain.vocabulary import WebhookEventType
from bot.domain.yamlsource import LocatedDict, LocatedList
from bot.engine.problems import Problem, Severity, load_document

log = logging.getLogger(__name__)

WEBHOOKS_FILE = "webhooks.yaml"  # in FLOWS_DIR, beside the flows (not a flow itself)
ENV_ENDPOINT = "default"  # the name of the endpoint WEBHOOK_URL sets up
ENDPOINT_KEYS = frozenset({"name", "url", "events", "secret_env"})
ALL_EVENTS = frozenset(WebhookEventType)
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
_VARIABLE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_SHAPE = "a webhooks file holds `endpoints:`, a list of {name, url, events, secret_env}"


@dataclass(frozen=True)
class Endpoint:
    """One receiver: where to post, which event types, and the secret that signs them."""

    name: str
    url: str
    events: frozenset[WebhookEventType]
    secret: str = field(repr=False)

    def wants(self, event_type: str) -> bool:
        return event_type in self.events


@dataclass(frozen=True)
class Endpoints:
    """Every endpoint in force, by name."""

    by_name: Mapping[str, Endpoint] = field(default_factory=dict)

    def wanting(self, event_type: str) -> list[Endpoint]:
        """The endpoints that take events of this type, in name order."""
        return [endpoint for endpoint in self if endpoint.wants(event_type)]

    def __iter__(self) -> Iterator[Endpoint]:
        return iter(self.by_name[name] for name in sorted(self.by_name))

    def __len__(self) -> int:
        return len(self.by_name)


class WebhooksFileError(Exception):
    """The webhooks file (or WEBHOOK_URL's endpoint) cannot be used; every problem is listed."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("\n".join(str(problem) for problem in problems))
        self.problems = problems


def webhooks_file(flows_dir: Path) -> Path:
    return flows_dir / WEBHOOKS_FILE


def check_webhooks_file(flows_dir: Path, environ: Mapping[str, str] | None = None) -> list[Problem]:
    """Every problem of FLOWS_DIR's webhooks file (none when there is no file), for `bot flows
    check`: a secret variable unset here is a warning (the worker's environment may set it)."""
    path = webhooks_file(flows_dir)
    if not path.is_file():
        return []
    environ = os.environ if environ is None else environ
    return _read(path, environ, unset_secret=Severity.WARNING)[1]


def load_endpoints(
    flows_dir: Path,
    *,
    webhook_url: str | None = None,
    webhook_secret: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> Endpoints:
    """The endpoints in force; raises WebhooksFileError naming every problem's file and line."""
    environ = os.environ if environ is None else environ
    found: list[Endpoint] = []
    if webhook_url:
        if not webhook_secret:  # the settings refuse this; a caller without them is told too
            raise ValueError("WEBHOOK_URL needs WEBHOOK_SECRET to sign its events")
        found.append(Endpoint(ENV_ENDPOINT, webhook_url, ALL_EVENTS, webhook_secret))
    path = webhooks_file(flows_dir)
    if path.is_file():
        from_file, problems = _read(path, environ, unset_secret=Severity.ERROR)
        errors = [problem for problem in problems if problem.severity is Severity.ERROR]
        if errors:
            raise WebhooksFileError(errors)
        for endpoint, line in from_file:
            if endpoint.name == ENV_ENDPOINT and webhook_url:
                message = f"endpoint name {ENV_ENDPOINT!r} is WEBHOOK_URL's; choose another"
                raise WebhooksFileError([Problem(str(path), line, message)])
            found.append(endpoint)
    return Endpoints({endpoint.name: endpoint for endpoint in found})


def _read(
    path: Path, environ: Mapping[str, str], *, unset_secret: Severity
) -> tuple[list[tuple[Endpoint, int]], list[Problem]]:
    """The file's endpoints (with their lines) and its problems; a secret variable that is not
    set is a problem of `unset_secret`'s severity."""
    file = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        return [], [Problem(file, 1, f"cannot read: {error}")]
    document, problems = load_document(text, file, _SHAPE)
    if document is None:
        return [], problems
    unknown = sorted(set(document) - {"endpoints"})
    problems += [
        Problem(file, document.line_of(key), f"unknown key {key!r}; {_SHAPE}") for key in unknown
    ]
    listed = document.get("endpoints")
    if not isinstance(listed, LocatedList):
        problems.append(Problem(file, document.line_of("endpoints"), _SHAPE))
        return [], problems
    endpoints: list[tuple[Endpoint, int]] = []
    seen: dict[str, int] = {}
    for item, line in zip(listed, listed.item_lines, strict=True):
        if not isinstance(item, LocatedDict):
            problems.append(
                Problem(file, line, "an endpoint is a mapping: {name, url, events, secret_env}")
            )
            continue
        endpoint = _endpoint(file, item, environ, problems, unset_secret)
        if endpoint is None:
            continue
        if endpoint.name in seen:
            problems.append(
                Problem(
                    file,
                    item.line_of("name"),
                    f"endpoint {endpoint.name!r} is already defined on line {seen[endpoint.name]}",
                )
            )
            continue
        seen[endpoint.name] = item.line
        endpoints.append((endpoint, item.line))
    return endpoints, problems


def _endpoint(
    file: str,
    item: LocatedDict,
    environ: Mapping[str, str],
    problems: list[Problem],
    unset_secret: Severity,
) -> Endpoint | None:
    found = len(problems)

    def fail(key: str, message: str, severity: Severity = Severity.ERROR) -> None:
        problems.append(Problem(file, item.line_of(key), message, severity))

    for key in sorted(set(item) - ENDPOINT_KEYS):
        hint = (
            " (keep secrets out of git: name their variable with secret_env)"
            if key == "secret"
            else ""
        )
        fail(key, f"unknown key {key!r}{hint}")
    name, url, variable = item.get("name"), item.get("url"), item.get("secret_env")
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        fail("name", "an endpoint needs a name: letters, digits, - and _ (at most 64)")
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        fail("url", "url: must start with http:// or https://")
    events = _events(item.get("events"), lambda message: fail("events", message))
    secret = ""
    if not isinstance(variable, str) or not _VARIABLE.fullmatch(variable):
        fail("secret_env", "secret_env: the name of the environment variable holding the secret")
    else:
        secret = environ.get(variable, "").strip()
        if not secret:
            fail("secret_env", f"secret_env: the variable {variable} is not set", unset_secret)
    if len(problems) > found:
        return None
    assert isinstance(name, str) and isinstance(url, str)
    return Endpoint(name, url, events, secret)


def _events(written: object, fail: Callable[[str], None]) -> frozenset[WebhookEventType]:
    if not isinstance(written, list) or not written or not all(isinstance(x, str) for x in written):
        known = ", ".join(WebhookEventType)
        fail(f'events: a list of event types, "*" for all, or "subscriber.*" ({known})')
        return frozenset()
    chosen: set[WebhookEventType] = set()
    for pattern in written:
        matching = _matching(pattern)
        if not matching:
            fail(f"events: unknown event type {pattern!r}; known: {', '.join(WebhookEventType)}")
        chosen |= matching
    return frozenset(chosen)


def _matching(pattern: str) -> set[WebhookEventType]:
    if pattern == "*":
        return set(WebhookEventType)
    if pattern.endswith(".*"):
        prefix = pattern[:-1]
        return {kind for kind in WebhookEventType if kind.value.startswith(prefix)}
    return {kind for kind in WebhookEventType if kind.value == pattern}


class EndpointSource:
    """The endpoints in force for a long-running worker, read again when the file changes.

    A broken file is logged (file:line) and the last good endpoints stay in force, as with flows;
    with none good yet, `current()` is None and events wait unrouted until the file is fixed.
    """

    def __init__(
        self,
        flows_dir: Path,
        *,
        webhook_url: str | None = None,
        webhook_secret: str | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self.flows_dir = flows_dir
        self.webhook_url = webhook_url
        self.webhook_secret = webhook_secret
        self.environ = environ
        self._read = False
        self._text: str | None = None  # the file as last read (None: there was none)
        self._good: Endpoints | None = None
        self._lock = threading.Lock()

    def current(self) -> Endpoints | None:
        with self._lock:
            text = _text_of(webhooks_file(self.flows_dir))
            if not self._read or text != self._text:  # a small file: reading it is the check
                self._read, self._text = True, text
                self._load()
            return self._good

    def _load(self) -> None:
        try:
            endpoints = load_endpoints(
                self.flows_dir,
                webhook_url=self.webhook_url,
                webhook_secret=self.webhook_secret,
                environ=self.environ,
            )
        except WebhooksFileError as error:
            for problem in error.problems:
                log.error("webhooks not reloaded: %s", problem)
            if self._good is not None:
                log.warning("keeping the last good webhook endpoints: %s", _names(self._good))
            return
        self._good = endpoints
        log.info("webhook endpoints in force: %s", _names(endpoints))


def _names(endpoints: Iterable[Endpoint]) -> str:
    return ", ".join(f"{endpoint.name} ({endpoint.url})" for endpoint in endpoints) or "none"


def _text_of(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None

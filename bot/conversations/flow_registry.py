"""The flows in FLOWS_DIR, reloaded when files change; a broken file keeps its last good version."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from bot.domain.business_hours import HOURS_FILE, BusinessHours, check_hours_file
from bot.domain.http_calls import Secrets
from bot.domain.keywords import Vocabulary, normalise
from bot.domain.sending_rules import RULES_FILE
from bot.engine.checker import check_flow, check_flow_set
from bot.engine.conversation_labels import LABELS_FILE
from bot.engine.intents import IntentMatcher
from bot.engine.model import Flow
from bot.engine.offers import OFFERS_FILE, Offer, OffersFile, parse_offers
from bot.engine.parser import ParsedFile, read_flow_file
from bot.engine.problems import Problem, Severity
from bot.engine.saved_replies import REPLIES_FILE
from bot.webhooks.endpoints import WEBHOOKS_FILE

log = logging.getLogger(__name__)

FLOW_SUFFIXES = (".yaml", ".yml")
TESTS_SUFFIXES = (".tests.yaml", ".tests.yml")  # a flow's scripts beside it, not a flow


def flow_files(directory: Path) -> list[Path]:
    """The flow files in a folder (not its sub-folders), in name order; not the webhooks,
    offers, sending rules, saved replies, labels and business hours files that may sit beside
    them."""
    if not directory.is_dir():
        return []
    return sorted(
        path
        for path in directory.iterdir()
        if path.suffix in FLOW_SUFFIXES
        and not path.name.endswith(TESTS_SUFFIXES)
        and path.name
        not in (WEBHOOKS_FILE, OFFERS_FILE, RULES_FILE, REPLIES_FILE, LABELS_FILE, HOURS_FILE)
        and path.is_file()
        and not path.name.startswith(".")
    )


def check_files(
    paths: list[Path],
    *,
    brand: str,
    vocabulary: Vocabulary,
    action_names: frozenset[str] | None = None,
    secrets: Secrets | None = None,
) -> list[ParsedFile]:
    """Parse and check flow files; each ParsedFile lists all its problems."""
    parsed = [read_flow_file(path) for path in paths]
    for item in parsed:
        if item.flow is not None:
            item.problems.extend(
                check_flow(
                    item.flow,
                    brand=brand,
                    vocabulary=vocabulary,
                    action_names=action_names,
                    secrets=secrets,
                )
            )
    by_file = {item.file: item for item in parsed}
    for problem in check_flow_set(item for item in parsed if not _has_errors(item)):
        by_file[problem.file].problems.append(problem)
    return parsed


def check_offers(
    directory: Path,
    flows: Mapping[str, Flow],
    *,
    brand: str,
    vocabulary: Vocabulary,
    action_names: frozenset[str] | None = None,
) -> OffersFile:
    """Read and check the folder's offers file against its flows; no file, no offers."""
    path = directory / OFFERS_FILE
    if not path.is_file():
        return OffersFile(str(path))
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        return OffersFile(str(path), problems=[Problem(str(path), 1, f"cannot read: {error}")])
    offers = parse_offers(text, str(path), flows=flows, vocabulary=vocabulary)
    for flow in offers.flows:  # a reply offer's texts are linted as any flow's
        offers.problems.extend(
            check_flow(flow, brand=brand, vocabulary=vocabulary, action_names=action_names)
        )
    return offers


def _has_errors(parsed: ParsedFile) -> bool:
    return parsed.flow is None or any(p.severity is Severity.ERROR for p in parsed.problems)


@dataclass(frozen=True)
class FlowCatalog:
    """The flows in force and how messages and events find them."""

    flows: Mapping[str, Flow] = field(default_factory=dict)
    keywords: Mapping[str, str] = field(default_factory=dict)  # normalised keyword -> flow
    events: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    intents: IntentMatcher = field(default_factory=lambda: IntentMatcher(()))
    offers: Mapping[str, Offer] = field(default_factory=dict)  # normalised keyword -> offer
    hours: BusinessHours | None = None  # the team's business hours, if the folder gives them

    @classmethod
    def of(
        cls,
        flows: Mapping[str, Flow],
        offers: OffersFile | None = None,
        hours: BusinessHours | None = None,
    ) -> FlowCatalog:
        """The catalog of these flows, with the offers' keywords and reply offers' flows."""
        if offers is not None:
            flows = {**flows, **{flow.name: flow for flow in offers.flows}}
        keywords = {
            normalise(keyword): flow.name
            for flow in flows.values()
            for keyword in flow.triggers.keywords
        }
        events: dict[str, list[str]] = {}
        for flow in flows.values():
            for event in flow.triggers.events:
                events.setdefault(event, []).append(flow.name)
        intents = IntentMatcher.build((flow.name, flow.triggers.intents) for flow in flows.values())
        by_keyword = {normalise(offer.keyword): offer for offer in offers.offers} if offers else {}
        keywords.update((words, offer.flow) for words, offer in by_keyword.items())
        events_by_type = {k: tuple(v) for k, v in events.items()}
        return cls(dict(flows), keywords, events_by_type, intents, by_keyword, hours)

    def for_keyword(self, text: str) -> Flow | None:
        """The flow a message starts by keyword: the whole message, or its first word."""
        words = normalise(text)
        name = self.keywords.get(words) or self.keywords.get(words.split(" ", 1)[0])
        return self.flows.get(name) if name else None

    def for_offer(self, text: str) -> Offer | None:
        """The keyword offer a message asks for: the whole message, or its first word."""
        words = normalise(text)
        return self.offers.get(words) or self.offers.get(words.split(" ", 1)[0])

    def for_intent(self, text: str) -> Flow | None:
        """The flow whose example phrases the message resembles."""
        name = self.intents.match(text)
        return self.flows.get(name) if name else None

    def for_event(self, event_type: str) -> list[Flow]:
        """The flows an event starts."""
        return [self.flows[name] for name in self.events.get(event_type, ())]


class FlowRegistry:
    """Loads FLOWS_DIR and reloads it when a file changes (checked at most once a second)."""

    def __init__(
        self,
        directory: Path,
        *,
        brand: str,
        vocabulary: Vocabulary,
        action_names: frozenset[str] | None = None,
        secrets: Secrets | None = None,  # where http steps' ${NAME} are read
        check_interval: float = 1.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.directory = directory
        self.brand = brand
        self.vocabulary = vocabulary
        self.action_names = action_names
        self.secrets = secrets
        self.check_interval = check_interval
        self.monotonic = monotonic
        self.problems: list[Problem] = []
        self._good: dict[Path, Flow] = {}
        self._good_offers: OffersFile | None = None
        self._good_hours: BusinessHours | None = None
        self._snapshot: dict[Path, tuple[int, int]] | None = None
        self._catalog = FlowCatalog()
        self._next_check = 0.0
        self._lock = threading.Lock()

    def catalog(self) -> FlowCatalog:
        """The flows in force, reloading first if a file changed."""
        now = self.monotonic()
        if now >= self._next_check:
            with self._lock:
                if now >= self._next_check:
                    self._next_check = now + self.check_interval
                    self._reload_if_changed()
        return self._catalog

    def reload(self) -> FlowCatalog:
        """Reload now, whatever the clock says."""
        with self._lock:
            self._snapshot = None
            self._reload_if_changed()
        return self._catalog

    def _reload_if_changed(self) -> None:
        paths = flow_files(self.directory)
        extras = [self.directory / OFFERS_FILE, self.directory / HOURS_FILE]
        snapshot = {path: _stamp(path) for path in [*paths, *extras]}
        if snapshot == self._snapshot:
            return
        self._snapshot = snapshot
        try:
            parsed = check_files(
                paths,
                brand=self.brand,
                vocabulary=self.vocabulary,
                action_names=self.action_names,
                secrets=self.secrets,
            )
        except Exception:
            # A bug of ours in the checker must not take the flows in force down with it (nor
            # answer the text that triggered this reload with a 500).
            log.exception("flows not reloaded: checking %s failed", self.directory)
            return
        self.problems = [problem for item in parsed for problem in item.problems]
        good: dict[Path, Flow] = {}
        for path, item in zip(paths, parsed, strict=True):
            if not _has_errors(item):
                assert item.flow is not None
                good[path] = item.flow
                continue
            for problem in item.problems:
                log.error("flow file not loaded: %s", problem)
            if path in self._good:
                log.warning(
                    "%s: keeping the last good version of flow %r", path, self._good[path].name
                )
                good[path] = self._good[path]
        for problem in self.problems:
            if problem.severity is Severity.WARNING:
                log.warning("%s", problem)
        self._good = good
        flows = {flow.name: flow for flow in good.values()}
        offers = self._offers(flows)
        self._catalog = FlowCatalog.of(flows, offers, self._hours())
        log.info("flows in force: %s", ", ".join(sorted(self._catalog.flows)) or "none")

    def _offers(self, flows: Mapping[str, Flow]) -> OffersFile | None:
        """The offers file in force: a broken one keeps its last good version, as flows do."""
        offers = check_offers(
            self.directory,
            flows,
            brand=self.brand,
            vocabulary=self.vocabulary,
            action_names=self.action_names,
        )
        self.problems.extend(offers.problems)
        errors = [p for p in offers.problems if p.severity is Severity.ERROR]
        for problem in offers.problems:
            log.log(logging.ERROR if problem in errors else logging.WARNING, "offers: %s", problem)
        if not errors:
            self._good_offers = offers
        elif self._good_offers is not None:
            log.warning("%s: keeping the last good offers", offers.file)
        return self._good_offers

    def _hours(self) -> BusinessHours | None:
        """The business hours in force: a broken file keeps its last good version."""
        checked = check_hours_file(self.directory)
        self.problems.extend(Problem(p.file, p.line, p.message) for p in checked.problems)
        for problem in checked.problems:
            log.error("business hours: %s", problem)
        if not checked.problems:
            self._good_hours = checked.hours
        elif self._good_hours is not None:
            log.warning("%s: keeping the last good business hours", checked.file)
        return self._good_hours


def _stamp(path: Path) -> tuple[int, int]:
    try:
        stat = path.stat()
    except OSError:
        return (0, 0)
    return (stat.st_mtime_ns, stat.st_size)

"""Reads a flow file into a Flow, collecting every problem with its line."""

from __future__ import annotations

import functools
import hashlib
import re
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from bot.domain.yamlsource import LocatedDict, LocatedList
from bot.engine.durations import DurationError, parse_duration
from bot.engine.model import RESTART_ALWAYS, RESTART_NEVER, Flow, FlowSettings, Restart, Triggers
from bot.engine.problems import FlowFileError, Problem, article, did_you_mean, load_document
from bot.engine.steps import STEP_TYPES
from bot.engine.steps.base import Step, StepReader
from bot.engine.templates import Template, TemplateError, parse_template

TOP_LEVEL_KEYS = frozenset(
    {
        "flow",
        "description",
        "triggers",
        "settings",
        "attributes",
        "unexpected_reply",
        "steps",
        "tests",
    }
)
TRIGGER_KEYS = frozenset({"keywords", "events", "intents", "restart"})
# `once` reads as well as `never` ("start it once per person"): both are accepted.
RESTART_WORDS = {"never": RESTART_NEVER, "once": RESTART_NEVER, "always": RESTART_ALWAYS}
SETTING_KEYS = frozenset(
    {"promotional", "expires_after", "interruptible", "cancel_on", "max_segments"}
)
FLOW_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


@dataclass
class ParsedFile:
    """A flow file read: the flow (None when it cannot be built) and the problems found."""

    file: str
    flow: Flow | None
    problems: list[Problem] = field(default_factory=list)


def read_flow_file(path: Path, display_name: str | None = None) -> ParsedFile:
    """Read and parse one flow file."""
    name = display_name or str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        return ParsedFile(name, None, [Problem(name, 1, f"cannot read the file: {error}")])
    return parse_flow(text, name, default_name=path.stem.split(".")[0])


def parse_flow(text: str, file: str, *, default_name: str = "flow") -> ParsedFile:
    """Parse a flow from YAML text; structural problems are reported, not raised."""
    flow, problems = _parse_once(text, file, default_name)
    # A list of its own: checkers add their problems to it.
    return ParsedFile(file, flow, list(problems))


@functools.lru_cache(maxsize=256)
def _parse_once(text: str, file: str, default_name: str) -> tuple[Flow | None, tuple[Problem, ...]]:
    """The flow and the problems of one text, parsed once: parsing is pure and a Flow is frozen,
    so every app of a process that reads the same file shares one parse (YAML with lines costs
    0.1 s of CPU for the shipped flows, and a test suite builds over a thousand apps)."""
    document, problems = load_document(text, file, "a flow file is a mapping with steps: …")
    if document is None:
        return None, tuple(problems)
    flow = _Builder(file, document, problems).build(text, default_name)
    return flow, tuple(problems)


class _Builder:
    def __init__(self, file: str, document: LocatedDict, problems: list[Problem]) -> None:
        self.file = file
        self.doc = document
        self.problems = problems

    def problem(self, line: int, message: str) -> None:
        self.problems.append(Problem(self.file, line, message))

    def build(self, text: str, default_name: str) -> Flow | None:
        for key in sorted(set(self.doc) - TOP_LEVEL_KEYS):
            self.problem(self.doc.line_of(key), f"unknown key {key!r} ({_known(TOP_LEVEL_KEYS)})")
        name = self._name(default_name)
        triggers = self._triggers()
        settings = self._settings()
        steps = self._steps()
        attributes = self._words(self.doc, "attributes")
        unexpected_reply = self._unexpected_reply()
        if self.problems or name is None or steps is None:
            return None
        return Flow(
            name=name,
            file=self.file,
            version=hashlib.sha256(text.encode()).hexdigest()[:12],
            description=str(self.doc.get("description", "")),
            triggers=triggers,
            settings=settings,
            steps=steps,
            attributes=attributes,
            tests=self.doc.get("tests"),
            unexpected_reply=unexpected_reply,
            lines=dict(self.doc.key_lines),
        )

    def _name(self, default_name: str) -> str | None:
        name = self.doc.get("flow", default_name)
        if not isinstance(name, str) or not FLOW_NAME.match(name):
            self.problem(
                self.doc.line_of("flow"),
                f"flow name {name!r} must be lower-case letters, digits and _ (e.g. nps)",
            )
            return None
        return name

    def _unexpected_reply(self) -> Template | None:
        source = self.doc.get("unexpected_reply")
        if source is None:
            return None
        line = self.doc.line_of("unexpected_reply")
        if not isinstance(source, str) or not source.strip():
            self.problem(line, "unexpected_reply needs some text, e.g. 'Thanks, we'll be in touch'")
            return None
        try:
            return parse_template(source)
        except TemplateError as error:
            self.problem(line, f"unexpected_reply: {error.message}")
            return None

    def _section(self, key: str, allowed: frozenset[str]) -> LocatedDict:
        section = self.doc.get(key)
        if section is None:
            empty = LocatedDict()
            empty.line, empty.key_lines = self.doc.line_of(key), {}
            return empty
        if not isinstance(section, LocatedDict):
            self.problem(self.doc.line_of(key), f"{key} must be a mapping")
            return self._section("", allowed)
        for unknown in sorted(set(section) - allowed):
            self.problem(
                section.line_of(unknown), f"unknown {key} key {unknown!r} ({_known(allowed)})"
            )
        return section

    def _triggers(self) -> Triggers:
        section = self._section("triggers", TRIGGER_KEYS)
        return Triggers(
            keywords=self._words(section, "keywords"),
            events=self._words(section, "events"),
            intents=self._words(section, "intents"),
            restart=self._restart(section),
            lines={key: section.line_of(key) for key in section},
        )

    def _restart(self, section: LocatedDict) -> Restart | None:
        if "restart" not in section:
            return None
        value = section["restart"]
        if isinstance(value, str) and value.strip().lower() in RESTART_WORDS:
            return RESTART_WORDS[value.strip().lower()]
        try:
            return Restart(parse_duration(value))
        except DurationError as error:
            # "30" or "2 fortnights" was meant as a duration: say what is wrong with it.
            meant_a_duration = isinstance(value, str | int) and any(
                char.isdigit() for char in str(value)
            )
            self.problem(
                section.line_of("restart"),
                f"restart: {error}"
                if meant_a_duration and not isinstance(value, bool)
                else "restart must be once (or never: once per person), always, or a duration "
                f"such as 30d (not again within 30 days); got {value!r}",
            )
            return None

    def _settings(self) -> FlowSettings:
        section = self._section("settings", SETTING_KEYS)
        defaults = FlowSettings()
        return FlowSettings(
            promotional=self._flag(section, "promotional", defaults.promotional),
            expires_after=self._duration(section, "expires_after", defaults.expires_after),
            interruptible=self._flag(section, "interruptible", defaults.interruptible),
            cancel_on=self._words(section, "cancel_on"),
            max_segments=self._positive(section, "max_segments", defaults.max_segments),
        )

    def _steps(self) -> tuple[Step, ...] | None:
        steps = self.doc.get("steps")
        if not isinstance(steps, LocatedList) or not steps:
            self.problem(self.doc.line_of("steps"), "a flow needs a list of steps")
            return None
        parsed: list[Step] = []
        for index, (node, line) in enumerate(zip(steps, steps.item_lines, strict=True)):
            step = self._step(node, line, index)
            if step is not None:
                parsed.append(step)
        return tuple(parsed)

    def _step(self, node: Any, line: int, index: int) -> Step | None:
        if not isinstance(node, LocatedDict):
            self.problem(line, "a step is a mapping such as `- send: Hello`")
            return None
        kinds = [key for key in node if key in STEP_TYPES]
        if len(kinds) != 1:
            unknown = [key for key in node if key not in STEP_TYPES and key not in {"id", "next"}]
            if not kinds and unknown:
                nearest = did_you_mean(unknown[0], STEP_TYPES)
                message = f"unknown step type {unknown[0]!r}{nearest} ({_known(STEP_TYPES)})"
            elif not kinds:
                message = f"the step has no type ({_known(STEP_TYPES)})"
            else:
                message = f"a step has one type, this one has {len(kinds)}: {', '.join(kinds)}"
            self.problem(line, message)
            return None
        step_type = STEP_TYPES[kinds[0]]
        for key in node:
            if key not in step_type.allowed_keys:
                allowed = _known(step_type.allowed_keys)
                nearest = did_you_mean(key, step_type.allowed_keys)
                self.problem(
                    node.line_of(key),
                    f"unknown key {key!r}{nearest} in a {step_type.kind} step ({allowed})",
                )
        reader = StepReader(node, step_type.kind, index)
        try:
            step = step_type.parse(reader)
        except FlowFileError as error:
            self.problem(error.line, error.message)
            return None
        if step.waits and not reader.has_explicit_id():
            self.problem(
                line,
                f"{article(step.kind)} {step.kind} step needs an id: people wait on it, and the "
                "id keeps them in place when you edit the flow",
            )
        return step

    def _words(self, section: LocatedDict, key: str) -> tuple[str, ...]:
        value = section.get(key, [])
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(item, (str, int)) for item in value):
            self.problem(section.line_of(key), f"{key} must be a list of words")
            return ()
        return tuple(str(item) for item in value)

    def _flag(self, section: LocatedDict, key: str, default: bool) -> bool:
        value = section.get(key, default)
        if not isinstance(value, bool):
            self.problem(section.line_of(key), f"{key} must be true or false")
            return default
        return value

    def _duration(self, section: LocatedDict, key: str, default: timedelta) -> timedelta:
        if key not in section:
            return default
        try:
            return parse_duration(section[key])
        except DurationError as error:
            self.problem(section.line_of(key), f"{key}: {error}")
            return default

    def _positive(self, section: LocatedDict, key: str, default: int) -> int:
        value = section.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            self.problem(section.line_of(key), f"{key} must be a whole number of at least 1")
            return default
        return value


def _known(names: Any) -> str:
    return "known: " + ", ".join(sorted(names))

"""Checks a flow beyond its syntax (jumps, reachability, names, keywords) and lints its texts."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from bot.domain.http_calls import Secret, Secrets
from bot.domain.keywords import KeywordKind, Vocabulary, classify, default_vocabulary, normalise
from bot.domain.segments import count_segments
from bot.engine.answers import AnswerKind
from bot.engine.loops import loops
from bot.engine.model import Flow
from bot.engine.parser import ParsedFile
from bot.engine.problems import Problem, Severity, article, did_you_mean, unknown_variable
from bot.engine.runtime import BRAND_NAMES
from bot.engine.steps.ask import AskStep
from bot.engine.steps.base import END, Step, auto_step_id
from bot.engine.steps.branch import BranchStep
from bot.engine.steps.http import HttpStep
from bot.engine.templates import Template

BUILT_IN_NAMES = frozenset({"brand", "support", "phone", "first_name", "attributes", "event"})
NO_FALL_THROUGH = frozenset({"goto", "end", "start_flow"})
# An instruction ("Reply STOP to opt out"), not any "stop" ("Stop by our store", "non-stop").
OPT_OUT_WORDING = re.compile(
    r"\b(reply|text|txt|send)\s+[\"']?(stop|end|cancel|quit|unsubscribe)\b"
    r"|\bopt[ -]?out\b|\bunsubscribe\b",
    re.IGNORECASE,
)

# What a text looks like "with typical values" when the linter counts its segments.
TYPICAL_VALUES: Mapping[str, Any] = {
    "first_name": "Alexandra",
    "phone": "+14155550100",
    "support": "help@example.com",
    "coupon_code": "SAVE-X7K2QD",
}
TYPICAL_UNKNOWN = "something typical"
# Headers that carry credentials, by name; and what a credential written out looks like.
CREDENTIAL_HEADER = re.compile(r"auth|token|secret|key|password|signature|cookie", re.IGNORECASE)
TOKEN_LIKE = re.compile(r"(?=[A-Za-z0-9_\-]*\d)(?=[A-Za-z0-9_\-]*[A-Za-z])[A-Za-z0-9_\-]{20,}")
_SCHEME_WORD = re.compile(r"^\s*[A-Za-z-]+\s+$")  # "Bearer " before a ${SECRET}


def check_flow(
    flow: Flow,
    *,
    brand: str = "Parley",
    vocabulary: Vocabulary | None = None,
    action_names: frozenset[str] | None = None,
    secrets: Secrets | None = None,
) -> list[Problem]:
    """Every problem in one flow: errors first by line, then warnings.

    With `secrets`, the `${NAME}` an http step's headers name are looked up: Parley's own
    settings are errors, variables not set are warnings.
    """
    checks = _FlowChecks(flow, brand, vocabulary or default_vocabulary(), action_names, secrets)
    return sorted(checks.run(), key=lambda problem: (problem.severity, problem.line))


def check_flow_set(files: Iterable[ParsedFile]) -> list[Problem]:
    """Problems between flows: two flows with one name, one trigger keyword, a missing flow.

    A clash is reported on both files: the checker cannot tell which one is the newcomer, so
    neither passes until one gives way. (A running service keeps the last good version of the
    one it already had.)
    """
    problems: list[Problem] = []
    names: dict[str, Flow] = {}
    keywords: dict[str, tuple[Flow, str]] = {}  # normalised keyword -> first flow, as written
    flows = [parsed.flow for parsed in files if parsed.flow is not None]
    for flow in flows:
        first = names.setdefault(flow.name, flow)
        if first is not flow:
            for this, other in ((flow, first), (first, flow)):
                problems.append(
                    Problem(this.file, 1, f"flow {flow.name!r} is also defined in {other.file}")
                )
        for keyword in flow.triggers.keywords:
            owner, written = keywords.setdefault(normalise(keyword), (flow, keyword))
            if owner.name == flow.name:
                continue
            for this, other, said in ((flow, owner, keyword), (owner, flow, written)):
                problems.append(
                    Problem(
                        this.file,
                        _keywords_line(this),
                        f"trigger keyword {said!r} is also used by flow {other.name!r} "
                        f"({other.file}:{_keywords_line(other)})",
                    )
                )
    for flow in flows:
        for step in flow.steps:
            target = getattr(step, "flow", None)
            if step.kind == "start_flow" and target not in names:
                problems.append(
                    Problem(
                        flow.file,
                        step.line,
                        f"start_flow: no flow named {target!r}{did_you_mean(str(target), names)}",
                    )
                )
    problems.extend(_shadowed_options(flows))
    return problems


def _shadowed_options(flows: list[Flow]) -> Iterator[Problem]:
    """A trigger keyword that is also an answer another flow asks for takes that answer away:
    "Reply AGENT" would start the AGENT flow instead of answering (an interruptible flow gives
    way to any flow's keyword, on the whole reply or its first word)."""
    options: dict[str, tuple[Flow, AskStep, str]] = {}
    for flow in flows:
        if not flow.settings.interruptible:
            continue
        for step in flow.steps:
            if isinstance(step, AskStep) and step.spec.kind is AnswerKind.CHOICE:
                for option in step.spec.options:
                    said = normalise(option)
                    options.setdefault(said, (flow, step, option))
                    options.setdefault(said.split(" ", 1)[0], (flow, step, option))
    for flow in flows:
        for keyword in flow.triggers.keywords:
            taken = options.get(normalise(keyword))
            if taken is None or taken[0].name == flow.name:
                continue
            other, question, option = taken
            yield Problem(
                flow.file,
                _keywords_line(flow),
                f"trigger keyword {keyword!r} takes the answer {option!r} away from flow "
                f"{other.name!r} ({other.file}:{question.line}): a person who replies {option} "
                f"there would start {flow.name!r} instead; choose another keyword, or set "
                f"interruptible: false in {other.name!r}",
            )


def _keywords_line(flow: Flow) -> int:
    return flow.triggers.lines.get("keywords", 1)


class _FlowChecks:
    def __init__(
        self,
        flow: Flow,
        brand: str,
        vocabulary: Vocabulary,
        action_names: frozenset[str] | None,
        secrets: Secrets | None = None,
    ) -> None:
        self.flow = flow
        self.brand = brand
        self.vocabulary = vocabulary
        self.action_names = action_names
        self.secrets = secrets
        self.known_names = self._known_names()
        self.positions: dict[str, int] = {}
        for position, step in enumerate(flow.steps):
            self.positions.setdefault(step.id, position)

    def error(self, line: int, message: str) -> Problem:
        return Problem(self.flow.file, line, message)

    def warning(self, line: int, message: str) -> Problem:
        return Problem(self.flow.file, line, message, Severity.WARNING)

    def run(self) -> Iterator[Problem]:
        yield from self._duplicate_ids()
        yield from self._missing_targets()
        yield from self._unreachable()
        yield from self._loops_without_a_pause()
        yield from self._unknown_names()
        yield from self._choices_never_answered()
        yield from self._reserved_keywords()
        yield from self._restart_without_a_trigger()
        yield from self._unknown_actions()
        yield from self._http_secrets()
        yield from self._text_lints()

    def _known_names(self) -> frozenset[str]:
        defined = {name for step in self.flow.steps for name in step.defines()}
        return BUILT_IN_NAMES | defined | set(self.flow.attributes)

    def _duplicate_ids(self) -> Iterator[Problem]:
        seen: dict[str, int] = {}
        for step in self.flow.steps:
            if step.id in seen:
                yield self.error(
                    step.line,
                    f"step id {step.id!r} is already used on line {seen[step.id]}: "
                    "give each step its own id",
                )
            seen.setdefault(step.id, step.line)

    def _ids_are_unique(self) -> bool:
        # With one id on two steps, jumps and order cannot tell which is meant: reachability
        # and loops would report the confusion four ways. The duplicate is the one error.
        return len(self.positions) == len(self.flow.steps)

    def _missing_targets(self) -> Iterator[Problem]:
        for target, line in self._broken_jumps():
            yield self.error(
                line,
                f"jump to a step that does not exist: {target!r}"
                f"{did_you_mean(target, self._written_ids())}",
            )

    def _written_ids(self) -> list[str]:
        return [step.id for step in self.flow.steps if self._has_written_id(step.id)]

    def _broken_jumps(self) -> Iterator[tuple[str, int]]:
        for step in self.flow.steps:
            for target, line in step.jumps():
                if target != END and self.flow.step(target) is None:
                    yield target, line

    def _unreachable(self) -> Iterator[Problem]:
        if any(self._broken_jumps()) or not self._ids_are_unique():
            return  # where a broken jump was meant to go is unknown: fix it first, then look
        reached = self._reachable()
        for step in self.flow.steps:
            if step.id not in reached:
                what = (
                    f"step {step.id!r}"
                    if self._has_written_id(step.id)
                    else f"this {step.kind} step"
                )
                yield self.error(step.line, f"{what} can never be reached")

    def _reachable(self) -> set[str]:
        steps = self.flow.steps
        pending = [steps[0].id] if steps else []
        reached: set[str] = set()
        while pending:
            step = self.flow.step(pending.pop())
            if step is None or step.id in reached:
                continue
            reached.add(step.id)
            pending.extend(self._successors(step))
        return reached

    def _loops_without_a_pause(self) -> Iterator[Problem]:
        """A loop of steps none of which waits would text the person over and over."""
        if not self._ids_are_unique():
            return
        # A step that waits breaks any loop through it: leave those steps out of the graph.
        graph = {
            step.id: list(self._successors(step)) for step in self.flow.steps if not step.waits
        }
        for cycle in loops(graph):
            names = [self._shown(step_id) for step_id in cycle]
            first = self.flow.step(cycle[0])
            assert first is not None
            yield self.error(
                first.line,
                f"these steps loop without waiting for anything: {' → '.join([*names, names[0]])};"
                " add a question or a wait, or end the loop",
            )

    def _shown(self, step_id: str) -> str:
        """A step as the marketer wrote it: its id, or its type and line when it has none."""
        if self._has_written_id(step_id):
            return step_id
        step = self.flow.steps[self.positions[step_id]]
        return f"{step.kind} (line {step.line})"

    def _has_written_id(self, step_id: str) -> bool:
        # A step without an id gets one made up from its position: never show that one.
        return step_id != auto_step_id(self.positions[step_id])

    def _successors(self, step: Step) -> Iterator[str]:
        yield from (target for target, _ in step.jumps() if target != END)
        following = self.flow.following(step)
        if following is not None and _falls_through(step):
            yield following

    def _unknown_names(self) -> Iterator[Problem]:
        filled = [template for step in self.flow.steps for template in step.data_templates()]
        for template, line in [*self._texts(), *filled]:
            for name in sorted(template.names - self.known_names):
                yield self.error(line, unknown_variable(name, self.known_names))
        known = ", ".join(sorted(self.known_names))
        for step in self.flow.steps:
            for expression, line in step.expressions():
                for name in sorted(expression.names - self.known_names):
                    yield self.error(
                        line,
                        f"unknown name {name!r} in condition"
                        f"{did_you_mean(name, self.known_names)} (known: {known})",
                    )

    def _choices_never_answered(self) -> Iterator[Problem]:
        """`confirm == "AGNET"` never holds when the answer is one of AGENT, CANCEL."""
        options = self._choice_options()
        for step in self.flow.steps:
            for expression, line in step.expressions():
                for name, text in sorted(expression.compared):
                    allowed = options.get(name)
                    if allowed is None or text in allowed:
                        continue
                    yield self.error(
                        line,
                        f"{name} is never {text!r}: it holds one of the options "
                        f"{', '.join(allowed)}{did_you_mean(text, allowed)}",
                    )

    def _choice_options(self) -> dict[str, tuple[str, ...]]:
        """Each name that only choice questions save, with the options it may hold."""
        options: dict[str, tuple[str, ...]] = {}
        other: set[str] = set(self.flow.attributes) | BUILT_IN_NAMES
        for step in self.flow.steps:
            for name in step.defines():
                if isinstance(step, AskStep) and step.spec.kind is AnswerKind.CHOICE:
                    known = [*options.get(name, ()), *step.spec.options]
                    options[name] = tuple(dict.fromkeys(known))
                else:
                    other.add(name)
        return {name: allowed for name, allowed in options.items() if name not in other}

    def _texts(self) -> Iterator[tuple[Template, int]]:
        """Every text the flow may send, with its line: its steps' and its unexpected_reply."""
        for step in self.flow.steps:
            yield from step.templates()
        if self.flow.unexpected_reply is not None:
            yield self.flow.unexpected_reply, self.flow.lines.get("unexpected_reply", 1)

    def _reserved_keywords(self) -> Iterator[Problem]:
        line = self.flow.triggers.lines.get("keywords", 1)
        for keyword in self.flow.triggers.keywords:
            match = classify(keyword, self.vocabulary)
            kind = match.kind.value.replace("_", "-")
            if match.kind is not KeywordKind.NONE:
                yield self.error(
                    line,
                    f"{keyword!r} is reserved: it is {article(kind)} {kind} keyword that always "
                    "means the same thing to carriers",
                )

    def _restart_without_a_trigger(self) -> Iterator[Problem]:
        triggers = self.flow.triggers
        if triggers.restart is not None and not (
            triggers.keywords or triggers.events or triggers.intents
        ):
            yield self.warning(
                triggers.lines["restart"],
                "restart has no effect: nothing triggers this flow (a start_flow step starts "
                "it whatever restart says)",
            )

    def _unknown_actions(self) -> Iterator[Problem]:
        if self.action_names is None:
            return
        for step in self.flow.steps:
            name = getattr(step, "name", None)
            if step.kind == "action" and name not in self.action_names:
                known = ", ".join(sorted(self.action_names)) or "none"
                yield self.error(
                    step.line,
                    f"unknown action {name!r}{did_you_mean(str(name), self.action_names)} "
                    f"(known: {known})",
                )

    def _http_secrets(self) -> Iterator[Problem]:
        for step in self.flow.steps:
            if not isinstance(step, HttpStep):
                continue
            for name, value in step.headers:
                if _written_out_secret(name, value):
                    yield self.warning(
                        step.line,
                        f"http: header {name} holds a secret written out: flow files live in "
                        f"git; write it as ${{SHOP_TOKEN}} and set SHOP_TOKEN in the environment",
                    )
            if self.secrets is None:
                continue
            for secret in dict.fromkeys(step.secrets()):
                problem = self.secrets.problem_with(secret.name)
                if problem is None:
                    continue
                if secret.name in self.secrets.reserved:
                    yield self.error(step.line, f"http: {problem}")
                else:
                    yield self.warning(step.line, f"http: {problem}, so the call will fail")

    def _text_lints(self) -> Iterator[Problem]:
        texts = list(self._texts())
        variables = TypicalVariables(self.brand)
        for template, line in texts:
            rendered = template.render(variables)
            info = count_segments(rendered)
            if info.segments > self.flow.settings.max_segments:
                yield self.warning(
                    line,
                    f"this text is {info.segments} segments with typical values "
                    f"({info.encoding}, {info.units} units); the limit is "
                    f"{self.flow.settings.max_segments}",
                )
            culprits = [char for char in info.culprits if char in template.source]
            if culprits:
                single = count_segments(gsm_lookalike(rendered)).segments
                yield self.warning(line, ucs2_message(culprits, info.segments, single))
            for message in url_lints(template):
                yield self.warning(line, message)
        says_stop = any(OPT_OUT_WORDING.search(template.source) for template, _ in texts)
        if self.flow.settings.promotional and texts and not says_stop:
            yield self.warning(
                texts[0][1],
                "promotional flow: no text says how to opt out (add e.g. 'Reply STOP to opt out')",
            )
        says_who = any(names_the_brand(template, self.brand) for template, _ in texts)
        if self.flow.settings.promotional and texts and not says_who:
            yield self.warning(
                texts[0][1], f"promotional flow: no text names the brand ({BRAND_ADVICE})"
            )


# CTIA's Messaging Principles ask every marketing text to identify its sender.
BRAND_ADVICE = "start it with '{brand}: ' so people know who is texting"


def names_the_brand(template: Template, brand: str) -> bool:
    """Whether a text says who sends it: `{brand}`, or the brand written out (any case)."""
    return "brand" in template.names or (bool(brand) and brand.lower() in template.source.lower())


def url_lints(template: Template) -> Iterator[str]:
    """A warning for each person's value that runs into a URL: that URL is never tracked."""
    for placeholder in template.values_at_urls(trusted=BRAND_NAMES):
        yield (
            f"{{{placeholder.name}}} runs into a URL: a URL with a person's value in it goes out"
            " as plain text, never as a tracked link (put a space between them)"
        )


def _written_out_secret(name: str, value: tuple[Template | Secret, ...]) -> bool:
    """Whether a header's value has a credential in the text written out (not a `${NAME}`, not
    a person's `{value}`)."""
    literal = "".join(
        part.render_encoded({}, lambda _: "\0") if isinstance(part, Template) else "\0"
        for part in value
    )
    if TOKEN_LIKE.search(literal):
        return True
    if not CREDENTIAL_HEADER.search(name):
        return False
    # "Bearer ${SHOP_TOKEN}" writes only its scheme out; "Bearer abc123" writes the secret.
    pieces = literal.split("\0")
    if len(pieces) > 1 and _SCHEME_WORD.match(pieces[0]):
        pieces[0] = ""
    return any(piece.strip() for piece in pieces)


def _falls_through(step: Step) -> bool:
    if step.next is not None or step.kind in NO_FALL_THROUGH:
        return False
    return not (isinstance(step, BranchStep) and step.cases[-1].condition is None)


class TypicalVariables(dict[str, Any]):
    """Typical values for any name a template might use."""

    def __init__(self, brand: str) -> None:
        super().__init__(TYPICAL_VALUES, brand=brand)

    def __missing__(self, key: str) -> Any:
        return TYPICAL_UNKNOWN

    def get(self, key: str, default: Any = None) -> Any:
        return self[key]


_LOOKALIKES = {"‘": "'", "’": "'", "“": '"', "”": '"', "–": "-", "—": "-", "…": "..."}


def gsm_lookalike(text: str) -> str:
    """The text with typographic characters replaced and others dropped: what GSM-7 would cost."""
    swapped = "".join(_LOOKALIKES.get(char, char) for char in text)
    return "".join(char for char in swapped if count_segments(char).encoding.value == "GSM-7")


def ucs2_message(culprits: list[str], segments: int, without: int) -> str:
    """The warning for a text that UCS-2 characters make cost `segments` instead of `without`."""
    names = ", ".join(
        f"{char} ({unicodedata.name(char, f'U+{ord(char):04X}')})" for char in culprits[:3]
    )
    cost = (
        f"{segments} segments instead of {without}"
        if segments != without
        else "70 characters a segment instead of 160"
    )
    return f"{names} turns this text into UCS-2: {cost}"

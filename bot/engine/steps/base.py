"""What every step type shares: its fields, how it is read from YAML, how it moves a flow on."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any, ClassVar

from bot.domain.yamlsource import LocatedDict, LocatedList
from bot.engine.durations import DurationError, parse_duration
from bot.engine.expressions import Expression, ExpressionError, parse_expression
from bot.engine.problems import FlowFileError
from bot.engine.state import Waiting
from bot.engine.templates import Template, TemplateError, parse_template

if TYPE_CHECKING:
    from bot.engine.inputs import Input
    from bot.engine.runtime import Run

END = "end"  # the jump target that ends the flow
COMMON_KEYS = frozenset({"id", "next"})


def auto_step_id(position: int) -> str:
    """The id of a step written without one: step1, step2 … by its place in the flow."""
    return f"step{position + 1}"


@dataclass(frozen=True)
class Next:
    """Go on: to `step`, or to the following step when None."""

    step: str | None = None


@dataclass(frozen=True)
class Pause:
    """Stop here until the input the step waits for arrives."""

    waiting: Waiting


@dataclass(frozen=True)
class Finish:
    """The flow is over."""

    reason: str = "completed"
    # False when the flow gives up on the text it was handed (an `ask` out of retries): the
    # host passes that text to a human.
    understood: bool = True


Transition = Next | Pause | Finish


@dataclass(frozen=True)
class Located:
    """A template or expression and the line it was written on."""

    line: int


@dataclass(frozen=True)
class Step:
    """A step of a flow. Subclasses add their own fields and behaviour."""

    id: str
    line: int
    next: str | None  # an explicit jump after the step; None means the following step
    # The line of each key as written, so the checker can point at `next:` itself.
    key_lines: Mapping[str, int] = field(compare=False, repr=False)

    kind: ClassVar[str]
    keys: ClassVar[frozenset[str]] = frozenset()  # the step's own keys besides its kind key
    waits_for: ClassVar[Waiting | None] = None  # what a flow paused on this step waits for

    @property
    def waits(self) -> bool:
        """People may be parked on it, so it needs an explicit id."""
        return self.waits_for in (Waiting.ANSWER, Waiting.TIMER, Waiting.AGENT)

    def line_of(self, key: str) -> int:
        """The line a key of this step was written on (the step's own when it has none)."""
        return self.key_lines.get(key, self.line)

    def jumps(self) -> Iterator[tuple[str, int]]:
        """Step ids this step can jump to, with the line that names each."""
        if self.next is not None:
            yield self.next, self.line_of("next")

    def templates(self) -> Iterator[tuple[Template, int]]:
        """Texts this step sends."""
        return iter(())

    def data_templates(self) -> Iterator[tuple[Template, int]]:
        """Templates this step fills in but never texts (an `http` step's URL and body)."""
        return iter(())

    def expressions(self) -> Iterator[tuple[Expression, int]]:
        """Conditions this step evaluates."""
        return iter(())

    def defines(self) -> Iterator[str]:
        """Variable names this step makes available to later steps."""
        return iter(())

    def enter(self, run: Run) -> Transition:
        """Do the step's work on arrival."""
        raise NotImplementedError

    def resume(self, run: Run, event: Input) -> Transition:
        """Handle the input a paused step was waiting for."""
        return Pause(Waiting.ANSWER)


class StepReader:
    """Reads one step's mapping, raising FlowFileError with the line of whatever is wrong."""

    def __init__(self, node: LocatedDict, kind: str, index: int) -> None:
        self.node = node
        self.kind = kind
        self.index = index

    def line(self, key: str | None = None) -> int:
        return self.node.line_of(key) if key else self.node.line

    def fail(self, message: str, key: str | None = None) -> FlowFileError:
        return FlowFileError(message, self.line(key))

    def common(self) -> dict[str, Any]:
        """The id, line and next every step has."""
        explicit = self.node.get("id")
        if explicit is not None and (not isinstance(explicit, str) or not explicit.strip()):
            raise self.fail("id must be a name such as ask_score", "id")
        next_step = self.node.get("next")
        if next_step is not None and not isinstance(next_step, str):
            raise self.fail("next must be a step id or 'end'", "next")
        return {
            "id": explicit.strip() if explicit else auto_step_id(self.index),
            "line": self.node.line,
            "next": next_step,
            "key_lines": {key: self.node.line_of(key) for key in self.node},
        }

    def has_explicit_id(self) -> bool:
        return "id" in self.node

    def value(self, key: str | None = None, default: Any = None) -> Any:
        return self.node.get(key or self.kind, default)

    def text(self, key: str | None = None, *, required: bool = True) -> str | None:
        value = self.value(key)
        if value is None and not required:
            return None
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str) or not value.strip():
            raise self.fail(f"{key or self.kind} needs some text", key or self.kind)
        return value

    def template(self, key: str | None = None, *, required: bool = True) -> Template | None:
        source = self.text(key, required=required)
        if source is None:
            return None
        try:
            return parse_template(source)
        except TemplateError as error:
            raise self.fail(f"{key or self.kind}: {error.message}", key or self.kind) from None

    def expression(self, source: Any, line: int) -> Expression:
        if isinstance(source, bool):
            source = "true" if source else "false"
        if not isinstance(source, (str, int, float)):
            raise FlowFileError("a condition must be written as text, e.g. score >= 9", line)
        try:
            return parse_expression(str(source))
        except ExpressionError as error:
            raise FlowFileError(
                f"condition {str(source)!r} does not parse: {error.message}", line
            ) from None

    def duration(self, key: str | None = None, *, required: bool = True) -> timedelta | None:
        value = self.value(key)
        if value is None and not required:
            return None
        try:
            return parse_duration(value)
        except DurationError as error:
            raise self.fail(f"{key or self.kind}: {error}", key or self.kind) from None

    def integer(self, key: str, default: int, *, minimum: int = 0) -> int:
        value = self.node.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise self.fail(f"{key} must be a whole number of at least {minimum}", key)
        return value

    def number(self, key: str) -> float | None:
        value = self.node.get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.fail(f"{key} must be a number", key)
        return value

    def name(self, key: str) -> str | None:
        value = self.node.get(key)
        if value is None:
            return None
        if not isinstance(value, str) or not value.strip():
            raise self.fail(f"{key} must be a step id", key)
        return value.strip()

    def strings(self, key: str) -> tuple[str, ...]:
        value = self.node.get(key, [])
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            raise self.fail(f"{key} must be a list of words", key)
        return tuple(value)

    def mapping(self, key: str | None = None) -> LocatedDict:
        value = self.value(key)
        if not isinstance(value, LocatedDict):
            raise self.fail(f"{key or self.kind} must be a mapping (key: value lines)", key)
        return value

    def sequence(self, key: str | None = None) -> LocatedList:
        value = self.value(key)
        if not isinstance(value, LocatedList):
            raise self.fail(f"{key or self.kind} must be a list (lines starting with -)", key)
        return value


StepParser = Callable[[StepReader], Step]

"""`branch`: go to the first step whose condition holds.

```yaml
- branch:
    - if: score >= 9
      goto: promoter
    - if: score <= 6 and attributes.vip != true
      goto: detractor
    - else: passive             # optional; without it the flow goes on to the next step
```
Conditions compare answers and attributes: `==  !=  <  <=  >  >=`, `in`, `and`, `or`, `not`,
and the functions lower(), upper(), len(), number(), contains(). A missing value is null.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot.domain.yamlsource import LocatedDict
from bot.engine.expressions import Expression
from bot.engine.problems import FlowFileError
from bot.engine.steps.base import Next, Step, StepReader, Transition

if TYPE_CHECKING:
    from bot.engine.runtime import Run


@dataclass(frozen=True)
class Case:
    """One arm of a branch; no condition means "else"."""

    condition: Expression | None
    target: str
    line: int


@dataclass(frozen=True)
class BranchStep(Step):
    """Choose where to go next from answers and attributes."""

    cases: tuple[Case, ...]

    kind = "branch"

    def jumps(self) -> Iterator[tuple[str, int]]:
        yield from super().jumps()
        for case in self.cases:
            yield case.target, case.line

    def expressions(self) -> Iterator[tuple[Expression, int]]:
        for case in self.cases:
            if case.condition is not None:
                yield case.condition, case.line

    def enter(self, run: Run) -> Transition:
        variables = run.variables()
        for case in self.cases:
            if case.condition is None or case.condition.test(variables):
                return Next(case.target)
        return Next()


def parse(reader: StepReader) -> BranchStep:
    arms = reader.sequence()
    cases: list[Case] = []
    for item, line in zip(arms, arms.item_lines, strict=True):
        if not isinstance(item, LocatedDict):
            raise FlowFileError("each branch arm is `if: … goto: …` or `else: …`", line)
        if cases and cases[-1].condition is None:
            raise FlowFileError("else must be the last arm of a branch", line)
        cases.append(_case(reader, item, line))
    if not cases:
        raise reader.fail("a branch needs at least one arm")
    return BranchStep(**reader.common(), cases=tuple(cases))


def _case(reader: StepReader, item: LocatedDict, line: int) -> Case:
    unknown = set(item) - {"if", "goto", "else"}
    if unknown:
        raise FlowFileError(f"unknown key {sorted(unknown)[0]!r} in a branch arm", line)
    if "else" in item:
        if set(item) != {"else"}:
            raise FlowFileError("an else arm has only `else: step_id`", line)
        return Case(None, _target(item["else"], line), line)
    if "if" not in item or "goto" not in item:
        raise FlowFileError("a branch arm needs both `if:` and `goto:`", line)
    condition = reader.expression(item["if"], item.line_of("if"))
    return Case(condition, _target(item["goto"], item.line_of("goto")), line)


def _target(value: object, line: int) -> str:
    if not isinstance(value, str) or not value.strip():
        raise FlowFileError("goto needs a step id", line)
    return value.strip()

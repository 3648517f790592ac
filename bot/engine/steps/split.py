"""`split`: send people down random branches by weight (an A/B test inside a flow).

```yaml
- id: offer
  split:
    - {weight: 80, goto: coupon}
    - {weight: 20, goto: no_coupon}
```
Each run of the flow draws once per person: the same person in the same run always takes the
same branch (a hash of their number, the flow, when the run started and the step). A person
whose attribute `split_<step id>` names one of the targets takes that branch: a flow test pins
a branch with `subscriber: {attributes: {split_offer: coupon}}`. The flow's results count the
people who took each branch.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot.domain.weighted import pick_weighted, stable_point
from bot.domain.yamlsource import LocatedDict
from bot.engine.problems import FlowFileError
from bot.engine.steps.base import Next, Step, StepReader, Transition

if TYPE_CHECKING:
    from bot.engine.runtime import Run

PIN_PREFIX = "split_"  # the attribute that pins a person's branch: split_<step id>


@dataclass(frozen=True)
class Arm:
    """One branch of a split: its share (weight) and where it leads."""

    weight: float
    target: str
    line: int


@dataclass(frozen=True)
class SplitStep(Step):
    """Go to one of the branches at random, in proportion to their weights."""

    arms: tuple[Arm, ...]

    kind = "split"

    def jumps(self) -> Iterator[tuple[str, int]]:
        yield from super().jumps()
        for arm in self.arms:
            yield arm.target, arm.line

    def enter(self, run: Run) -> Transition:
        pinned = run.attributes.get(PIN_PREFIX + self.id)
        if any(arm.target == pinned for arm in self.arms):
            return Next(str(pinned))
        return Next(self.draw(run.context.phone, run.flow.name, run.state.started_at.isoformat()))

    def draw(self, phone: str, flow: str, run_key: str) -> str:
        """The branch for this person in this run: a stable hash picks a weighted bucket."""
        point = stable_point(phone, flow, run_key, self.id)
        return pick_weighted(point, self.arms, lambda arm: arm.weight).target


def parse(reader: StepReader) -> SplitStep:
    items = reader.sequence()
    arms = [_arm(item, line) for item, line in zip(items, items.item_lines, strict=True)]
    if len(arms) < 2:
        raise reader.fail("a split needs at least two branches: `- {weight: 50, goto: step}`")
    return SplitStep(**reader.common(), arms=tuple(arms))


def _arm(item: object, line: int) -> Arm:
    if not isinstance(item, LocatedDict):
        raise FlowFileError("each split branch is `{weight: 50, goto: step_id}`", line)
    unknown = set(item) - {"weight", "goto"}
    if unknown:
        raise FlowFileError(f"unknown key {sorted(unknown)[0]!r} in a split branch", line)
    weight = item.get("weight")
    if (
        isinstance(weight, bool)
        or not isinstance(weight, int | float)
        or not math.isfinite(weight)
        or weight <= 0
    ):
        raise FlowFileError(
            f"a split branch's weight must be a positive number, not {weight!r}",
            item.line_of("weight"),
        )
    target = item.get("goto")
    if not isinstance(target, str) or not target.strip():
        raise FlowFileError("a split branch needs goto: a step id", item.line_of("goto"))
    return Arm(float(weight), target.strip(), line)

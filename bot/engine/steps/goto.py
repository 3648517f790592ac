"""`goto`: jump to another step.

```yaml
- goto: ask_score
```
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot.engine.steps.base import Next, Step, StepReader, Transition

if TYPE_CHECKING:
    from bot.engine.runtime import Run


@dataclass(frozen=True)
class GotoStep(Step):
    """Continue at `target`."""

    target: str

    kind = "goto"

    def jumps(self) -> Iterator[tuple[str, int]]:
        yield self.target, self.line

    def enter(self, run: Run) -> Transition:
        return Next(self.target)


def parse(reader: StepReader) -> GotoStep:
    target = reader.name("goto")
    if target is None:
        raise reader.fail("goto needs a step id")
    return GotoStep(**reader.common(), target=target)

"""`handoff`: ask a human agent to take the conversation over.

```yaml
- id: to_a_human                # handoffs need an id: the flow waits there for the agent
  handoff: "Sorry to hear that. A teammate will text you shortly."   # or: handoff: true
  reason: low rating            # shown in the agent inbox
  next: thanks                  # where the bot goes on after the agent hands back
```
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot.domain.effects import HandOff
from bot.engine.inputs import HandedBack, Input
from bot.engine.state import Waiting
from bot.engine.steps.base import Next, Pause, Step, StepReader, Transition
from bot.engine.templates import Template

if TYPE_CHECKING:
    from bot.engine.runtime import Run


@dataclass(frozen=True)
class HandoffStep(Step):
    """Tell the person a human is coming and park the flow until the agent hands back."""

    message: Template | None
    reason: str

    kind = "handoff"
    keys = frozenset({"reason"})
    waits_for = Waiting.AGENT

    def templates(self) -> Iterator[tuple[Template, int]]:
        if self.message is not None:
            yield self.message, self.line

    def enter(self, run: Run) -> Transition:
        if self.message is not None:
            run.say(self.message)
        run.emit(HandOff(self.reason))
        return Pause(Waiting.AGENT)

    def resume(self, run: Run, event: Input) -> Transition:
        return Next() if isinstance(event, HandedBack) else Pause(Waiting.AGENT)


def parse(reader: StepReader) -> HandoffStep:
    raw = reader.value()
    message = None if raw is True else reader.template()
    return HandoffStep(
        **reader.common(),
        message=message,
        reason=reader.text("reason", required=False) or "asked for by the flow",
    )

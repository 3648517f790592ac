"""`start_flow`: end this flow and start another one.

```yaml
- start_flow: feedback
```
The other flow carries on where this one stood: started by an event, it sees the same
`{event.…}` data, and its texts are as transactional as this flow's were.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot.domain.effects import StartFlow
from bot.engine.steps.base import Finish, Step, StepReader, Transition

if TYPE_CHECKING:
    from bot.engine.runtime import Run


@dataclass(frozen=True)
class StartFlowStep(Step):
    """Hand the conversation to another flow."""

    flow: str

    kind = "start_flow"

    def enter(self, run: Run) -> Transition:
        run.emit(StartFlow(self.flow))
        return Finish(f"started {self.flow}")


def parse(reader: StepReader) -> StartFlowStep:
    flow = reader.text()
    assert flow is not None
    return StartFlowStep(**reader.common(), flow=flow.strip())

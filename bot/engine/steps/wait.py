"""`wait`: pause the flow for a while (durable: survives restarts).

```yaml
- id: wait_a_day                # waits need an id: people are parked on them
  wait: 1d                      # 30m, 2h, 1d, 1w, "1d 12h"
```
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from bot.domain.vocabulary import TimerKind
from bot.engine.inputs import Input, TimerFired
from bot.engine.state import Waiting
from bot.engine.steps.base import Next, Pause, Step, StepReader, Transition

if TYPE_CHECKING:
    from bot.engine.runtime import Run


@dataclass(frozen=True)
class WaitStep(Step):
    """Set a timer and go on when it fires."""

    duration: timedelta

    kind = "wait"
    waits_for = Waiting.TIMER

    def enter(self, run: Run) -> Transition:
        run.set_timer(TimerKind.WAIT, self.id, self.duration)
        return Pause(Waiting.TIMER)

    def resume(self, run: Run, event: Input) -> Transition:
        if isinstance(event, TimerFired) and event.kind is TimerKind.WAIT:
            return Next()
        return Pause(Waiting.TIMER)  # a reply while waiting does not hurry the flow


def parse(reader: StepReader) -> WaitStep:
    duration = reader.duration()
    assert duration is not None
    return WaitStep(**reader.common(), duration=duration)

"""`action`: run a custom action written with rasa-sdk (a coupon, a lookup in your shop …).

```yaml
- action: action_issue_coupon
  provides: [coupon_code]       # slots it sets, usable as {coupon_code} in later texts
```
It sees the phone as the sender id; `first_name`, the attributes and the answers as slots; and
the subscriber's latest text. Texts it utters are sent (pictures with its last text); the slots
it sets become subscriber attributes.

The action runs once the person's text is answered, so its texts follow the flow's earlier ones
by a moment, through the outbox. If Parley restarts while an action runs, the action is called
again two minutes later (three calls at most, then the flow ends): write actions so that calling
twice is harmless, as the coupon example does (the same person gets the same code).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from bot.domain.effects import CallAction
from bot.domain.vocabulary import TimerKind
from bot.engine.inputs import ActionCompleted, Input, TimerFired
from bot.engine.state import Waiting
from bot.engine.steps.base import Finish, Next, Pause, Step, StepReader, Transition

if TYPE_CHECKING:
    from bot.engine.runtime import Run

# A result comes within seconds (the action server's own timeout is 5 s); one missing after
# this long never comes: the host died mid-call, or an agent had the chat when it came.
ACTION_PATIENCE = timedelta(minutes=2)
MAX_ACTION_CALLS = 3


@dataclass(frozen=True)
class ActionStep(Step):
    """Ask the host to run an action, and go on with its results."""

    name: str
    provides: tuple[str, ...] = ()

    kind = "action"
    keys = frozenset({"provides"})
    waits_for = Waiting.ACTION  # for a moment: while the host calls the action

    def defines(self) -> Iterator[str]:
        yield from self.provides

    def enter(self, run: Run) -> Transition:
        return self._call(run)

    def resume(self, run: Run, event: Input) -> Transition:
        if isinstance(event, ActionCompleted):
            run.cancel_timers(TimerKind.ACTION)
            run.attributes.update(event.slot_updates)
            return Next()
        if isinstance(event, TimerFired) and event.kind == TimerKind.ACTION:
            if run.retries + 1 >= MAX_ACTION_CALLS:
                return Finish(f"action {self.name} never answered")
            run.retries += 1
            return self._call(run)
        return Pause(Waiting.ACTION)

    def _call(self, run: Run) -> Transition:
        run.emit(CallAction(self.name, self.id))
        run.set_timer(TimerKind.ACTION, self.id, ACTION_PATIENCE)
        return Pause(Waiting.ACTION)


def parse(reader: StepReader) -> ActionStep:
    name = reader.text()
    assert name is not None
    return ActionStep(**reader.common(), name=name.strip(), provides=reader.strings("provides"))

"""`action`: run a custom action written with rasa-sdk (a coupon, a lookup in your shop …).

```yaml
- action: action_issue_coupon
  provides: [coupon_code]       # slots it sets, usable as {coupon_code} in later texts
  once_per_person: true         # optional: called for a person once ever (a welcome coupon)
```
It sees the phone as the sender id; `first_name`, the attributes and the answers as slots; and
the subscriber's latest text. Texts it utters are sent (pictures with its last text); the slots
it sets become subscriber attributes.

The action runs once the person's text is answered, so its texts follow the flow's earlier ones
by a moment, through the outbox. If Parley restarts while an action runs, the action is called
again two minutes later (three calls at most, then the flow ends): write actions so that calling
twice is harmless, as the coupon example does (the same person gets the same code).

With `once_per_person: true` the step calls its action for a person once in their life,
whichever flow's step does: the action's name is claimed for the person before the call, and
a person who had it already (a rejoin after STOP and START, a second confirmation at the same
moment, an offer's coupon after the welcome's) goes on to the next step without a call, so
without the action's texts and slots.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot.domain.effects import CallAction, FlowEffect
from bot.domain.vocabulary import TimerKind
from bot.engine.inputs import ActionCompleted, Input
from bot.engine.state import Waiting
from bot.engine.steps.base import Finish, Next, Pause, StepReader, Transition
from bot.engine.steps.calls import ACTION_PATIENCE, MAX_ACTION_CALLS, CallingStep

if TYPE_CHECKING:
    from bot.engine.runtime import Run

__all__ = ["ACTION_PATIENCE", "MAX_ACTION_CALLS", "ActionStep", "parse"]


@dataclass(frozen=True)
class ActionStep(CallingStep):
    """Ask the host to run an action, and go on with its results."""

    name: str
    provides: tuple[str, ...] = ()
    once_per_person: bool = False  # the host claims it for the person before calling

    kind = "action"
    keys = frozenset({"provides", "once_per_person"})

    def defines(self) -> Iterator[str]:
        yield from self.provides

    def call(self, run: Run) -> FlowEffect:
        # Only the first call claims: a call made again (the host died mid-call) is the same one.
        return CallAction(self.name, self.id, self.once_per_person and run.retries == 0)

    def never_answered(self, run: Run) -> Transition:
        return Finish(f"action {self.name} never answered")

    def resume(self, run: Run, event: Input) -> Transition:
        if isinstance(event, ActionCompleted):
            run.cancel_timers(TimerKind.ACTION)
            run.attributes.update(event.slot_updates)
            return Next()
        if self.is_guard(event):
            return self.call_again(run)
        return Pause(Waiting.ACTION)


def parse(reader: StepReader) -> ActionStep:
    name = reader.text()
    assert name is not None
    once = reader.value("once_per_person", False)
    if not isinstance(once, bool):
        raise reader.fail("once_per_person must be true or false", "once_per_person")
    return ActionStep(
        **reader.common(),
        name=name.strip(),
        provides=reader.strings("provides"),
        once_per_person=once,
    )

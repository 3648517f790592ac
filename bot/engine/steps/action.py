"""`action`: run a custom action written with rasa-sdk (a coupon, a lookup in your shop …).

```yaml
- action: action_issue_coupon
  provides: [coupon_code]       # slots it sets, usable as {coupon_code} in later texts
```
It sees the phone as the sender id; `first_name`, the attributes and the answers as slots; and
the subscriber's latest text. Texts it utters are sent (pictures with its last text); the slots
it sets become subscriber attributes.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot.effects import CallAction
from bot.engine.inputs import ActionCompleted, Input
from bot.engine.steps.base import Next, Pause, Step, StepReader, Transition, Waiting

if TYPE_CHECKING:
    from bot.engine.runtime import Run


@dataclass(frozen=True)
class ActionStep(Step):
    """Ask the host to run an action, and go on with its results."""

    name: str
    provides: tuple[str, ...] = ()

    kind = "action"
    keys = frozenset({"provides"})
    waits_for = Waiting.ACTION  # only for a moment: the host runs the action in the same turn

    def defines(self) -> Iterator[str]:
        yield from self.provides

    def enter(self, run: Run) -> Transition:
        run.emit(CallAction(self.name, self.id))
        return Pause(Waiting.ACTION)

    def resume(self, run: Run, event: Input) -> Transition:
        if isinstance(event, ActionCompleted):
            run.attributes.update(event.slot_updates)
            return Next()
        return Pause(Waiting.ACTION)


def parse(reader: StepReader) -> ActionStep:
    name = reader.text()
    assert name is not None
    return ActionStep(**reader.common(), name=name.strip(), provides=reader.strings("provides"))

"""What the steps that call something outside (`action`, `http`) share: the call is made by the
host once the turn is stored, and a timer stands guard in case its result never comes."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from bot.domain.effects import FlowEffect
from bot.domain.vocabulary import TimerKind
from bot.engine.inputs import TimerFired
from bot.engine.state import Waiting
from bot.engine.steps.base import Pause, Step, Transition

if TYPE_CHECKING:
    from bot.engine.runtime import Run

# A result comes within seconds (an action server's timeout is 5 s, an http step's at most
# 30 s); one missing after this long never comes: the host died mid-call, or an agent had the
# chat when it came.
ACTION_PATIENCE = timedelta(minutes=2)
MAX_ACTION_CALLS = 3


class CallingStep(Step):
    """A step that asks the host for a call and waits (for a moment) for its result."""

    waits_for = Waiting.ACTION  # while the host makes the call

    def call(self, run: Run) -> FlowEffect:
        """The effect that asks the host for the call."""
        raise NotImplementedError

    def never_answered(self, run: Run) -> Transition:
        """Where the flow goes when no call of `MAX_ACTION_CALLS` came back."""
        raise NotImplementedError

    def enter(self, run: Run) -> Transition:
        return self.ask_host(run)

    def ask_host(self, run: Run) -> Transition:
        """Ask for the call, with a timer that asks again if no result comes."""
        run.emit(self.call(run))
        run.set_timer(TimerKind.ACTION, self.id, ACTION_PATIENCE)
        return Pause(Waiting.ACTION)

    def call_again(self, run: Run) -> Transition:
        """The guard timer fired: call again, or give up after the last call."""
        if run.retries + 1 >= MAX_ACTION_CALLS:
            return self.never_answered(run)
        run.retries += 1
        return self.ask_host(run)

    def is_guard(self, event: object) -> bool:
        """Whether `event` is this step's guard timer firing."""
        return isinstance(event, TimerFired) and event.kind == TimerKind.ACTION

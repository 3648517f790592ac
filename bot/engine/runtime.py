"""The engine: start or resume a flow. Pure: a flow, a state, an input and `now` in; effects out."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from bot.domain.effects import (
    CancelTimers,
    EndFlow,
    EnterStep,
    FlowEffect,
    RecordAnswer,
    ScheduleTimer,
    Send,
    SetAttributes,
)
from bot.domain.vocabulary import Purpose, TimerKind
from bot.engine.inputs import EventArrived, Input, Reply, TimerFired
from bot.engine.model import Flow
from bot.engine.state import FlowState, Origin, Waiting
from bot.engine.steps.base import END, Finish, Next, Step, Transition
from bot.engine.templates import Filled, Template

MAX_STEPS_PER_TURN = 100  # a flow that loops without waiting is stopped, not left spinning
# The variables whose values the brand supplied (its settings, the data its shop posted to the
# API): a URL in them may become a tracked link. Names, answers and attributes came from people.
BRAND_NAMES = frozenset({"brand", "support", "event"})
FLOW_CHANGED_TEXT = (
    "Sorry, this conversation has ended because it was updated. Reply HELP for help."
)


@dataclass(frozen=True)
class Context:
    """What the engine may read about the world: the time, the brand, the subscriber."""

    now: datetime
    phone: str
    brand: str = ""
    support: str = ""
    first_name: str | None = None
    attributes: Mapping[str, Any] = field(default_factory=dict)
    event: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class Outcome:
    """The new state (None once the flow has ended) and the effects to apply, in order.

    `taken` is False when the flow was handed a text its step cannot take (it waits for a
    timer, an action or an agent, not an answer): nothing changed, and a human should read it.
    `understood` is False when the flow ended because it could not make sense of the text (an
    `ask` out of retries, a step edited away): the flow is over, and a human should read it.
    """

    state: FlowState | None
    effects: tuple[FlowEffect, ...]
    taken: bool = True
    understood: bool = True


def purpose_for(flow: Flow | None, origin: Origin) -> Purpose:
    """Marketing flows are promotional; others answer the person, or inform after events."""
    if flow is not None and flow.settings.promotional:
        return Purpose.PROMOTIONAL
    return Purpose.TRANSACTIONAL if origin is Origin.EVENT else Purpose.REPLY


class Run:
    """One turn of a flow: the steps it passes through collect effects here."""

    def __init__(self, flow: Flow, state: FlowState, context: Context) -> None:
        self.flow = flow
        self.state = state
        self.context = context
        self.now = context.now
        self.answers: dict[str, Any] = dict(state.answers)
        self.attributes: dict[str, Any] = dict(context.attributes)
        self.retries = state.retries
        self.effects: list[FlowEffect] = []

    @property
    def purpose(self) -> Purpose:
        return purpose_for(self.flow, self.state.origin)

    def variables(self) -> dict[str, Any]:
        """What templates and conditions can name: attributes, answers, then built-ins."""
        return {
            **self.attributes,
            **self.answers,
            "attributes": self.attributes,
            "event": dict(self.context.event or self.state.event),
            "brand": self.context.brand,
            "support": self.context.support,
            "phone": self.context.phone,
            "first_name": self.attributes.get("first_name") or self.context.first_name,
        }

    def render(self, template: Template) -> str:
        return template.render(self.variables())

    def fill(self, template: Template) -> Filled:
        """The text filled in, knowing which stretches the brand wrote."""
        return template.fill(self.variables(), trusted=BRAND_NAMES)

    def say(self, template: Template, media_urls: tuple[str, ...] = ()) -> None:
        filled = self.fill(template)
        self.effects.append(Send(filled.text, self.purpose, media_urls, filled.brand_spans))

    def say_text(self, body: str, media_urls: tuple[str, ...] = ()) -> None:
        """Say a fixed wording of Parley's own."""
        self.effects.append(Send(body, self.purpose, media_urls, Filled.written(body).brand_spans))

    def set_timer(self, kind: TimerKind, step: str | None, after: timedelta) -> None:
        self.effects.append(ScheduleTimer(kind, step, self.now + after))

    def cancel_timers(self, kind: TimerKind | None = None) -> None:
        self.effects.append(CancelTimers(kind))

    def save_answer(self, step: Step, name: str, value: Any) -> None:
        self.answers[name] = value
        self.effects.append(RecordAnswer(self.flow.name, step.id, name, value))

    def set_attributes(self, values: Mapping[str, Any]) -> None:
        self.attributes.update(values)
        self.effects.append(SetAttributes(dict(values)))

    def emit(self, effect: FlowEffect) -> None:
        self.effects.append(effect)


def initial_state(
    flow: Flow, now: datetime, *, origin: Origin, event: Mapping[str, Any] | None
) -> FlowState:
    """A conversation of this flow before its first step."""
    return FlowState(
        flow=flow.name,
        version=flow.version,
        step=None,
        waiting=None,
        started_at=now,
        origin=origin,
        event=dict(event or {}),
    )


def start(flow: Flow, context: Context, *, origin: Origin = Origin.PERSON) -> Outcome:
    """Begin the flow at its first step."""
    state = initial_state(flow, context.now, origin=origin, event=context.event)
    run = Run(flow, state, context)
    first = flow.steps[0].id if flow.steps else None
    return _advance(run, first)


def resume(flow: Flow, state: FlowState, event: Input, context: Context) -> Outcome:
    """Hand a paused flow the input it was waiting for (or one that ends it)."""
    run = Run(flow, state, context)
    if isinstance(event, EventArrived) and event.type in flow.settings.cancel_on:
        return _finish(run, f"cancelled by {event.type}")
    if isinstance(event, TimerFired) and event.kind is TimerKind.EXPIRY:
        if state.waiting is not Waiting.ANSWER or event.step not in (None, state.step):
            return Outcome(state, ())  # a stale expiry: the flow has moved on since
        return _finish(run, "expired")
    step = flow.step(state.step)
    if step is None or step.waits_for is None or step.waits_for is not state.waiting:
        # The marketer removed (or reshaped) the step this person was on: end politely.
        run.say_text(FLOW_CHANGED_TEXT)
        return _finish(run, "flow changed", understood=not isinstance(event, Reply))
    if isinstance(event, Reply) and step.waits_for is not Waiting.ANSWER:
        # A text while the flow waits for time to pass (the welcome series' day): the flow
        # goes on as planned, and the text is not lost: the host passes it to a human.
        return Outcome(state, (), taken=False)
    return _follow(run, step, step.resume(run, event))


def unexpected_reply(flow: Flow, state: FlowState, context: Context) -> Filled | None:
    """The flow's answer to a text it cannot take, filled in; None when it has none."""
    if flow.unexpected_reply is None:
        return None
    return Run(flow, state, context).fill(flow.unexpected_reply)


def _advance(run: Run, step_id: str | None) -> Outcome:
    entered: set[str] = set()
    for _ in range(MAX_STEPS_PER_TURN):
        if step_id is None or step_id == END:
            return _finish(run, "completed")
        step = run.flow.step(step_id)
        if step is None:
            return _finish(run, f"missing step {step_id}")
        if step.id in entered:
            # Coming back to a step without pausing is a loop: stop before it texts again.
            return _finish(run, "looped without waiting")
        entered.add(step.id)
        run.retries = 0
        run.emit(EnterStep(run.flow.name, step.id))
        transition = step.enter(run)
        if not isinstance(transition, Next):
            return _follow(run, step, transition)
        step_id = _target(run, step, transition)
    return _finish(run, "looped without waiting")


def _follow(run: Run, step: Step, transition: Transition) -> Outcome:
    if isinstance(transition, Next):
        return _advance(run, _target(run, step, transition))
    if isinstance(transition, Finish):
        return _finish(run, transition.reason, understood=transition.understood)
    if transition.waiting is Waiting.ANSWER:
        run.set_timer(TimerKind.EXPIRY, step.id, run.flow.settings.expires_after)
    state = run.state.with_changes(
        version=run.flow.version,
        step=step.id,
        waiting=transition.waiting,
        retries=run.retries,
        answers=run.answers,
    )
    return Outcome(state, tuple(run.effects))


def _target(run: Run, step: Step, transition: Next) -> str | None:
    return transition.step or step.next or run.flow.following(step)


def _finish(run: Run, reason: str, *, understood: bool = True) -> Outcome:
    run.cancel_timers()
    run.emit(EndFlow(run.flow.name, reason))
    return Outcome(None, tuple(run.effects), understood=understood)

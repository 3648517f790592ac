"""Golden dialogs for the flow engine: each tests/engine_cases/*.yaml is one conversation.

A case file holds a `description`, an inline `flow` document, an optional `context`
(`attributes`, `first_name`, `brand`, `support`, `phone`) and `turns`. Each turn gives one input
and what it must produce:

    - start: {}                         # or {origin: event, event: {cart_url: …}}
    - reply: "yes"
    - timer: {kind: timeout, step: ask_x}
    - event: {type: order_placed, data: {}}
    - action_done: {step: coupon, slots: {coupon_code: SAVE10}}
    - http_answered: {step: lookup, status: 200, json: {order: {status: shipped}}}
    - http_answered: {step: lookup, problem: "no answer within 5 s"}
    - handed_back: {}

with optional `at: 1d` (the turn's time, from the case's fixed start), optional `flow:` (an
edited flow document that replaces the old one from this turn on, as after a deploy),
`expect:` (the effects, in order, in the compact form of `compact_effect`; a turn without it
does not compare effects), `state:` (`ended`, or `{step, waiting, retries}`, plus `answers`
when given) and `taken:` (false when the step cannot take the reply: a human should read
it). Like the host, the runner stores what `set_attributes` and an action's slots set, so
later turns see them, and reads an http step's answer with the step (`HttpStep.read`).
A case may set `xfail: "BUG: …"` to record a known engine bug (strict: it must still fail).
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.domain.effects import (
    CallAction,
    CallHttp,
    CancelTimers,
    ChangeTags,
    EndFlow,
    EnterStep,
    FlowEffect,
    HandOff,
    RecordAnswer,
    ScheduleTimer,
    Send,
    SetAttributes,
    SetEmail,
    StartFlow,
)
from bot.domain.http_calls import HttpReply
from bot.domain.vocabulary import Purpose, TimerKind
from bot.domain.yamlsource import load_yaml
from bot.engine.durations import format_duration, parse_duration
from bot.engine.inputs import (
    ActionCompleted,
    EventArrived,
    HandedBack,
    Input,
    Reply,
    TimerFired,
)
from bot.engine.model import Flow
from bot.engine.parser import parse_flow
from bot.engine.runtime import Context, Outcome, resume, start
from bot.engine.state import FlowState, Origin
from bot.engine.steps.http import HttpStep
from tests.support.paths import SUPPORT

CASES = SUPPORT / "engine_cases"
CASE_NOW = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)  # a Monday afternoon
CASE_KEYS = frozenset({"description", "flow", "context", "turns", "xfail"})
CONTEXT_KEYS = frozenset({"attributes", "first_name", "brand", "support", "phone"})
INPUT_KEYS = frozenset(
    {"start", "reply", "timer", "event", "action_done", "http_answered", "handed_back"}
)
TURN_KEYS = INPUT_KEYS | {"at", "flow", "expect", "state", "taken"}


def plain(value: Any) -> Any:
    """Located YAML values as plain dicts and lists, so they dump and compare as usual."""
    if isinstance(value, Mapping):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [plain(item) for item in value]
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return value


def read_case(path: Path) -> dict[str, Any]:
    """A case file, read like flow files are (so `yes` and `no` stay words)."""
    case = plain(load_yaml(path.read_text(encoding="utf-8")))
    unknown = set(case) - CASE_KEYS
    assert not unknown, f"{path.name}: unknown case keys {sorted(unknown)}"
    assert case.get("description"), f"{path.name}: a case needs a description"
    assert case.get("turns"), f"{path.name}: a case needs turns"
    return case


def build_flow(document: Any, name: str) -> Flow:
    """Parse an inline flow document; a case whose flow does not parse is a broken case."""
    text = document if isinstance(document, str) else yaml.safe_dump(document, sort_keys=False)
    parsed = parse_flow(text, f"{name}.flow")
    assert parsed.flow is not None, "\n".join(map(str, parsed.problems))
    return parsed.flow


def compact_effect(effect: FlowEffect, now: datetime) -> dict[str, Any]:
    """One effect in the compact form the case files use."""
    match effect:
        case Send(body=body, purpose=purpose, media_urls=media):
            if purpose is Purpose.REPLY and not media:
                return {"send": body}
            detail: dict[str, Any] = {"text": body, "purpose": purpose.value}
            if media:
                detail["media"] = list(media)
            return {"send": detail}
        case ScheduleTimer(kind=kind, step=step, due_at=due_at):
            return {
                "schedule": {
                    "kind": kind.value,
                    "step": step,
                    "after": format_duration(due_at - now),
                }
            }
        case CancelTimers(kind=kind):
            return {"cancel_timers": kind.value if kind else "all"}
        case SetAttributes(values=values):
            return {"set_attributes": plain(values)}
        case ChangeTags(add=add, remove=remove):
            tags = {"add": list(add), "remove": list(remove)}
            return {"tags": {key: value for key, value in tags.items() if value}}
        case RecordAnswer(step=step, name=name, value=value):
            return {"answer": {"step": step, "name": name, "value": plain(value)}}
        case SetEmail(address=address):
            return {"email": address}
        case EnterStep(step=step):
            return {"enter": step}
        case HandOff(reason=reason):
            return {"handoff": reason}
        case CallAction(name=name):
            return {"call_action": name}
        case CallHttp(request=request):
            call: dict[str, Any] = {"request": f"{request.method} {request.url}"}
            if request.headers:
                call["headers"] = {
                    name: "".join(map(str, value)) for name, value in request.headers
                }
            if request.body is not None:
                call["body"] = request.body
            return {"call_http": call}
        case StartFlow(name=name):
            return {"start_flow": name}
        case EndFlow(reason=reason):
            return {"end": reason}
    raise AssertionError(f"the golden runner does not know the effect {effect!r}")


def expand(expected: list[Any]) -> list[Any]:
    """`- repeat: {times: n, expect: [...]}` stands for its effects n times over."""
    effects: list[Any] = []
    for item in expected:
        if isinstance(item, Mapping) and "repeat" in item:
            effects.extend(expand(item["repeat"]["expect"]) * item["repeat"]["times"])
        else:
            effects.append(item)
    return effects


def compact_state(state: FlowState | None, expected: Any) -> Any:
    """The state as the case writes it; answers only when the case names them."""
    if state is None:
        return "ended"
    shown: dict[str, Any] = {"step": state.step, "waiting": state.waiting, "retries": state.retries}
    if isinstance(expected, Mapping) and "answers" in expected:
        shown["answers"] = plain(state.answers)
    return shown


def to_input(turn: Mapping[str, Any], flow: Flow) -> Input:
    """The input a (non-start) turn hands the paused flow."""
    if "reply" in turn:
        return Reply(str(turn["reply"]))
    if "timer" in turn:
        return TimerFired(TimerKind(turn["timer"]["kind"]), turn["timer"].get("step"))
    if "event" in turn:
        return EventArrived(turn["event"]["type"], turn["event"].get("data") or {})
    if "action_done" in turn:
        done = turn["action_done"]
        return ActionCompleted(done["step"], done.get("slots") or {})
    if "http_answered" in turn:
        answered = turn["http_answered"]
        step = flow.step(answered["step"])
        assert isinstance(step, HttpStep), f"{answered['step']} is not an http step"
        if "problem" in answered:
            return step.read(HttpReply.failed(answered["problem"]))
        document = answered.get("json")
        return step.read(HttpReply(answered.get("status", 200), document, "json" in answered))
    return HandedBack()


@dataclass
class Conversation:
    """What the host keeps between turns: the flow in force, the state and the profile."""

    flow: Flow
    context: dict[str, Any]
    state: FlowState | None = None

    def take(
        self, turn: Mapping[str, Any], number: int, case_name: str
    ) -> tuple[Outcome, datetime]:
        now = CASE_NOW + (parse_duration(turn["at"]) if "at" in turn else timedelta(0))
        if "flow" in turn:
            self.flow = build_flow(turn["flow"], f"{case_name}.turn{number}")
        if "action_done" in turn:  # the host stores an action's slots before resuming
            self.context["attributes"].update(turn["action_done"].get("slots") or {})
        if "start" in turn:
            options = turn["start"] or {}
            context = Context(now=now, event=options.get("event"), **self.context)
            outcome = start(self.flow, context, origin=Origin(options.get("origin", "person")))
        else:
            assert self.state is not None
            outcome = resume(
                self.flow, self.state, to_input(turn, self.flow), Context(now=now, **self.context)
            )
        for effect in outcome.effects:
            if isinstance(effect, SetAttributes):
                self.context["attributes"].update(effect.values)
        self.state = outcome.state
        return outcome, now


def run_case(path: Path) -> None:
    case = read_case(path)
    context = dict(case.get("context") or {})
    assert set(context) <= CONTEXT_KEYS, (
        f"unknown context keys {sorted(set(context) - CONTEXT_KEYS)}"
    )
    context.setdefault("phone", "+14155550123")
    context.setdefault("brand", "Parley")
    context["attributes"] = dict(context.get("attributes") or {})
    conversation = Conversation(build_flow(case["flow"], path.stem), context)
    expected_turns: list[Any] = []
    actual_turns: list[Any] = []
    for number, turn in enumerate(case["turns"], start=1):
        assert set(turn) <= TURN_KEYS, (
            f"turn {number}: unknown keys {sorted(set(turn) - TURN_KEYS)}"
        )
        inputs = set(turn) & INPUT_KEYS
        assert len(inputs) == 1, f"turn {number}: give exactly one input ({sorted(INPUT_KEYS)})"
        label = {key: turn[key] for key in inputs}
        expected_turns.append({"turn": number, **label})
        actual_turns.append({"turn": number, **label})
        if conversation.state is None and "start" not in turn:
            actual_turns[-1]["error"] = "the flow had already ended"
            break
        outcome, now = conversation.take(turn, number, path.stem)
        if "expect" in turn:
            expected_turns[-1]["expect"] = expand(turn["expect"] or [])
            actual_turns[-1]["expect"] = [compact_effect(effect, now) for effect in outcome.effects]
        if "state" in turn:
            expected_turns[-1]["state"] = turn["state"]
            actual_turns[-1]["state"] = compact_state(outcome.state, turn["state"])
        if "taken" in turn:
            expected_turns[-1]["taken"] = turn["taken"]
            actual_turns[-1]["taken"] = outcome.taken
    if expected_turns != actual_turns:
        diff = difflib.unified_diff(
            dump(expected_turns).splitlines(),
            dump(actual_turns).splitlines(),
            "expected",
            "actual",
            lineterm="",
        )
        pytest.fail(f"{path.name}: {case['description']}\n" + "\n".join(diff), pytrace=False)


def dump(value: Any) -> str:
    return yaml.safe_dump(
        value, sort_keys=False, allow_unicode=True, width=1000, default_flow_style=None
    )


def _params() -> list[Any]:
    params = []
    for path in sorted(CASES.glob("*.yaml")):
        reason = read_case(path).get("xfail")
        marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
        params.append(pytest.param(path, id=path.stem, marks=marks))
    return params


@pytest.mark.parametrize("path", _params())
def test_golden_case(path: Path) -> None:
    run_case(path)


def test_cases_cover_every_step_type() -> None:
    """A new step type needs a golden case too."""
    from bot.engine.steps import STEP_TYPES

    used = set()
    for path in CASES.glob("*.yaml"):
        flows = [read_case(path)["flow"]]
        flows += [turn["flow"] for turn in read_case(path)["turns"] if "flow" in turn]
        for document in flows:
            for step in build_flow(document, path.stem).steps:
                used.add(step.kind)
    assert set(STEP_TYPES) - used == set()


def test_loop_guard_sends_no_flood() -> None:
    flow = build_flow(
        {"flow": "spam", "steps": [{"id": "hello", "send": "Hi!"}, {"goto": "hello"}]}, "spam"
    )
    outcome = start(flow, Context(now=CASE_NOW, phone="+14155550123"))
    texts = [effect.body for effect in outcome.effects if isinstance(effect, Send)]
    assert outcome.effects[-1] == EndFlow("spam", "looped without waiting")
    assert texts in ([], ["Hi!"])

"""What to call a step where marketers read about it: its id, or what it does when it has none."""

from __future__ import annotations

from bot.engine.durations import format_duration
from bot.engine.model import Flow
from bot.engine.steps.action import ActionStep
from bot.engine.steps.base import Step, auto_step_id
from bot.engine.steps.branch import BranchStep
from bot.engine.steps.goto import GotoStep
from bot.engine.steps.http import HttpStep
from bot.engine.steps.set import SetStep
from bot.engine.steps.start_flow import StartFlowStep
from bot.engine.steps.wait import WaitStep

TEXT_SHOWN = 30  # characters of a text shown before "…"


def has_written_id(flow: Flow, step: Step) -> bool:
    """Whether the author gave the step its id (a step without one is named by its place)."""
    return step.id != auto_step_id(flow.steps.index(step))


def step_label(flow: Flow, step: Step) -> str:
    """The step's id as written, else what it does: "send: Welcome to…", "wait 1d"."""
    if has_written_id(flow, step):
        return step.id
    return describe_step(step)


def describe_step(step: Step) -> str:
    """What a step does, in a few words."""
    if isinstance(step, WaitStep):
        return f"wait {format_duration(step.duration)}"
    if isinstance(step, GotoStep):
        return f"goto {step.target}"
    if isinstance(step, StartFlowStep):
        return f"start_flow {step.flow}"
    if isinstance(step, ActionStep):
        return f"action {step.name}"
    if isinstance(step, HttpStep):
        return f"http {step.method} {shorten(step.url.source)}"
    if isinstance(step, SetStep):
        names = [name for name, _ in step.attributes] + [f"+{tag}" for tag in step.add_tags]
        names += [f"-{tag}" for tag in step.remove_tags]
        return f"set {shorten(', '.join(names))}".rstrip()
    if isinstance(step, BranchStep):
        first = step.cases[0].condition
        return f"branch: if {shorten(first.source)}" if first is not None else "branch"
    texts = [template for template, _ in step.templates()]
    return f"{step.kind}: {shorten(texts[0].source)}" if texts else step.kind


def shorten(text: str) -> str:
    """The start of a text, cut after a word within TEXT_SHOWN characters, with "…"."""
    text = " ".join(text.split())
    if len(text) <= TEXT_SHOWN:
        return text
    cut = text[: TEXT_SHOWN + 1]
    cut = cut.rsplit(" ", 1)[0] if " " in cut else cut[:TEXT_SHOWN]
    return f"{cut.rstrip(',;:.!?- ')}…"

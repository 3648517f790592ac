"""Step types, one module each, registered under the key that names them in a flow file."""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType

from bot.engine.steps import (
    action,
    ask,
    branch,
    end,
    goto,
    handoff,
    http,
    send,
    split,
    start_flow,
    wait,
)
from bot.engine.steps import set as set_step
from bot.engine.steps.base import COMMON_KEYS, Step, StepParser

_MODULES: tuple[ModuleType, ...] = (
    send, ask, branch, split, set_step, wait, handoff, action, http, goto, start_flow, end,
)  # fmt: skip


@dataclass(frozen=True)
class StepType:
    """A step type: its key in flow files, its reader, and its reference text (with example)."""

    kind: str
    step_class: type[Step]
    parse: StepParser
    doc: str

    @property
    def allowed_keys(self) -> frozenset[str]:
        return COMMON_KEYS | self.step_class.keys | {self.kind}


def _step_type(module: ModuleType) -> StepType:
    step_class = next(
        value
        for value in vars(module).values()
        if isinstance(value, type)
        and issubclass(value, Step)
        and value.__module__ == module.__name__
    )
    return StepType(step_class.kind, step_class, module.parse, (module.__doc__ or "").strip())


STEP_TYPES: dict[str, StepType] = {
    step_type.kind: step_type for step_type in map(_step_type, _MODULES)
}

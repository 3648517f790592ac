"""`end`: finish the flow, optionally with a last text.

```yaml
- end: "Thanks for your feedback!"     # or: end: true
```
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot.engine.steps.base import Finish, Step, StepReader, Transition
from bot.engine.templates import Template

if TYPE_CHECKING:
    from bot.engine.runtime import Run


@dataclass(frozen=True)
class EndStep(Step):
    """Say goodbye (if there is a text) and end."""

    text: Template | None = None

    kind = "end"

    def templates(self) -> Iterator[tuple[Template, int]]:
        if self.text is not None:
            yield self.text, self.line

    def enter(self, run: Run) -> Transition:
        if self.text is not None:
            run.say(self.text)
        return Finish()


def parse(reader: StepReader) -> EndStep:
    text = None if reader.value() is True else reader.template()
    return EndStep(**reader.common(), text=text)

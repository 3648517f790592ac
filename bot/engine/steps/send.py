"""`send`: text the subscriber, optionally with a picture (MMS).

```yaml
- send: "Thanks {first_name|there}! Here is 10% off: {coupon_code}"
  media: https://cdn.example.com/coupon.png   # optional
```
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot.engine.steps.base import Next, Step, StepReader, Transition
from bot.engine.templates import Template

if TYPE_CHECKING:
    from bot.engine.runtime import Run


@dataclass(frozen=True)
class SendStep(Step):
    """Send one text and go on."""

    text: Template
    media_urls: tuple[str, ...] = ()

    kind = "send"
    keys = frozenset({"media"})

    def templates(self) -> Iterator[tuple[Template, int]]:
        yield self.text, self.line

    def enter(self, run: Run) -> Transition:
        run.say(self.text, self.media_urls)
        return Next()


def parse(reader: StepReader) -> SendStep:
    text = reader.template()
    assert text is not None
    return SendStep(**reader.common(), text=text, media_urls=reader.strings("media"))

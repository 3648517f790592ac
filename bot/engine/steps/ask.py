"""`ask`: ask a question, check the answer, and save it.

```yaml
- id: ask_score                 # questions need an id: people wait on them
  ask: "How likely are you to recommend {brand}? Reply 0-10"
  expect: number                # choice, yes_no, number, rating, text, email or date
  min: 0
  max: 10
  save_as: score                # default: the step id
  retry: "Please reply with a number from 0 to 10."   # default: says what is expected
  max_retries: 2                # then on_invalid, or the flow ends and a human reads it
  on_invalid: give_up
  timeout: 1d                   # no answer in time: on_timeout, or the flow ends
  on_timeout: nudge
```
For `expect: choice`, list `options: [Small, Medium, Large]`; people may answer with the
option, its number (2) or its letter (b). `expect: text` takes `max_length` (default 500);
`expect: rating` takes `max` (default 5; stars and "4/5" count). An `expect: email` answer also
becomes the person's e-mail address (the profile's `email`, told to webhooks).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from bot.domain.effects import SetEmail
from bot.domain.vocabulary import TimerKind
from bot.engine.answers import AnswerKind, AnswerSpec, Valid, describe, validate_answer
from bot.engine.inputs import Input, Reply, TimerFired
from bot.engine.state import Waiting
from bot.engine.steps.base import Finish, Next, Pause, Step, StepReader, Transition
from bot.engine.templates import Template

if TYPE_CHECKING:
    from bot.engine.runtime import Run


@dataclass(frozen=True)
class AskStep(Step):
    """Send a question and wait for a valid answer."""

    question: Template
    spec: AnswerSpec
    save_as: str
    retry: Template | None = None
    max_retries: int = 2
    on_invalid: str | None = None
    timeout: timedelta | None = None
    on_timeout: str | None = None

    kind = "ask"
    keys = frozenset(
        {
            "expect", "options", "min", "max", "integer", "max_length", "save_as", "retry",
            "max_retries", "on_invalid", "timeout", "on_timeout",
        }
    )  # fmt: skip
    waits_for = Waiting.ANSWER

    def jumps(self) -> Iterator[tuple[str, int]]:
        yield from super().jumps()
        for key, target in (("on_invalid", self.on_invalid), ("on_timeout", self.on_timeout)):
            if target is not None:
                yield target, self.line_of(key)

    def templates(self) -> Iterator[tuple[Template, int]]:
        yield self.question, self.line
        if self.retry is not None:
            yield self.retry, self.line

    def defines(self) -> Iterator[str]:
        yield self.save_as

    def enter(self, run: Run) -> Transition:
        run.say(self.question)
        if self.timeout is not None:
            run.set_timer(TimerKind.TIMEOUT, self.id, self.timeout)
        return Pause(Waiting.ANSWER)

    def resume(self, run: Run, event: Input) -> Transition:
        if isinstance(event, TimerFired) and event.kind is TimerKind.TIMEOUT:
            return Next(self.on_timeout) if self.on_timeout else Finish("no answer")
        if not isinstance(event, Reply):
            return Pause(Waiting.ANSWER)
        result = validate_answer(event.text, self.spec, today=run.now.date())
        if isinstance(result, Valid):
            run.save_answer(self, self.save_as, result.value)
            if self.spec.kind is AnswerKind.EMAIL:
                run.emit(SetEmail(str(result.value)))
            if self.timeout is not None:
                run.cancel_timers(TimerKind.TIMEOUT)
            return Next()
        run.retries += 1
        if run.retries > self.max_retries:
            if self.timeout is not None:
                run.cancel_timers(TimerKind.TIMEOUT)
            if self.on_invalid:
                return Next(self.on_invalid)
            return Finish("no valid answer", understood=False)
        if self.retry is not None:
            run.say(self.retry)
        else:
            run.say_text(f"Sorry, I didn't get that. Please send {describe(self.spec)}.")
        return Pause(Waiting.ANSWER)


def parse(reader: StepReader) -> AskStep:
    common = reader.common()
    kind_name = reader.value("expect", "text")
    try:
        kind = AnswerKind(kind_name)
    except ValueError:
        known = ", ".join(kind.value for kind in AnswerKind)
        message = f"expect: unknown answer type {kind_name!r} (use {known})"
        raise reader.fail(message, "expect") from None
    options = reader.strings("options")
    if kind is AnswerKind.CHOICE and len(options) < 2:
        raise reader.fail("a choice question needs at least two options", "options")
    if options and kind is not AnswerKind.CHOICE:
        raise reader.fail("options only go with expect: choice", "options")
    spec = _spec(reader, kind, options)
    question = reader.template()
    assert question is not None
    return AskStep(
        **common,
        question=question,
        spec=spec,
        save_as=reader.name("save_as") or common["id"],
        retry=reader.template("retry", required=False),
        max_retries=reader.integer("max_retries", 2),
        on_invalid=reader.name("on_invalid"),
        timeout=reader.duration("timeout", required=False),
        on_timeout=reader.name("on_timeout"),
    )


def _spec(reader: StepReader, kind: AnswerKind, options: tuple[str, ...]) -> AnswerSpec:
    minimum, maximum = reader.number("min"), reader.number("max")
    if kind is AnswerKind.RATING:
        minimum = 1 if minimum is None else minimum
        maximum = 5 if maximum is None else maximum
    if minimum is not None and maximum is not None and minimum > maximum:
        raise reader.fail(f"min ({minimum}) is above max ({maximum})", "min")
    integer = reader.value("integer", kind is AnswerKind.RATING)
    if not isinstance(integer, bool):
        raise reader.fail("integer must be true or false", "integer")
    return AnswerSpec(
        kind=kind,
        options=options,
        minimum=minimum,
        maximum=maximum,
        max_length=reader.integer("max_length", 500, minimum=1),
        integer=integer,
    )

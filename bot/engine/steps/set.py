"""`set`: remember something about the subscriber: attributes and tags.

```yaml
- set:
    attributes:
      preferred_size: "{size}"    # text may use templates
      vip: true
    add_tags: [surveyed]
    remove_tags: [cart_open]
```
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bot.domain.effects import ChangeTags
from bot.engine.steps.base import Next, Step, StepReader, Transition
from bot.engine.templates import Template, TemplateError, parse_template

if TYPE_CHECKING:
    from bot.engine.runtime import Run


@dataclass(frozen=True)
class SetStep(Step):
    """Store attributes and change tags."""

    attributes: tuple[tuple[str, Template | Any], ...] = ()
    add_tags: tuple[str, ...] = ()
    remove_tags: tuple[str, ...] = ()

    kind = "set"

    def templates(self) -> Iterator[tuple[Template, int]]:
        for _, value in self.attributes:
            if isinstance(value, Template):
                yield value, self.line

    def defines(self) -> Iterator[str]:
        for name, _ in self.attributes:
            yield name

    def enter(self, run: Run) -> Transition:
        if self.attributes:
            run.set_attributes(
                {
                    name: run.render(value) if isinstance(value, Template) else value
                    for name, value in self.attributes
                }
            )
        if self.add_tags or self.remove_tags:
            run.emit(ChangeTags(self.add_tags, self.remove_tags))
        return Next()


def parse(reader: StepReader) -> SetStep:
    body = reader.mapping()
    unknown = set(body) - {"attributes", "add_tags", "remove_tags"}
    if unknown:
        name = sorted(unknown)[0]
        raise reader.fail(f"set: unknown key {name!r} (use attributes, add_tags, remove_tags)")
    inner = type(reader)(body, "set", reader.index)
    attributes = inner.mapping("attributes") if "attributes" in body else {}
    values: list[tuple[str, Template | Any]] = []
    for name, value in attributes.items():
        if not name.isidentifier():
            raise inner.fail(
                f"attribute name {name!r} must be a single word like size", "attributes"
            )
        values.append((name, _value(inner, value)))
    return SetStep(
        **reader.common(),
        attributes=tuple(values),
        add_tags=inner.strings("add_tags"),
        remove_tags=inner.strings("remove_tags"),
    )


def _value(reader: StepReader, value: Any) -> Template | Any:
    if not isinstance(value, str):
        return value
    try:
        return parse_template(value)
    except TemplateError as error:
        raise reader.fail(f"attributes: {error.message}", "attributes") from None

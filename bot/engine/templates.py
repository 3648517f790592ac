"""Text templates for flow messages: `Hi {first_name|there}, thanks from {brand}!`."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from functools import cached_property

from bot.domain.urls import Span, urls_touching
from bot.engine.expressions import IDENTIFIER, SourceError, lookup

_BRACE = re.compile(r"\{\{|\}\}|[{}]")
_NAME_PATH = re.compile(rf"{IDENTIFIER}(?:\.{IDENTIFIER})*")
_CENTS = Decimal("0.01")


class TemplateError(SourceError):
    """Bad template; .message says what, .column (0-based offset into the source) says where."""


@dataclass(frozen=True)
class Placeholder:
    """A `{name|default}` slot in a template."""

    name: str  # dotted, e.g. "event.amount"
    default: str | None
    column: int  # where its "{" is
    path: tuple[str, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Split once here so that rendering, which runs for every text sent, does not.
        object.__setattr__(self, "path", tuple(self.name.split(".")))

    def render(self, variables: Mapping[str, object]) -> str:
        """The text that replaces this placeholder."""
        text = format_value(lookup(variables, self.path))
        if not text and self.default is not None:
            return self.default
        return text


@dataclass(frozen=True)
class Filled:
    """A filled-in text, and the stretches of it the brand wrote (merged, in order).

    Literal text, a placeholder's written default and the values of trusted names are the
    brand's; anything else (a name, an answer, an attribute) came from a person.
    """

    text: str
    brand_spans: tuple[Span, ...] = ()

    @classmethod
    def written(cls, text: str) -> Filled:
        """A text the brand wrote in full (an operator setting, a fixed wording)."""
        return cls(text, ((0, len(text)),) if text else ())


@dataclass(frozen=True)
class Template:
    """A parsed message text; immutable and hashable, so it can be cached."""

    source: str
    placeholders: tuple[Placeholder, ...]
    _parts: tuple[str | Placeholder, ...] = field(repr=False, compare=False)

    @property
    def names(self) -> frozenset[str]:
        """The top-level variable names the template reads."""
        return frozenset(self.placeholder_roots)

    @cached_property  # read for every text a campaign fills
    def placeholder_roots(self) -> tuple[str, ...]:
        """The top-level variable names the template reads, in order, each once."""
        return tuple(dict.fromkeys(placeholder.path[0] for placeholder in self.placeholders))

    def render(self, variables: Mapping[str, object]) -> str:
        """The text with every placeholder filled in from `variables`."""
        return "".join(
            part if isinstance(part, str) else part.render(variables) for part in self._parts
        )

    def render_encoded(self, variables: Mapping[str, object], encode: Callable[[str], str]) -> str:
        """The text with each placeholder's value passed through `encode` (for a URL, say)."""
        return "".join(
            part if isinstance(part, str) else encode(part.render(variables))
            for part in self._parts
        )

    @property
    def sole_placeholder(self) -> Placeholder | None:
        """The placeholder when the template is exactly one, without a default: `{total}`."""
        if len(self._parts) == 1 and isinstance(self._parts[0], Placeholder):
            return self._parts[0] if self._parts[0].default is None else None
        return None

    def fill(self, variables: Mapping[str, object], *, trusted: Collection[str]) -> Filled:
        """The rendered text, noting which stretches the brand wrote.

        `trusted` names the top-level variables whose values the brand supplied (its own
        settings, the data its shop posted), as opposed to what a person typed or imported.
        """
        pieces: list[str] = []
        spans: list[Span] = []
        position = 0
        for part in self._parts:
            if isinstance(part, str):
                text, brands = part, True
            else:
                text = part.render(variables)
                # A value equal to the written default reads exactly as the brand wrote it.
                brands = part.path[0] in trusted or text == part.default
            end = position + len(text)
            if brands and text:
                if spans and spans[-1][1] == position:
                    spans[-1] = (spans[-1][0], end)
                else:
                    spans.append((position, end))
            pieces.append(text)
            position = end
        return Filled("".join(pieces), tuple(spans))

    def values_at_urls(self, *, trusted: Collection[str]) -> list[Placeholder]:
        """The untrusted placeholders a URL runs into or starts right after (no space between).

        Probed with a one-letter value and with an empty one: either can join a value to a URL.
        """
        found: list[Placeholder] = []
        for probe in ("x", ""):
            pieces: list[str] = []
            spans: dict[Placeholder, Span] = {}
            position = 0
            for part in self._parts:
                text = part if isinstance(part, str) else probe
                if isinstance(part, Placeholder) and part.path[0] not in trusted:
                    spans[part] = (position, position + len(text))
                pieces.append(text)
                position += len(text)
            rendered = "".join(pieces)
            found.extend(
                placeholder
                for placeholder, span in spans.items()
                if placeholder not in found and urls_touching(rendered, [span])
            )
        return found


def format_value(value: object) -> str:
    """How a variable reads in a text message; "" for nothing."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return _format_float(value)
    if isinstance(value, list | tuple):
        return ", ".join(format_value(item) for item in value)
    if isinstance(value, Mapping):  # e.g. an event's {"size": "M"}: never a Python repr
        return ", ".join(f"{key}: {format_value(item)}" for key, item in value.items())
    return str(value)


def _format_float(value: float) -> str:
    if not math.isfinite(value):
        return ""  # nan or infinity would only confuse the reader; let the default show
    if value.is_integer():
        return str(int(value))
    # Half-up from the shortest repr, so 12.345 reads 12.35 as people expect, not 12.34.
    rounded = Decimal(repr(value)).quantize(_CENTS, rounding=ROUND_HALF_UP)
    if not rounded:
        return "0"  # not "-0" for -0.001
    return format(rounded, "f").rstrip("0").rstrip(".")


def _placeholder(source: str, start: int) -> tuple[Placeholder, int]:
    """The placeholder whose "{" is at `start`, and the offset just past its "}"."""
    end = source.find("}", start + 1)
    nested = source.find("{", start + 1)
    if end < 0 or 0 <= nested < end:
        raise TemplateError(
            "unclosed '{': end the placeholder with '}', or write '{{' for a literal brace", start
        )
    name, bar, default = source[start + 1 : end].partition("|")
    stripped = name.strip()
    if not stripped:
        raise TemplateError("empty placeholder: put a name inside, like {first_name}", start)
    if not _NAME_PATH.fullmatch(stripped):
        raise TemplateError(
            f"'{stripped}' is not a name: use letters, digits and _, with dots for"
            " nested values, like {event.amount}",
            start + 1 + name.index(stripped[0]),
        )
    return Placeholder(stripped, default.strip() if bar else None, start), end + 1


def parse_template(source: str) -> Template:
    """Parse a message text with {name} and {name|default} placeholders; raises TemplateError."""
    parts: list[str | Placeholder] = []
    literal: list[str] = []
    position = 0
    # search() from where the last piece ended, not finditer(): a placeholder's "}" must not
    # pair up with the brace after it ("{a}}}" is {a} then a literal "}").
    while match := _BRACE.search(source, position):
        literal.append(source[position : match.start()])
        brace = match.group()
        if brace == "}":
            raise TemplateError("stray '}': write '}}' for a literal brace", match.start())
        if brace == "{":
            placeholder, position = _placeholder(source, match.start())
            parts.append("".join(literal))
            parts.append(placeholder)
            literal = []
        else:
            literal.append(brace[0])
            position = match.end()
    literal.append(source[position:])
    parts.append("".join(literal))
    placeholders = tuple(part for part in parts if isinstance(part, Placeholder))
    return Template(source, placeholders, tuple(part for part in parts if part))

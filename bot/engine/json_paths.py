"""Dotted paths into a JSON document, as an `http` step's `save:` names fields: `order.eta`,
`items.0.sku` (a number picks a list's item, counting from 0)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final


class _Missing:
    """The value at a path that leads nowhere (unlike JSON's null, which is a value)."""

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Final = _Missing()
JsonPath = tuple[str, ...]


class JsonPathError(ValueError):
    """A path that cannot be read; the message says how to write one."""


def parse_json_path(text: object) -> JsonPath:
    """The parts of a path such as `order.items.0.sku`; raises JsonPathError."""
    if not isinstance(text, str) or not text.strip():
        raise JsonPathError("a field is written as a dotted path such as order.status")
    parts = tuple(text.strip().split("."))
    for part in parts:
        if not part or part != part.strip():
            raise JsonPathError(
                f"{text.strip()!r} is not a path: write field names joined by dots, such as "
                "order.status or items.0.sku"
            )
    return parts


def read_json_path(document: Any, path: JsonPath) -> Any:
    """The value at `path` in `document`, or MISSING when the path leads nowhere."""
    value = document
    for part in path:
        if isinstance(value, Mapping):
            if part not in value:
                return MISSING
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and part.isascii():
            index = int(part)
            if index >= len(value):
                return MISSING
            value = value[index]
        else:
            return MISSING
    return value

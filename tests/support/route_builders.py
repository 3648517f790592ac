"""Test-only: compile each route's URL builders once a run, not once an app.

Werkzeug turns every rule into two small Python functions (its URL builders) when the rule is
added to an app's map: an `ast` tree compiled with `compile()`, twice for each of Parley's 65
routes. That is three quarters of `create_app` (~20-45 ms of ~28-58 ms, by the machine's
speed), and the suite makes ~1 500 apps: about a fifth of the database tests' CPU. A production
process makes one app, so this is the tests' cost alone, and lives here.

The generated function depends only on the rule's parsed parts, its defaults (through their
converters) and whether unknown values are appended; it reads the rule's own converters through
the `self` it is bound to on each call. So one compiled function serves every app with the same
rule, bound anew to each app's rule as Werkzeug binds it. `_compile_builder` is Werkzeug's
internal method: where a release renames or changes it, `install` leaves Werkzeug as it is
(the tests are slower, never wrong), and `tests/unit/test_route_builders.py` says so.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Hashable
from typing import Any

from werkzeug.routing import Rule

Builder = Callable[..., tuple[str, str]]
_ORIGINAL: Callable[[Rule, bool], Builder] | None = getattr(Rule, "_compile_builder", None)


def install() -> bool:
    """Make Werkzeug reuse compiled URL builders; False where this Werkzeug has none to reuse."""
    original = _ORIGINAL
    if original is None:
        return False
    if getattr(Rule._compile_builder, "__wrapped__", None) is original:
        return True  # installed already
    compiled: dict[Hashable, Builder] = {}

    @functools.wraps(original)
    def compile_once(self: Rule, append_unknown: bool = True) -> Builder:
        try:
            key = _builder_key(self, append_unknown)
        except (AttributeError, TypeError):  # a Werkzeug that keeps its parts elsewhere
            return original(self, append_unknown)
        builder = compiled.get(key)
        if builder is None:
            builder = compiled[key] = original(self, append_unknown)
        return builder

    Rule._compile_builder = compile_once  # type: ignore[method-assign]
    return True


def _builder_key(rule: Rule, append_unknown: bool) -> Hashable:
    """Everything Werkzeug reads when it generates a rule's builder."""
    converters: dict[str, Any] = rule._converters
    defaults = tuple(
        sorted(
            (name, repr(value), _converter_key(converters.get(name)))
            for name, value in (rule.defaults or {}).items()
        )
    )
    return (rule.rule, tuple(rule._trace), defaults, append_unknown)


def _converter_key(converter: Any) -> Hashable:
    if converter is None:
        return None
    return (type(converter).__module__, type(converter).__qualname__, converter.regex)

"""Test-only: compile each route's URL builders once a run, not once an app.

Werkzeug turns every rule into two small Python functions (its URL builders) when the rule is
added to an app's map: an `ast` tree compiled with `compile()`, twice for each of Parley's 65
routes. That is three quarters of `create_app` (~20-45 ms of ~28-58 ms, by the machine's
speed), and the suite makes ~1 500 apps: 14-17 % of the SQLite database tests' CPU. A production
process makes one app, so this is the tests' cost alone, and lives here.

The generated function depends only on the rule's parsed parts, its defaults (through their
converters) and whether unknown values are appended; it reads the rule's own converters through
the `self` it is bound to on each call. So one compiled function serves every app with the same
rule, bound anew to each app's rule as Werkzeug binds it. `_compile_builder` is Werkzeug's
internal method: where a release renames it or changes its source (checked by hash, so that a
builder that starts to read something else is never shared), `install` leaves Werkzeug as it
is (the tests are slower, never wrong), and `tests/unit/test_route_builders.py` says so.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
from collections.abc import Callable, Hashable
from typing import Any

from werkzeug.routing import Rule

Builder = Callable[..., tuple[str, str]]
_ORIGINAL: Callable[[Rule, bool], Builder] | None = getattr(Rule, "_compile_builder", None)
# The sha256 of the `_compile_builder` that _builder_key was checked against (Werkzeug 3.1.9).
# After an upgrade that changes it, read the new source, make the key cover what it reads, and
# put the new hash here.
CHECKED_SOURCE = "a0ec55cf067ff5d5"


def install() -> bool:
    """Make Werkzeug reuse compiled URL builders; False where this Werkzeug has none to reuse."""
    original = _ORIGINAL
    if original is None or _source_hash(original) != CHECKED_SOURCE:
        return False
    if getattr(Rule._compile_builder, "__wrapped__", None) is original:
        return True  # installed already
    compiled: dict[Hashable, Builder] = {}

    @functools.wraps(original)
    def compile_once(self: Rule, append_unknown: bool = True) -> Builder:
        try:
            key = _builder_key(self, append_unknown)
        except (AttributeError, TypeError, ValueError):  # parts moved, or a default refused
            return original(self, append_unknown)
        builder = compiled.get(key)
        if builder is None:
            builder = compiled[key] = original(self, append_unknown)
        return builder

    Rule._compile_builder = compile_once  # type: ignore[method-assign]
    return True


def _source_hash(method: Callable[..., Any]) -> str:
    return hashlib.sha256(inspect.getsource(method).encode()).hexdigest()[:16]


def _builder_key(rule: Rule, append_unknown: bool) -> Hashable:
    """Everything Werkzeug reads when it generates a rule's builder: of a default, the text it
    writes into the builder when the rule's path holds it, else only its name."""
    converters: dict[str, Any] = rule._converters
    defaults = tuple(
        sorted(
            (name, converters[name].to_url(value) if name in converters else None)
            for name, value in (rule.defaults or {}).items()
        )
    )
    return (rule.rule, tuple(rule._trace), defaults, append_unknown)

"""What a JSON body may hold before any of it is stored: text both databases keep, numbers.

Python's json module accepts things no database column will: NaN and Infinity (and 1e400,
read as infinity), strings with a NUL (PostgreSQL's text refuses it) or half a UTF-16
surrogate pair (which cannot be encoded at all), and nesting deep enough to exhaust the
stack when it is written back out. Each would surface later as a 500, or worse, in a flow's
timer long after the API said 202.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from typing import Any

MAX_DEPTH = 20  # objects and arrays inside each other; real event data is a few levels deep
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def all_storable(texts: Iterable[str]) -> bool:
    """Whether no text holds anything `problem_in` would refuse: one search for all of them,
    since nearly every request is clean (joining cannot make a NUL or a lone surrogate)."""
    return _UNSTORABLE.search("".join(texts)) is None


def problem_in(value: Any, where: str, depth: int = 0) -> str | None:
    """A sentence saying what in `value` cannot be stored, naming where; None when all is well."""
    if depth > MAX_DEPTH:
        return f"{where}: nested more than {MAX_DEPTH} levels deep"
    if isinstance(value, str):
        found = _UNSTORABLE.search(value)
        if found is None:
            return None
        what = "a NUL character" if found.group() == "\x00" else "half a surrogate pair"
        return f"{where}: contains {what}, which cannot be stored"
    if isinstance(value, float) and not math.isfinite(value):
        return f"{where}: {value} is not a number JSON allows"
    if isinstance(value, dict):
        for key, item in value.items():
            found_problem = problem_in(key, f"{where}.{key}", depth + 1) or problem_in(
                item, f"{where}.{key}", depth + 1
            )
            if found_problem:
                return found_problem
    if isinstance(value, list):
        for index, item in enumerate(value):
            found_problem = problem_in(item, f"{where}[{index}]", depth + 1)
            if found_problem:
                return found_problem
    return None

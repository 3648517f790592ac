"""Read and write the durations flow files use for waits, timeouts and expiry: "30m", "1d 12h".

Pure: text in, `timedelta` out. Units are s, m (minutes, never months), h, d and w, written short
or long ("90 minutes", "2 hours", "a week"), alone or combined ("1d 12h", "1d12h", "1 hour and
30 minutes"). A bare number is refused, even where YAML hands us an int: "30" could mean seconds
or minutes, and a wait that is off by 60x is a mistake customers notice. Durations are whole
seconds, longer than zero and at most 365 days.
"""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal

__all__ = ["MAX_DURATION", "DurationError", "format_duration", "parse_duration"]

MAX_DURATION = timedelta(days=365)
_FORMS = "write it like 30s, 15m, 2h, 1d, 1w, 1d 12h or 90 minutes"

# (symbol, seconds, other spellings), largest first.
_UNITS: tuple[tuple[str, int, tuple[str, ...]], ...] = (
    ("w", 7 * 86_400, ("wk", "wks", "week", "weeks")),
    ("d", 86_400, ("day", "days")),
    ("h", 3_600, ("hr", "hrs", "hour", "hours")),
    ("m", 60, ("min", "mins", "minute", "minutes")),
    ("s", 1, ("sec", "secs", "second", "seconds")),
)
_SECONDS = {name: size for symbol, size, names in _UNITS for name in (symbol, *names)}
_SYMBOL = {name: symbol for symbol, _, names in _UNITS for name in (symbol, *names)}
_PLURAL = {symbol: names[-1] for symbol, _, names in _UNITS}  # "weeks", "days" …
# Weeks are read but not written: "8d" says more at a glance than "1w 1d".
_WRITTEN_UNITS = tuple((symbol, size) for symbol, size, _ in _UNITS if symbol != "w")

_AMOUNT = r"\d+(?:\.\d+)?"
# One amount and its unit, after an optional separator: "1d", " 12h", ", 30 mins", " and an hour".
_PART = re.compile(rf"\s*(?:(?:,|\band\b)\s*)?(?P<amount>{_AMOUNT}|an?\b)\s*(?P<unit>[a-z]+)\s*")
_BARE_NUMBER = re.compile(rf"[-+]?{_AMOUNT}")


class DurationError(ValueError):
    """A duration that cannot be read; the message says what is wrong and how to write it."""


def parse_duration(text: object) -> timedelta:
    """Read a duration such as "30m", "2 hours" or "1d 12h"; bare numbers are refused.

    Any value is welcome (YAML and settings hand over what they read); a non-duration raises
    DurationError.
    """
    if isinstance(text, bool) or not isinstance(text, str | int | float):
        raise DurationError(f"{text!r} is not a duration; {_FORMS}")
    written = str(text).strip()
    if not written:
        raise DurationError(f"the duration is empty; {_FORMS}")
    if _BARE_NUMBER.fullmatch(written):
        raise DurationError(_no_unit(written, written))
    if written.startswith("-"):
        raise DurationError(f"{written!r} is negative; a duration must be longer than zero")
    seconds = _seconds(written)
    if seconds != seconds.to_integral_value():
        raise DurationError(f"{written!r} is not a whole number of seconds")
    if seconds <= 0:
        raise DurationError(f"{written!r} is zero; a duration must be longer than zero")
    if seconds > MAX_DURATION.total_seconds():
        raise DurationError(f"{written!r} is longer than the maximum of 365 days")
    return timedelta(seconds=int(seconds))


def _seconds(written: str) -> Decimal:
    """The exact number of seconds a written duration adds up to."""
    lowered = written.lower()
    total = Decimal(0)
    seen: set[str] = set()
    position = 0
    while position < len(lowered):
        part = _PART.match(lowered, position)
        if part is None:
            rest = lowered[position:].strip(" ,")
            if _BARE_NUMBER.fullmatch(rest):
                raise DurationError(_no_unit(rest, written))
            where = "" if rest == written.lower() else f" in {written!r}"
            raise DurationError(f"cannot read {rest!r}{where} as a duration; {_FORMS}")
        unit = part["unit"]
        if unit not in _SECONDS:
            raise DurationError(
                f"unknown unit {unit!r} in {written!r}; use s, m, h, d or w ({_FORMS})"
            )
        if _SYMBOL[unit] in seen:
            raise DurationError(f"{written!r} gives {_PLURAL[_SYMBOL[unit]]} twice; {_FORMS}")
        seen.add(_SYMBOL[unit])
        amount = part["amount"]
        total += (Decimal(1) if amount in ("a", "an") else Decimal(amount)) * _SECONDS[unit]
        position = part.end()
    return total


def _no_unit(number: str, written: str) -> str:
    where = "" if number == written else f" in {written!r}"
    return (
        f"{number!r}{where} has no unit; add one, e.g. {number}m or {number}h "
        f"(units: s, m, h, d, w)"
    )


def format_duration(delta: timedelta) -> str:
    """The canonical form of a duration: "1d 2h", "30m", "45s"; `parse_duration` reads it back."""
    if delta < timedelta(0):
        raise ValueError(f"cannot write a negative duration ({delta})")
    # Timers work in whole seconds, so a fraction of one is dropped.
    seconds = delta.days * 86_400 + delta.seconds
    parts = []
    for symbol, size in _WRITTEN_UNITS:
        amount, seconds = divmod(seconds, size)
        if amount:
            parts.append(f"{amount}{symbol}")
    return " ".join(parts) or "0s"

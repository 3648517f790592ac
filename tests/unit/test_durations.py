"""Durations in flow files: what reads, what is refused and why, and the canonical written form."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta

import pytest

from bot.engine.durations import MAX_DURATION, DurationError, format_duration, parse_duration


def cases(table: Mapping[str, tuple[object, ...]]) -> list[object]:
    """Parametrize rows keyed by a readable id."""
    return [pytest.param(*row, id=case_id) for case_id, row in table.items()]


PARSED: dict[str, tuple[str, timedelta]] = {
    "seconds": ("30s", timedelta(seconds=30)),
    "minutes": ("15m", timedelta(minutes=15)),
    "hours": ("2h", timedelta(hours=2)),
    "days": ("1d", timedelta(days=1)),
    "weeks": ("1w", timedelta(weeks=1)),
    "combined": ("1d 12h", timedelta(days=1, hours=12)),
    "combined-tight": ("1d12h", timedelta(days=1, hours=12)),
    "combined-all": ("1w 1d 1h 1m 1s", timedelta(weeks=1, days=1, hours=1, minutes=1, seconds=1)),
    "any-order": ("30m 1h", timedelta(hours=1, minutes=30)),
    "comma": ("1d, 2h", timedelta(days=1, hours=2)),
    "and": ("1 hour and 30 minutes", timedelta(hours=1, minutes=30)),
    "long-minutes": ("90 minutes", timedelta(minutes=90)),
    "long-hours": ("2 hours", timedelta(hours=2)),
    "long-days": ("3 days", timedelta(days=3)),
    "long-week": ("1 week", timedelta(weeks=1)),
    "singular": ("1 minute", timedelta(minutes=1)),
    "short-words": ("2 hrs 5 mins", timedelta(hours=2, minutes=5)),
    "an-hour": ("an hour", timedelta(hours=1)),
    "a-day": ("a day", timedelta(days=1)),
    "upper-case": ("2H", timedelta(hours=2)),
    "title-case": ("2 Hours", timedelta(hours=2)),
    "padded": ("  45s ", timedelta(seconds=45)),
    "fraction": ("1.5h", timedelta(hours=1, minutes=30)),
    "a-year": ("365d", MAX_DURATION),
    "weeks-to-a-year": ("52w 1d", MAX_DURATION),
}


@pytest.mark.parametrize(("text", "expected"), cases(PARSED))
def test_parse_duration(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


# (what is written, words the error must contain)
REFUSED: dict[str, tuple[object, tuple[str, ...]]] = {
    "bare-number-text": ("30", ("has no unit", "30m", "30h")),
    "bare-int": (30, ("has no unit", "30m")),
    "bare-float": (1.5, ("has no unit", "1.5m")),
    "bare-zero": (0, ("has no unit",)),
    "trailing-number": ("1h30", ("'30' in '1h30' has no unit",)),
    "zero": ("0m", ("longer than zero",)),
    "zero-combined": ("0h 0m", ("longer than zero",)),
    "negative": ("-5m", ("negative",)),
    "too-long": ("366d", ("365 days",)),
    "too-long-weeks": ("53w", ("365 days",)),
    "months": ("5 months", ("unknown unit 'months'", "s, m, h, d or w")),
    "milliseconds": ("500ms", ("unknown unit 'ms'",)),
    "unit-twice": ("1h 2h", ("hours twice",)),
    "unit-twice-spelled-differently": ("1 minute 1m", ("minutes twice",)),
    "sub-second": ("0.5s", ("whole number of seconds",)),
    "words": ("soon", ("cannot read 'soon' as a duration", "15m")),
    "words-after": ("2h or so", ("cannot read 'or so' in '2h or so'",)),
    "unit-only": ("h", ("cannot read 'h'",)),
    "empty": ("", ("empty",)),
    "blank": ("   ", ("empty",)),
    "none": (None, ("not a duration",)),
    "bool": (True, ("not a duration",)),
    "list": (["1h"], ("not a duration",)),
}


@pytest.mark.parametrize(("text", "words"), cases(REFUSED))
def test_parse_duration_refuses(text: object, words: tuple[str, ...]) -> None:
    with pytest.raises(DurationError) as refused:
        parse_duration(text)  # type: ignore[arg-type]
    for word in words:
        assert word in str(refused.value)


def test_errors_show_the_accepted_forms() -> None:
    with pytest.raises(DurationError, match=r"30s, 15m, 2h, 1d, 1w, 1d 12h or 90 minutes"):
        parse_duration("soon")


def test_duration_error_is_a_value_error() -> None:
    assert issubclass(DurationError, ValueError)


FORMATTED: dict[str, tuple[timedelta, str]] = {
    "seconds": (timedelta(seconds=45), "45s"),
    "minutes": (timedelta(minutes=30), "30m"),
    "hours": (timedelta(hours=2), "2h"),
    "day-and-hours": (timedelta(days=1, hours=2), "1d 2h"),
    "every-unit": (timedelta(days=2, hours=3, minutes=4, seconds=5), "2d 3h 4m 5s"),
    "gaps": (timedelta(days=1, seconds=1), "1d 1s"),
    "weeks-as-days": (timedelta(weeks=1, days=1), "8d"),
    "ninety-minutes": (timedelta(minutes=90), "1h 30m"),
    "zero": (timedelta(0), "0s"),
    "sub-second-dropped": (timedelta(seconds=5, milliseconds=500), "5s"),
}


@pytest.mark.parametrize(("delta", "expected"), cases(FORMATTED))
def test_format_duration(delta: timedelta, expected: str) -> None:
    assert format_duration(delta) == expected


def test_format_refuses_negative() -> None:
    with pytest.raises(ValueError, match="negative"):
        format_duration(timedelta(minutes=-1))


@pytest.mark.parametrize("canonical", ["45s", "30m", "2h", "1d 2h", "2d 3h 4m 5s", "365d"])
def test_canonical_forms_round_trip(canonical: str) -> None:
    assert format_duration(parse_duration(canonical)) == canonical


@pytest.mark.parametrize(("text", "delta"), cases(PARSED))
def test_parse_reads_what_format_writes(text: str, delta: timedelta) -> None:
    assert parse_duration(format_duration(delta)) == delta

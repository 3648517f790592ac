"""Moments written by people and other systems: ISO 8601 text read as an aware UTC datetime."""

from __future__ import annotations

from datetime import UTC, datetime


def parse_moment(text: str) -> datetime:
    """An ISO date or date-time as aware UTC; one without an offset is taken as UTC.

    ValueError, saying what is wrong, for text that is no such moment (or one so near year 1
    or 9999 that it leaves the calendar in UTC).
    """
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        raise ValueError(f"{text!r} is outside the years 1 to 9999 in UTC") from None

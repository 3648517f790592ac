"""Phone numbers in, E.164 out."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TypeVar

import phonenumbers

T = TypeVar("T")
# Places remembered per exchange (see `by_exchange`): North America has under a million.
_EXCHANGES_KEPT = 65_536


class InvalidPhone(ValueError):
    """The text is not a phone number we can text."""


@functools.lru_cache(maxsize=65_536)  # parsing is slow and the same people text again and again
def normalise_phone(raw: str, default_region: str = "US") -> str:
    """E.164 form of `raw`: "(415) 555-0100" with region US is "+14155550100"."""
    text = (raw or "").strip()
    if not text:
        raise InvalidPhone("a phone number is required")
    try:
        number = phonenumbers.parse(text, default_region)
    except phonenumbers.NumberParseException:
        raise InvalidPhone(f"{raw!r} is not a phone number") from None
    if not phonenumbers.is_possible_number(number):
        raise InvalidPhone(f"{raw!r} is not a possible phone number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def exchange_of(phone: str) -> str:
    """The part of an E.164 number its place depends on: all but a North American number's
    four-digit line number ("+14155550100" -> "+1415555"); any other number whole."""
    if len(phone) == 12 and phone.startswith("+1") and phone[2:].isdigit():
        return phone[:-4]
    return phone


def by_exchange(function: Callable[[str], T]) -> Callable[[str], T]:
    """Remember `function(phone)` per exchange, for facts about where a number is.

    In the North American plan a number's region, type, time zones and geography follow its
    area code and exchange (NPA-NXX); the line number never changes them (phonenumbers'
    metadata for +1 decides them by prefixes of at most those six digits, checked in
    tests/unit/test_phone_exchanges.py). So a campaign's 100,000 people cost a few thousand
    slow lookups, not 100,000. Other numbers are remembered whole, as before.
    """
    kept: dict[str, T] = {}

    @functools.wraps(function)
    def remembered(phone: str) -> T:
        key = exchange_of(phone)
        try:
            return kept[key]
        except KeyError:
            pass
        value = function(phone)
        if len(kept) >= _EXCHANGES_KEPT:
            kept.clear()  # rare; cheaper than LRU bookkeeping on every call
        kept[key] = value
        return value

    return remembered


@by_exchange
def region_timezones(phone: str) -> tuple[str, ...]:
    """The IANA time zones a number's region spans (best effort, for quiet hours)."""
    from phonenumbers import timezone as phone_timezone

    number = phonenumbers.parse(phone, None)
    zones = phone_timezone.time_zones_for_number(number)
    return tuple(zone for zone in zones if zone != "Etc/Unknown")

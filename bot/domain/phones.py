"""Phone numbers in, E.164 out."""

from __future__ import annotations

import functools

import phonenumbers


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


def region_timezones(phone: str) -> tuple[str, ...]:
    """The IANA time zones a number's region spans (best effort, for quiet hours)."""
    from phonenumbers import timezone as phone_timezone

    number = phonenumbers.parse(phone, None)
    zones = phone_timezone.time_zones_for_number(number)
    return tuple(zone for zone in zones if zone != "Etc/Unknown")

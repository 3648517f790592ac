"""Where a recipient is: the time zones and country their quiet hours are judged in."""

from __future__ import annotations

import phonenumbers

from bot.domain.phones import by_exchange, region_timezones
from bot.domain.policy import is_known_zone


def zones_for(phone: str, timezone: str | None) -> tuple[str, ...]:
    """The recipient's IANA zones: their own valid zone, else every zone their number spans."""
    own = (timezone or "").strip()
    if own and is_known_zone(own):
        return (own,)
    return _number_zones(phone)


@by_exchange  # phonenumbers' lookups are slow; the same people and exchanges recur
def _number_zones(phone: str) -> tuple[str, ...]:
    try:
        zones = region_timezones(phone)
    except phonenumbers.NumberParseException:
        return ()  # the policy falls back to its default zone
    return tuple(zone for zone in zones if is_known_zone(zone))


@by_exchange
def country_of(phone: str) -> str | None:
    """The ISO country of an E.164 number ("+14155550100" -> "US"), or None when unknown."""
    try:
        number = phonenumbers.parse(phone, None)
    except phonenumbers.NumberParseException:
        return None
    # A number no region claims (an unassigned range) still has its calling code's main country.
    region = phonenumbers.region_code_for_number(number)
    if not region and number.country_code is not None:
        region = phonenumbers.region_code_for_country_code(number.country_code)
    return region if region and region.isalpha() and region != "ZZ" else None

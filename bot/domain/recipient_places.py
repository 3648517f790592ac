"""Where the law follows a recipient: their country, and their state ("US", "US-FL").

Their stored state wins (`attributes["state"]`, which the Shopify consent sync fills with the
province code; a full name such as "Florida" works too); else the state of their number's area
code, as phonenumbers' geocoder names it.
"""

from __future__ import annotations

import holidays
import phonenumbers
from phonenumbers import geocoder

from bot.domain.phones import by_exchange
from bot.domain.recipient_zones import country_of

# "Florida" -> "FL", from the holidays package, which names every US state and territory.
_US_STATE_CODES = {name.casefold(): code for name, code in holidays.US.subdivisions_aliases.items()}
# How phonenumbers' geocoder names two places apart from their plain names.
_US_STATE_CODES |= {"washington state": "WA", "washington d.c.": "DC"}
_US_STATES = frozenset(holidays.US.subdivisions)


def places_for(phone: str, stored_state: object = None) -> tuple[str, ...]:
    """The recipient's country and state(s): their stored state, else their number's."""
    country = country_of(phone)
    if country is None:
        return ()
    state = _state_code(country, stored_state)
    states = (state,) if state else number_states(phone)
    return (country, *(f"{country}-{code}" for code in states))


def _state_code(country: str, stored: object) -> str | None:
    """A stored state as its code: "FL", "fl" and "Florida" are "FL" for a US number."""
    if not isinstance(stored, str) or not stored.strip():
        return None
    text = stored.strip()
    if country != "US":  # a province code as the shop stored it ("ON")
        return text.upper() if len(text) <= 3 and text.isalnum() else None
    code = text.upper() if text.upper() in _US_STATES else _US_STATE_CODES.get(text.casefold())
    return code


@by_exchange  # the geocoder is slow; the same people and exchanges recur
def number_states(phone: str) -> tuple[str, ...]:
    """The US state(s) of a number's area code ("+13055550100" -> ("FL",)); () when unknown."""
    try:
        number = phonenumbers.parse(phone, None)
    except phonenumbers.NumberParseException:
        return ()
    if phonenumbers.region_code_for_number(number) != "US":
        return ()
    # "Florida", or "Miami, FL" where the area is known to the city.
    described = geocoder.description_for_number(number, "en")
    codes = []
    for part in described.split(","):
        word = part.strip()
        code = word if word in _US_STATES else _US_STATE_CODES.get(word.casefold())
        if code:
            codes.append(code)
    return tuple(codes[-1:])  # the state is the last part named

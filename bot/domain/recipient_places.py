"""Where the law follows a recipient: their country, and their state ("US", "US-FL").

Their stored state wins (`attributes["state"]`, which the Shopify consent sync fills with the
province code; a full name such as "Florida" works too); else the state of their number's area
code, as phonenumbers' geocoder names it (a table made from it: `area_code_states.py`).
"""

from __future__ import annotations

import functools

import phonenumbers

from bot.domain.area_code_states import AREA_CODE_STATES, PREFIX_STATES
from bot.domain.phones import by_exchange
from bot.domain.recipient_zones import country_of


@functools.cache
def _us_states() -> tuple[frozenset[str], dict[str, str]]:
    """The US state codes, and "florida" -> "FL" for every name of one.

    From the holidays package, which names every US state and territory; imported on first use
    because loading it was a tenth of the start-up of every `bot` process.
    """
    import holidays

    names = {name.casefold(): code for name, code in holidays.US.subdivisions_aliases.items()}
    # How phonenumbers' geocoder names two places apart from their plain names.
    names |= {"washington state": "WA", "washington d.c.": "DC"}
    return frozenset(holidays.US.subdivisions), names


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
    return us_state_code(text)


def us_state_code(name: str) -> str | None:
    """A US state's code from its code or name, in any case: "fl", "Florida" -> "FL"."""
    states, names = _us_states()
    return name.upper() if name.upper() in states else names.get(name.casefold())


@by_exchange  # parsing is the cost; the same people and exchanges recur
def number_states(phone: str) -> tuple[str, ...]:
    """The US state of a number's area code ("+13055550100" -> ("FL",)); () when unknown."""
    try:
        number = phonenumbers.parse(phone, None)
    except phonenumbers.NumberParseException:
        return ()
    if phonenumbers.region_code_for_number(number) != "US":
        return ()
    digits = str(number.national_number)
    # The few exchanges the geocoder places apart from their area code: longest prefix first.
    for end in range(len(digits), 3, -1):
        if (state := PREFIX_STATES.get(digits[:end])) is not None:
            return (state,)
    state = AREA_CODE_STATES.get(digits[:3])
    return (state,) if state else ()

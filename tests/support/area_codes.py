"""Build `bot/domain/area_code_states.py` from phonenumbers' geocoder.

    .venv/bin/python -m tests.support.area_codes > bot/domain/area_code_states.py

The service reads the small table; only this script and its test load the geocoder (every
country's place names, about 110 MB in each process that imports it).
"""

from __future__ import annotations

from collections import Counter, defaultdict

import phonenumbers
from phonenumbers.geodata import GEOCODE_DATA

from bot.domain.recipient_places import us_state_code

HEADER = '''\
"""The US state of each area code, as phonenumbers' geocoder names it. Generated: do not edit.

Rebuild after upgrading phonenumbers (tests/unit/test_area_code_states.py fails until then):
    .venv/bin/python -m tests.support.area_codes > bot/domain/area_code_states.py
A table rather than the geocoder itself: the geocoder loads every country's place names, about
110 MB in each web process, worker and clock, to answer this one question.
"""
'''


def state_of(description: str) -> str | None:
    """The state a geocoder description names: "Florida" or "Miami, FL" -> "FL"."""
    codes = [code for part in description.split(",") if (code := us_state_code(part.strip()))]
    return codes[-1] if codes else None  # the state is the last part named


def is_us(area_code: str) -> bool:
    """Whether phonenumbers places the area code in the US (not Canada or the Caribbean)."""
    number = phonenumbers.parse(f"+1{area_code}5550100", None)
    return phonenumbers.region_code_for_number(number) == "US"


def tables() -> tuple[dict[str, str], dict[str, str]]:
    """Area code -> state, and the longer prefixes the geocoder places in another state."""
    named: dict[str, dict[str, str]] = defaultdict(dict)  # area code -> {prefix: state}
    for prefix, names in GEOCODE_DATA.items():
        if prefix.startswith("1") and len(prefix) >= 4 and "en" in names:
            state = state_of(names["en"])
            if state:
                named[prefix[1:4]][prefix[1:]] = state
    area_codes: dict[str, str] = {}
    exceptions: dict[str, str] = {}
    for area_code, states in sorted(named.items()):
        if not is_us(area_code):
            continue
        # The area code's own entry, else what most of its exchanges say.
        usual = states.get(area_code) or Counter(states.values()).most_common(1)[0][0]
        area_codes[area_code] = usual
        for prefix in sorted(states, key=len):
            # Kept only where it differs from what its nearest named shorter prefix gives.
            shorter = [prefix[:end] for end in range(len(prefix) - 1, 3, -1)]
            inherited = next((states[p] for p in shorter if p in states), usual)
            if states[prefix] != inherited:
                exceptions[prefix] = states[prefix]
    return area_codes, dict(sorted(exceptions.items()))


def module_source() -> str:
    area_codes, exceptions = tables()
    lines = [HEADER, "AREA_CODE_STATES: dict[str, str] = {"]
    items = [f'"{code}": "{state}",' for code, state in area_codes.items()]
    lines += ["    " + " ".join(items[start : start + 8]) for start in range(0, len(items), 8)]
    lines += [
        "}",
        "# Longer prefixes (area code and exchange) in another state than their area code's.",
    ]
    lines += ["PREFIX_STATES: dict[str, str] = {"]
    lines += [f'    "{prefix}": "{state}",' for prefix, state in exceptions.items()]
    lines += ["}", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    print(module_source(), end="")

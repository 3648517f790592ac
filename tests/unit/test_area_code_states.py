"""A number's state comes from a table made from phonenumbers' geocoder: the two agree."""

from __future__ import annotations

import pytest

from bot.domain import area_code_states
from bot.domain.recipient_places import number_states
from tests.support import area_codes


def test_the_table_is_what_the_installed_geocoder_says() -> None:
    expected = area_codes.tables()
    actual = (area_code_states.AREA_CODE_STATES, area_code_states.PREFIX_STATES)
    assert actual == expected, (
        "phonenumbers' geocoder changed: rebuild the table with"
        " `.venv/bin/python -m tests.support.area_codes > bot/domain/area_code_states.py`"
    )


def test_the_table_covers_every_us_area_code_the_geocoder_names() -> None:
    assert len(area_code_states.AREA_CODE_STATES) >= 359


@pytest.mark.parametrize(
    ("phone", "states"),
    [
        ("+13055550100", ("FL",)),  # Miami
        ("+12125550100", ("NY",)),
        ("+12015550100", ("NJ",)),
        ("+12016310100", ("NY",)),  # an exchange the geocoder places across the river
        ("+14165550100", ()),  # Toronto: not a US state
        ("+18005550100", ()),  # toll-free: nowhere
        ("+442071234567", ()),
        ("not a number", ()),
    ],
)
def test_a_numbers_state(phone: str, states: tuple[str, ...]) -> None:
    assert number_states(phone) == states


def test_the_service_never_loads_the_geocoder() -> None:
    import subprocess
    import sys

    probe = (
        "import sys, bot.app; from bot.domain.recipient_places import number_states;"
        " number_states('+13055550100'); print('phonenumbers.geocoder' in sys.modules)"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert loaded == "False"  # about 110 MB in every process that imports it

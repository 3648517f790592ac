"""Facts about where a number is are remembered per exchange: the line number never changes them."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.domain.phones import exchange_of, region_timezones
from bot.domain.recipient_places import number_states
from bot.domain.recipient_zones import country_of

# Every area code and exchange, valid or not (an invalid one must stay invalid for every line).
exchanges = st.tuples(st.integers(200, 999), st.integers(0, 999)).map(
    lambda parts: f"+1{parts[0]}{parts[1]:03d}"
)
lines = st.integers(0, 9999).map(lambda line: f"{line:04d}")


def where(phone: str) -> tuple[object, ...]:
    """What the send policy learns from a number, looked up afresh (no memory)."""
    return (
        region_timezones.__wrapped__(phone),  # type: ignore[attr-defined]
        country_of.__wrapped__(phone),  # type: ignore[attr-defined]
        number_states.__wrapped__(phone),  # type: ignore[attr-defined]
    )


@settings(max_examples=400, deadline=None)
@given(exchange=exchanges, first=lines, second=lines)
def test_two_lines_of_one_exchange_are_in_the_same_place(
    exchange: str, first: str, second: str
) -> None:
    assert where(exchange + first) == where(exchange + second)


@settings(max_examples=200, deadline=None)
@given(exchange=exchanges, line=lines)
def test_the_remembered_answer_is_the_fresh_one(exchange: str, line: str) -> None:
    phone = exchange + line
    assert (region_timezones(phone), country_of(phone), number_states(phone)) == where(phone)


def test_known_places_by_exchange() -> None:
    assert where("+13055550100") == (("America/New_York",), "US", ("FL",))
    assert where("+16045550100")[1] == "CA"
    assert country_of("+13055550100") == "US" and number_states("+13055559999") == ("FL",)


def test_only_north_american_numbers_share_an_entry() -> None:
    assert exchange_of("+14155550100") == "+1415555"
    assert exchange_of("+447700900123") == "+447700900123"  # elsewhere, the number is the key
    assert exchange_of("+1415555010") == "+1415555010"  # not ten digits: whole

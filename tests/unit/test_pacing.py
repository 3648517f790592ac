"""The pacer: a token bucket on a fake clock, never above the rate in any 1-second window."""

from __future__ import annotations

import itertools
import math
import random
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.domain.pacing import MAX_LEAD_SECONDS, MICROSECONDS, Pacer, reserve
from bot.testing.clock import FakeClock


def fake_time() -> FakeClock:
    return FakeClock(datetime(2024, 5, 1, 12, 0, tzinfo=UTC))


def pacer(time: FakeClock, rate: float, burst: int = 1) -> Pacer:
    return Pacer(rate, burst, clock=time.monotonic, sleep=time.sleep)


def max_in_any_second(stamps: list[tuple[float, int]]) -> int:
    """The most cost spent in any window [t, t + 1 s) that starts at a hand-over, on the
    pacer's own grid of whole microseconds (a float sum of sleeps strays a hair off it)."""
    ticks = [(round(moment * MICROSECONDS), cost) for moment, cost in stamps]
    return max(
        sum(cost for moment, cost in ticks if start <= moment < start + MICROSECONDS)
        for start, _ in ticks
    )


def test_ten_texts_at_two_a_second_take_four_and_a_half_seconds() -> None:
    time = fake_time()
    bucket = pacer(time, rate=2)
    for _ in range(10):
        bucket.acquire(1)
    # The first goes at once, then one every half second.
    assert time.monotonic() == pytest.approx(4.5)


def test_a_three_segment_text_costs_three_tokens() -> None:
    time = fake_time()
    bucket = pacer(time, rate=1)
    bucket.acquire(3)  # a full bucket lets it go at once, leaving a debt of two
    assert time.monotonic() == 0
    bucket.acquire(1)
    assert time.monotonic() == pytest.approx(3.0)


def test_waiting_returns_the_seconds_waited_and_idle_time_refills_up_to_the_burst() -> None:
    time = fake_time()
    bucket = pacer(time, rate=10, burst=3)
    assert [bucket.acquire() for _ in range(3)] == [0, 0, 0]  # the burst
    assert bucket.acquire() == pytest.approx(0.1)
    time.advance(timedelta(seconds=60))  # an idle minute saves up no more than the burst
    assert [bucket.acquire() for _ in range(3)] == [0, 0, 0]
    assert bucket.acquire() == pytest.approx(0.1)


@pytest.mark.parametrize("rate", [1, 2.5, 10, 100])
def test_no_one_second_window_holds_more_than_the_rate(rate: float) -> None:
    # Whole texts: at 2.5 a second, some windows hold three (0, 0.4, 0.8 s), none more.
    limit = math.ceil(rate)
    time = fake_time()
    bucket = pacer(time, rate=rate)
    work = random.Random(7)
    stamps: list[tuple[float, int]] = []
    for _ in range(300):
        time.sleep(work.choice([0, 0, 0.001, 0.3 / rate, 2 / rate]))  # the caller's own work
        bucket.acquire(1)
        stamps.append((time.monotonic(), 1))
    assert max_in_any_second(stamps) <= limit
    # And the rate is used, not wasted: a busy caller gets close to it.
    busy = fake_time()
    busy_bucket = pacer(busy, rate=rate)
    for _ in range(int(rate * 10) + 1):
        busy_bucket.acquire(1)
    assert busy.monotonic() == pytest.approx(10.0)


@pytest.mark.parametrize(
    ("rate", "burst", "cost", "message"),
    [
        (0, 1, 1, "rate_per_second must be positive"),
        (1, 0, 1, "burst must be at least 1"),
        (1, 1, 0, "cost must be at least 1"),
    ],
)
def test_nonsense_is_refused(rate: float, burst: int, cost: int, message: str) -> None:
    time = fake_time()
    with pytest.raises(ValueError, match=message):
        pacer(time, rate=rate, burst=burst).acquire(cost)


# -- the shared bucket's arithmetic: any interleaving of takers ----------------------------------


@st.composite
def interleavings(draw: st.DrawFn) -> tuple[int, int, list[tuple[int, int, int]]]:
    """A rate, a burst, and reservations in the order the store applied them: (taker, the
    taker's pause before it in microseconds, cost)."""
    rate = draw(st.integers(min_value=1, max_value=120))
    burst = draw(st.integers(min_value=1, max_value=4))
    takers = draw(st.integers(min_value=1, max_value=6))
    steps = draw(
        st.lists(
            st.tuples(
                st.integers(min_value=0, max_value=takers - 1),
                st.sampled_from([0, 0, 1, 999, 10_000, 400_000, 3_000_000]),
                st.sampled_from([1, 1, 1, 2, 3]),
            ),
            min_size=1,
            max_size=150,
        )
    )
    return rate, burst, steps


def most_cost_in_a_second(slots: list[tuple[int, int]]) -> int:
    """The most cost granted in any window [t, t + 1 s) that starts at a slot (microseconds)."""
    return max(
        sum(cost for moment, cost in slots if start <= moment < start + MICROSECONDS)
        for start, _ in slots
    )


@given(interleavings())
@settings(max_examples=300, deadline=None)
def test_no_interleaving_of_takers_puts_more_than_rate_and_burst_in_a_second(
    case: tuple[int, int, list[tuple[int, int, int]]],
) -> None:
    rate, burst, steps = case
    next_free: int | None = None  # the one number the store keeps
    ready = {}  # when each taker, back from its last hand-over and its pause, reserves again
    granted: list[tuple[int, int]] = []
    for taker, pause, cost in steps:
        # Takers read their clocks before the store serialises them: `now` need not grow.
        now = ready.get(taker, 0) + pause
        slot = reserve(next_free, now, cost, rate, burst)
        assert slot.at >= now  # nobody is told to go in the past
        next_free = slot.next_free
        ready[taker] = slot.at
        granted.append((slot.at, cost))
    # A window holds the rate, plus what the burst lets go early, plus a text dearer than one
    # segment that found the bucket full: with one-segment texts and a burst of 1, the rate.
    assert most_cost_in_a_second(granted) <= rate + burst - 2 + max(cost for _, _, cost in steps)


@given(
    rate=st.integers(min_value=1, max_value=200),
    takers=st.integers(min_value=1, max_value=8),
    order=st.randoms(use_true_random=False),
)
@settings(deadline=None)  # a busy machine is no failure
def test_busy_takers_together_get_the_whole_rate(
    rate: int, takers: int, order: random.Random
) -> None:
    next_free = None
    ready = [0] * takers
    slots = []
    for _ in range(rate * 3 + 1):
        taker = order.randrange(takers)  # whoever the store serves next
        slot = reserve(next_free, ready[taker], 1, rate)
        next_free, ready[taker] = slot.next_free, slot.at
        slots.append(slot.at)
    # No gap opens between the takers' slots: three seconds' worth take three seconds (the
    # step rounded up to a whole microsecond).
    assert 3 * MICROSECONDS <= max(slots) - min(slots) <= 3 * MICROSECONDS + 3 * rate


def test_a_taker_that_stops_leaves_no_gap() -> None:
    """No leases: when one of two takers dies, the other's next slot follows at once."""
    rate, next_free = 10, None
    ready = {"a": 0, "b": 0}  # each reserves again once it has handed over at its last slot
    slots = []
    for taker in ["a", "b"] * 5 + ["b"] * 5:  # "a" is killed after its fifth text
        slot = reserve(next_free, ready[taker], 1, rate)
        next_free, ready[taker] = slot.next_free, slot.at
        slots.append(slot.at)
    assert [later - earlier for earlier, later in itertools.pairwise(slots)] == [100_000] * 14


@pytest.mark.parametrize(
    ("check_took", "next_slot"),
    [
        (0.003, 0.020),  # within the headroom's tolerance: the rate loses nothing
        (0.015, 0.035),  # later: the next slot keeps its spacing from when the text left
    ],
)
def test_a_text_that_leaves_late_moves_the_next_slot_on(
    check_took: float, next_slot: float
) -> None:
    time = fake_time()
    bucket = pacer(time, rate=50)  # a slot every 20 ms
    bucket.acquire()
    time.sleep(check_took)  # the last consent check, between the slot and the request
    bucket.depart()
    bucket.acquire()
    assert time.monotonic() == pytest.approx(next_slot)


@pytest.mark.parametrize(
    ("lead", "check_took", "left_at", "next_slot"),
    [
        (0.004, 0.004, 0.020, 0.040),  # the check began 4 ms early: the text leaves on its slot
        (0.004, 0.001, 0.020, 0.040),  # quicker than the lead: it waits out the rest of the slot
        (0.004, 0.012, 0.028, 0.048),  # 8 ms late, past the tolerance: the pace moves on
        (0.050, 0.012, 0.027, 0.047),  # a lead over MAX_LEAD_SECONDS counts as 5 ms: 7 ms late
    ],
)
def test_a_check_that_starts_lead_seconds_early_lets_its_text_leave_on_the_slot(
    lead: float, check_took: float, left_at: float, next_slot: float
) -> None:
    time = fake_time()
    bucket = pacer(time, rate=50)  # a slot every 20 ms
    bucket.acquire()
    bucket.depart()
    bucket.acquire(lead=lead)  # the second slot, at 20 ms
    assert time.monotonic() == pytest.approx(0.020 - min(lead, MAX_LEAD_SECONDS))
    time.sleep(check_took)  # the last consent check
    bucket.depart()
    assert time.monotonic() == pytest.approx(left_at)
    bucket.acquire()
    assert time.monotonic() == pytest.approx(next_slot)

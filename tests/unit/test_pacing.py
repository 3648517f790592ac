"""The pacer: a token bucket on a fake clock, never above the rate in any 1-second window."""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime, timedelta

import pytest

from bot.domain.pacing import MICROSECONDS, Pacer
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

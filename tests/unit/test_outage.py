"""The outage breaker on its own: pure, with a fake clock (plain datetimes) and a seeded rng."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from bot.sending.outage import PROBE_CAP, Change, OutageBreaker

START = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def breaker(**options: object) -> OutageBreaker:
    return OutageBreaker(rng=random.Random(7), **options)  # type: ignore[arg-type]


def seconds(moment: datetime) -> float:
    return (moment - START).total_seconds()


def test_one_text_failing_again_and_again_is_not_an_outage() -> None:
    watch = breaker()
    for attempt in range(10):
        assert watch.failed(1, START + timedelta(seconds=attempt), "HTTP 500") is None
    assert watch.outage is None
    assert watch.allowance(START) is None  # no limit: the other texts go at full pace


def test_three_different_texts_failing_in_a_row_start_an_outage() -> None:
    watch = breaker()
    assert watch.failed(1, START, "HTTP 503") is None
    assert watch.failed(2, START + timedelta(seconds=1), "HTTP 503") is None
    assert watch.failed(3, START + timedelta(seconds=2), "HTTP 503") is Change.STARTED

    outage = watch.outage
    assert outage is not None
    assert outage.started_at == START  # from the first failure of the run, not the third
    assert outage.last_error == "HTTP 503"


def test_an_answer_between_failures_means_the_provider_is_up() -> None:
    watch = breaker()
    watch.failed(1, START)
    watch.failed(2, START)
    assert watch.answered() is None  # a text went (or was refused): no outage to end
    watch.failed(3, START)
    watch.failed(4, START)
    assert watch.outage is None


def test_in_an_outage_one_probe_at_a_time_with_capped_backoff() -> None:
    watch = breaker()
    now = START
    for message_id in (1, 2, 3):
        watch.failed(message_id, now)
    waits = []
    for _ in range(12):
        probe_at = watch.next_probe()
        assert probe_at is not None and probe_at > now
        assert watch.allowance(probe_at - timedelta(milliseconds=1)) == 0  # not yet
        now = probe_at
        assert watch.allowance(now) == 1  # one probe ...
        assert watch.allowance(now) == 0  # ... and only one
        assert watch.failed(1, now) is None  # it failed: still one outage, not a new one
        waits.append((watch.next_probe() or now) - now)
    # 2 s, 4 s, 8 s, 16 s, then never more than 30 s, each jittered into its upper half.
    for wait, step in zip(waits, (4, 8, 16, 30, 30, 30), strict=False):
        assert timedelta(seconds=step / 2) <= wait <= timedelta(seconds=step)
    assert max(waits) <= PROBE_CAP
    for _ in range(10_000):  # a long outage: the wait stays capped
        now = watch.next_probe() or now
        watch.allowance(now)
        watch.failed(1, now)
    assert timedelta(seconds=15) <= (watch.next_probe() or now) - now <= PROBE_CAP


def test_the_first_answer_ends_the_outage_and_lifts_every_limit() -> None:
    watch = breaker()
    for message_id in (1, 2, 3):
        watch.failed(message_id, START)
    assert watch.allowance(START) == 0
    assert watch.answered() is Change.ENDED
    assert watch.outage is None and watch.next_probe() is None
    assert watch.allowance(START) is None
    assert watch.answered() is None  # ended once, logged once


def test_a_failure_after_recovery_starts_counting_afresh() -> None:
    watch = breaker()
    for message_id in (1, 2, 3):
        watch.failed(message_id, START)
    watch.answered()
    watch.failed(4, START + timedelta(minutes=1))
    watch.failed(5, START + timedelta(minutes=1))
    assert watch.outage is None
    assert watch.failed(6, START + timedelta(minutes=2)) is Change.STARTED
    assert watch.outage is not None
    assert watch.outage.started_at == START + timedelta(minutes=1)


@pytest.mark.parametrize(
    "options",
    [
        {"outage_after": 0},
        {"probe_first": timedelta(0)},
        {"probe_first": timedelta(minutes=2), "probe_cap": timedelta(minutes=1)},
    ],
)
def test_nonsense_settings_are_refused(options: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        breaker(**options)

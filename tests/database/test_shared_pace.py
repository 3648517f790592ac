"""One pace for every worker: takers on connections of their own, all at once, are granted each
slot once, back to back at the rate, in the database and in Redis.

The clock stands still, so every taker asks at the same moment and the bucket runs ahead of
it: the granted times alone show whether two takers ever got one slot (a lost update) or the
bucket skipped one. Nothing here sleeps or times anything.
"""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
from redis import Redis
from redis.exceptions import RedisError
from sqlalchemy import select
from sqlalchemy.engine import Engine

from bot.domain.pacing import MICROSECONDS
from bot.sending.shared_pace import (
    BucketStore,
    DatabaseBucket,
    RedisBucket,
    SharedPace,
    microseconds,
)
from bot.store.tables import SEND_PACES
from bot.testing.clock import FakeClock
from tests.support.disk import commits, waiting_for_the_disk

TAKERS = 4  # worker processes, as threads: each with its own connection
TAKES = 40
RATE = 50
SENDER = "+15550000000"


def take_at_once(store_for: Callable[[], BucketStore], clock: FakeClock) -> list[int]:
    """TAKERS takers start together and each takes TAKES slots; every slot granted."""
    start = threading.Barrier(TAKERS)

    def taker() -> list[int]:
        pace = SharedPace(store_for(), rate=RATE, clock=clock)
        start.wait()
        return [pace.take().at for _ in range(TAKES)]

    with ThreadPoolExecutor(TAKERS) as pool:
        runs = [pool.submit(taker) for _ in range(TAKERS)]
        return [slot for run in runs for slot in run.result()]


def assert_back_to_back(granted: list[int], first: int) -> None:
    step = MICROSECONDS // RATE
    assert sorted(granted) == [first + index * step for index in range(TAKERS * TAKES)]
    # Hence never more than RATE in any second: the window [slot, slot + 1 s) holds RATE.
    assert len([slot for slot in granted if first <= slot < first + MICROSECONDS]) == RATE


def a_clock() -> FakeClock:
    return FakeClock(datetime(2026, 11, 30, 6, 0, tzinfo=UTC))


def test_workers_at_once_are_granted_every_slot_once_at_the_rate(db: Engine) -> None:
    clock = a_clock()
    granted = take_at_once(lambda: DatabaseBucket(db, SENDER), clock)
    assert_back_to_back(granted, first=microseconds(clock()))
    with db.connect() as connection:
        stored = connection.execute(select(SEND_PACES.c.sender, SEND_PACES.c.next_free_us)).all()
    assert [tuple(row) for row in stored] == [(SENDER, max(granted) + MICROSECONDS // RATE)]


def test_each_sender_has_a_pace_of_its_own(db: Engine) -> None:
    clock = a_clock()
    short_code = SharedPace(DatabaseBucket(db, "12345"), rate=RATE, clock=clock)
    long_code = SharedPace(DatabaseBucket(db, SENDER), rate=1, clock=clock)
    for _ in range(3):
        long_code.take()
    assert short_code.take().at == microseconds(clock())  # not behind the long code's queue


def slot_after_a_late_departure(store_for: Callable[[], BucketStore]) -> int:
    """Worker one's text leaves 15 ms after its slot, while worker two holds the next slot:
    the slot a third worker is then granted, less worker one's."""
    clock = a_clock()
    first, second, third = (
        SharedPace(store_for(), rate=RATE, clock=clock, sleep=clock.sleep) for _ in range(3)
    )
    first.acquire()
    left = microseconds(clock())
    second.take()  # reserved ahead, before the first text left
    clock.advance(timedelta(milliseconds=15))  # the last consent check waited on a writer
    first.depart()
    return third.take().at - left


def test_a_late_text_moves_on_the_slots_no_worker_holds_yet(db: Engine) -> None:
    # Two slots after the late text left, not after its slot: a second from it holds RATE.
    assert slot_after_a_late_departure(lambda: DatabaseBucket(db, SENDER)) == 15_000 + 40_000


def test_a_check_begun_before_its_slot_leaves_on_it_and_moves_nothing_on(db: Engine) -> None:
    clock = a_clock()
    first, second = (
        SharedPace(DatabaseBucket(db, SENDER), rate=RATE, clock=clock, sleep=clock.sleep)
        for _ in range(2)
    )
    start = microseconds(clock())
    first.acquire()
    first.depart()
    second.acquire(lead=0.004)  # the slot after, 20 ms on: woken 4 ms before it
    assert microseconds(clock()) == start + 16_000
    clock.advance(timedelta(milliseconds=3))  # the last consent check
    second.depart()
    assert microseconds(clock()) == start + 20_000  # left on its slot, not after the check
    assert first.take().at == start + 40_000  # and the pace did not move on


def test_on_postgresql_only_moving_on_for_a_late_text_waits_for_the_disk(
    database_url: str,
) -> None:
    """A reservation is made durable by the last consent check that follows it; a move-on
    comes after its text left, with no such check behind it."""
    db = waiting_for_the_disk(database_url)
    try:
        clock = a_clock()
        pace = SharedPace(DatabaseBucket(db, SENDER), rate=RATE, clock=clock, sleep=clock.sleep)
        seen = commits(db)
        pace.acquire()
        clock.advance(timedelta(milliseconds=15))  # its last consent check waited on a writer
        pace.depart()
        assert [commit.waited for commit in seen] == [False, True]  # reserved; moved on
    finally:
        db.dispose()


def due_takes_at_once(store_for: Callable[[], BucketStore], now: int) -> list[tuple[bool, int]]:
    """TAKERS takers, at one standing moment, each try TAKES times to take a slot due within
    25 ms of it from a bucket of RATE (a slot every 20 ms)."""
    start = threading.Barrier(TAKERS)

    def taker() -> list[tuple[bool, int]]:
        store = store_for()
        start.wait()
        return [store.take_if_due(now, MICROSECONDS // RATE, 25_000) for _ in range(TAKES)]

    with ThreadPoolExecutor(TAKERS) as pool:
        runs = [pool.submit(taker) for _ in range(TAKERS)]
        return [answer for run in runs for answer in run.result()]


def assert_only_due_slots_taken(answers: list[tuple[bool, int]], now: int) -> None:
    # The slots at now and now + 20 ms, once each; then the bucket stands at now + 40 ms.
    assert sorted(free for taken, free in answers if taken) == [now + 20_000, now + 40_000]
    assert {free for taken, free in answers if not taken} == {now + 40_000}


def test_workers_at_once_take_only_the_slots_nearly_due_each_once(db: Engine) -> None:
    now = microseconds(a_clock()())
    assert_only_due_slots_taken(due_takes_at_once(lambda: DatabaseBucket(db, SENDER), now), now)


class Killed(Exception):
    """SIGKILL, as far as the worker's own code is concerned."""


def slot_after_a_worker_killed_while_waiting(store_for: Callable[[], BucketStore]) -> int:
    """At 10 a second, one worker sends; a second is killed while it waits for the next slot;
    how long after the first text a third worker's goes."""
    clock = a_clock()
    first = microseconds(clock())
    SharedPace(store_for(), rate=10, clock=clock, sleep=clock.sleep).acquire()

    def killed(seconds: float) -> None:
        raise Killed

    with pytest.raises(Killed):
        SharedPace(store_for(), rate=10, clock=clock, sleep=killed).acquire()
    SharedPace(store_for(), rate=10, clock=clock, sleep=clock.sleep).acquire()
    return microseconds(clock()) - first


def test_a_worker_killed_while_it_waits_leaves_no_gap(db: Engine) -> None:
    # The next slot, 100 ms on: the killed worker had reserved nothing yet.
    assert slot_after_a_worker_killed_while_waiting(lambda: DatabaseBucket(db, SENDER)) == 100_000


def test_an_idle_bucket_saves_nothing_up(db: Engine) -> None:
    clock = a_clock()
    pace = SharedPace(DatabaseBucket(db, SENDER), rate=RATE, clock=clock)
    pace.take()
    clock.advance(timedelta(minutes=5))
    now = microseconds(clock())
    assert [pace.take().at for _ in range(3)] == [now, now + 20_000, now + 40_000]


# -- Redis -------------------------------------------------------------------------------------


@pytest.fixture
def redis_client() -> Iterator[Redis]:
    url = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
    client = Redis.from_url(url, socket_connect_timeout=2)
    try:
        client.ping()
    except RedisError as error:
        pytest.skip(f"Redis tests need a Redis at TEST_REDIS_URL ({url}): {error}")
    yield client
    client.close()


def test_workers_at_once_are_granted_every_slot_once_in_redis(redis_client: Redis) -> None:
    clock = a_clock()
    sender = f"test-{uuid.uuid4()}"  # test runs in parallel share the server
    try:
        granted = take_at_once(lambda: RedisBucket(redis_client, sender), clock)
        assert_back_to_back(granted, first=microseconds(clock()))
    finally:
        redis_client.delete(RedisBucket(redis_client, sender).key)


class OnceLateClock(FakeClock):
    """A fake clock whose first sleep ends late, as on a busy CPU."""

    lateness = timedelta(milliseconds=15)  # less than a slot (20 ms), so no slot is skipped

    def sleep(self, seconds: float) -> None:
        super().sleep(seconds + self.lateness.total_seconds())
        self.lateness = timedelta(0)


def test_a_worker_woken_late_moves_the_pace_on_from_when_it_really_sends(db: Engine) -> None:
    clock = OnceLateClock(datetime(2026, 11, 30, 6, 0, tzinfo=UTC))
    pace = SharedPace(DatabaseBucket(db, SENDER), rate=RATE, sleep=clock.sleep, clock=clock)
    sent = []
    for _ in range(RATE * 2):
        pace.acquire()
        sent.append(microseconds(clock()))
    # The second text left 15 ms late; the next did not catch up into its second.
    assert (
        max(sum(1 for at in sent if start <= at < start + MICROSECONDS) for start in sent) <= RATE
    )


def test_a_late_text_moves_on_the_slots_no_worker_holds_yet_in_redis(
    redis_client: Redis,
) -> None:
    sender = f"test-{uuid.uuid4()}"
    try:
        moved = slot_after_a_late_departure(lambda: RedisBucket(redis_client, sender))
        assert moved == 15_000 + 40_000
    finally:
        redis_client.delete(RedisBucket(redis_client, sender).key)


def test_workers_at_once_take_only_the_slots_nearly_due_in_redis(redis_client: Redis) -> None:
    now = microseconds(a_clock()())
    sender = f"test-{uuid.uuid4()}"
    try:
        answers = due_takes_at_once(lambda: RedisBucket(redis_client, sender), now)
        assert_only_due_slots_taken(answers, now)
    finally:
        redis_client.delete(RedisBucket(redis_client, sender).key)


def test_a_worker_killed_while_it_waits_leaves_no_gap_in_redis(redis_client: Redis) -> None:
    sender = f"test-{uuid.uuid4()}"
    try:
        gap = slot_after_a_worker_killed_while_waiting(lambda: RedisBucket(redis_client, sender))
        assert gap == 100_000
    finally:
        redis_client.delete(RedisBucket(redis_client, sender).key)

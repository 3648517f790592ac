"""Two real `bot worker`s share one pace: together they keep SEND_RATE, each text sent once.

Checked on the moments the fake Twilio server received each text. A text leaves a worker at its
slot plus what the machine adds (the last consent check's transaction, the request, a busy CPU),
and that can bunch a late text with the next ones. The documented tolerance: on a loaded test
machine a hand-over may lag its slot by up to SCHEDULING_SLACK, so a 1-second window may hold
the rate's worth of that much more time. Two workers pacing themselves alone would send twice
the rate, far beyond it.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.engine import Engine

from bench.pacing import busiest_second
from bot.domain.vocabulary import MessageStatus
from bot.store.tables import MESSAGES
from bot.testing.processes import started, wait_until
from bot.twilio.fake_server import FakeTwilioServer
from tests.support.workers import WORKER, count, queue_texts, worker_env

# Slow enough for two workers on a busy machine to keep up with it each: pacing themselves
# alone, they would send twice this.
RATE = 10
SCHEDULING_SLACK = 0.25  # seconds a hand-over may lag its slot on a busy machine
WORKERS = 2


@pytest.fixture
def server() -> Iterator[FakeTwilioServer]:
    with FakeTwilioServer() as running:
        yield running


def test_two_workers_together_keep_the_rate_and_send_each_text_once(
    database_url: str, db: Engine, server: FakeTwilioServer, tmp_path: Path
) -> None:
    env = worker_env(database_url, server, SEND_RATE=str(RATE), PACE_STORE="database")
    logs = [tmp_path / f"worker-{index}.log" for index in range(WORKERS)]
    with started(WORKER, env, logs[0]) as first, started(WORKER, env, logs[1]) as second:
        workers = [first, second]
        for log in logs:
            wait_until(lambda: b"sending through" in log.read_bytes(), workers, what="a worker")  # noqa: B023
        bodies = queue_texts(db)
        wait_until(
            lambda: len(server.arrivals) >= len(bodies) and count(db, MessageStatus.PENDING) == 0,
            workers,
            what="every text at Twilio",
        )
        server.wait_until_idle()

    sent = Counter(arrival.body for arrival in server.arrivals)
    assert sorted(sent) == sorted(bodies), "a text was lost"
    assert [body for body, times in sent.items() if times > 1] == [], "a text went twice"
    with db.connect() as connection:
        senders = Counter(connection.scalars(select(MESSAGES.c.claimed_by)))
    assert len(senders) == WORKERS, f"both workers should have sent: {senders}"
    most = busiest_second([arrival.monotonic for arrival in server.arrivals])
    assert most <= math.ceil(RATE * (1 + SCHEDULING_SLACK)), most

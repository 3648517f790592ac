"""Two real `bot worker`s share one pace: together they keep SEND_RATE, each text sent once.

Checked on the moments the fake Twilio server received each text. A text leaves a worker at its
slot plus what the machine adds (the last consent check's transaction, the request, a busy CPU),
and that can bunch a late text with the next ones. The documented tolerance: on a loaded test
machine a hand-over may lag its slot by up to SCHEDULING_SLACK, so a 1-second window may hold
the rate's worth of that much more time. Two workers pacing themselves alone would send twice
the rate, far beyond it. And a worker told to stop while it waits for its slot stops at once.
"""

from __future__ import annotations

import math
import signal
import socket
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.engine import Engine

from bench.pacing import busiest_second
from bot.domain.vocabulary import MessageStatus
from bot.store.tables import MESSAGES
from bot.testing.processes import HUNG_AFTER, started, wait_until
from bot.twilio.fake_server import FakeTwilioServer
from tests.support.warm_start import warm_start
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
    with (
        started(WORKER, env, logs[0], warm_start) as first,
        started(WORKER, env, logs[1], warm_start) as second,
    ):
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


@pytest.mark.parametrize("pace_store", ["database", "process"])
def test_a_worker_stopped_while_it_waits_for_its_slot_stops_at_once(
    database_url: str, db: Engine, server: FakeTwilioServer, tmp_path: Path, pace_store: str
) -> None:
    # One segment every 10 000 s: a worker that slept out its slot after SIGTERM would outlast
    # HUNG_AFTER, and the test fails there.
    env = worker_env(database_url, server, SEND_RATE="0.0001", PACE_STORE=pace_store)
    bodies = queue_texts(db)
    log = tmp_path / "worker.log"
    with started(WORKER, env, log, warm_start) as worker:
        its_own = f"{socket.gethostname()}:{worker.pid}"
        wait_until(
            lambda: (
                len(server.arrivals) == 1
                and count(db, MessageStatus.UNKNOWN, claimed_by=its_own) == 1
            ),
            [worker],
            what="the first text at Twilio and the second waiting for its slot",
        )
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=HUNG_AFTER) == 0, log.read_text()

    assert len(server.arrivals) == 1, "a text left after the stop"
    assert count(db, MessageStatus.UNKNOWN) == 0, "the waiting text was not handed back"
    assert count(db, MessageStatus.PENDING) == len(bodies) - 1

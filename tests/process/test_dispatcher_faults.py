"""Fault test: `bot worker` killed (SIGKILL) at random points while sending to a fake Twilio.

After every crash a new worker carries on; then reconciliation and a last round settle what the
crashes left open. Every text must reach Twilio exactly once: none twice, none lost.
"""

from __future__ import annotations

import random
import signal
import socket
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from time import sleep

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from bot.domain.vocabulary import MessageStatus
from bot.sending.dispatcher import Dispatcher, Reconciled
from bot.store.tables import MESSAGES
from bot.testing.processes import HUNG_AFTER, started, wait_until
from bot.twilio.fake_server import FakeTwilioServer
from tests.support.warm_start import warm_start
from tests.support.workers import WORKER, count, queue_texts, twilio_gateway, worker_env

KILLS = 6
SEED = 20240501


@pytest.fixture
def server() -> Iterator[FakeTwilioServer]:
    with FakeTwilioServer() as running:
        # A little time inside each request, so that some kills land while Twilio has the text
        # but the worker has not heard back: the case reconciliation exists for.
        running.delay_seconds = 0.03
        yield running


def test_killed_workers_send_every_text_exactly_once(
    database_url: str, db: Engine, server: FakeTwilioServer, tmp_path: Path
) -> None:
    bodies = queue_texts(db)
    rng = random.Random(SEED)
    settled = Reconciled()  # what reconciliation found at Twilio, and what it requeued
    env = worker_env(database_url, server)

    for round_number in range(KILLS):
        if count(db, MessageStatus.PENDING) == 0:
            break  # every text is sent or stranded UNKNOWN by a crash
        target = len(server.messages) + rng.randint(1, 6)
        log_path = tmp_path / f"worker-{round_number}.log"
        with started(WORKER, env, log_path, warm_start) as worker:
            wait_until(
                lambda: (
                    len(server.messages) >= target  # noqa: B023
                    or count(db, MessageStatus.PENDING) == 0
                ),
                [worker],
                what=f"{target} texts at Twilio",
            )
            # Every other kill lands at once: Twilio has just created the text and is still
            # answering (delay_seconds), so the worker dies not knowing. The others land
            # anywhere: in a claim, a hand-over, a record, the pacer's sleep.
            if round_number % 2:
                sleep(rng.uniform(0.005, 0.06))
            worker.kill()
            worker.wait()
        if rng.random() < 0.5:
            # Settle what this crash stranded now (it is dead, so no grace is needed), or
            # leave it for the end, under later crashes.
            server.wait_until_idle()  # the request the dead worker left has been handled
            settle(db, server, settled)

    # A last worker is stopped cleanly (SIGTERM) mid-batch: it finishes the text in hand and
    # hands its other claimed rows back, leaving none of its own UNKNOWN.
    log_path = tmp_path / "worker-last.log"
    with started(WORKER, env, log_path, warm_start) as worker:
        wait_until(lambda: b"sending through" in log_path.read_bytes(), [worker], what="the worker")
        received = len(server.messages)
        wait_until(
            lambda: len(server.messages) > received or count(db, MessageStatus.PENDING) == 0,
            [worker],
            what="one more text at Twilio",
        )
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=HUNG_AFTER) == 0, log_path.read_text()
    its_own = f"{socket.gethostname()}:{worker.pid}"
    assert count(db, MessageStatus.UNKNOWN, claimed_by=its_own) == 0

    # What the crashes left UNKNOWN is settled by asking Twilio, then the rest goes out.
    settle(db, server, settled)
    server.delay_seconds = 0
    dispatcher = Dispatcher(db=db, gateway=twilio_gateway(server), dispatcher_id="final")
    while dispatcher.run_once():
        pass

    sent = Counter(message["Body"] for message in server.messages)
    assert sorted(sent) == sorted(bodies), "a text was lost"
    assert [body for body, times in sent.items() if times > 1] == [], "a text went twice"
    with db.connect() as connection:
        stored = dict(connection.execute(select(MESSAGES.c.body, MESSAGES.c.provider_sid)).all())
        unsettled = connection.scalar(
            select(func.count()).where(MESSAGES.c.status != MessageStatus.QUEUED)
        )
    assert unsettled == 0
    assert stored == {message["Body"]: message["sid"] for message in server.messages}
    # The kills must have hit both kinds of moment, or the test proved little.
    assert settled.found > 0 and settled.requeued > 0, settled
    print(f"\nafter {KILLS} kills: {settled}")


def settle(db: Engine, server: FakeTwilioServer, settled: Reconciled) -> None:
    """Reconcile every UNKNOWN row now, as a worker does once the grace period is over."""
    dispatcher = Dispatcher(db=db, gateway=twilio_gateway(server), dispatcher_id="settle")
    server.delay_seconds, delay = 0, server.delay_seconds  # only the workers need it
    unknown = count(db, MessageStatus.UNKNOWN)
    report = dispatcher.reconcile(grace=timedelta(0))
    assert report.unresolved == report.failed == 0, report
    assert report.found + report.requeued == unknown
    settled.found += report.found
    settled.requeued += report.requeued
    server.delay_seconds = delay

"""Pacing benchmark: the dispatcher sends through the real Twilio client to the fake server.

Usage: python bench/pacing.py [--seconds S] [--rates 10,100] [--database-url SCRATCH_URL]

For each configured rate, queues rate × S one-segment texts, runs the dispatcher until the
outbox is empty, and records the moment of each hand-over to the gateway. Reports the achieved
rate, the most hand-overs in any 1-second sliding window, and a chart of hand-overs per 100 ms.
The goal: within 2 % of the configured rate, and never above it in any second. Exits 1 if missed.
"""

from __future__ import annotations

import argparse
import logging
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import text

from bot.domain.pacing import Pacer
from bot.domain.vocabulary import Delivery, Purpose, SubscriberStatus
from bot.sending.dispatcher import Dispatcher
from bot.sending.gateways.base import OutboundText, SendResult
from bot.sending.outbox import queue_text
from bot.store.db import make_db, transaction
from bot.store.migrate import upgrade
from bot.store.models import utcnow
from bot.store.subscribers import change_status, claim_subscriber
from bot.twilio.fake_server import FakeTwilioServer
from bot.twilio.gateway import TwilioGateway

SENDER = "+15550000000"
TOLERANCE = 0.02  # the achieved rate may fall this far short of the configured one
BUCKET_SECONDS = 0.1
CHART_HEIGHT = 10


class RecordingGateway:
    """Notes the monotonic time of every hand-over, then passes the text on."""

    def __init__(self, inner: TwilioGateway) -> None:
        self.inner = inner
        self.name = inner.name
        self.handed_over: list[float] = []

    def send(self, text: OutboundText) -> SendResult:
        self.handed_over.append(time.monotonic())
        return self.inner.send(text)


@dataclass(frozen=True)
class Run:
    """The hand-over times of one rate's run."""

    rate: float
    stamps: Sequence[float]
    failures: int

    @property
    def achieved(self) -> float:
        """Texts a second between the first hand-over and the last."""
        return (len(self.stamps) - 1) / (self.stamps[-1] - self.stamps[0])

    @property
    def busiest_second(self) -> int:
        """The most hand-overs in any window [t, t + 1 s), t a hand-over (where maxima start)."""
        most, end = 0, 0
        for start, moment in enumerate(self.stamps):
            while end < len(self.stamps) and self.stamps[end] < moment + 1.0:
                end += 1
            most = max(most, end - start)
        return most

    @property
    def met(self) -> bool:
        return (
            self.failures == 0
            and self.achieved >= self.rate * (1 - TOLERANCE)
            and self.busiest_second <= self.rate
        )


def queue(database_url: str, count: int) -> None:
    db = make_db(database_url)
    now = utcnow()  # the dispatchers it measures run on the wall clock
    with transaction(db) as connection:
        connection.execute(text("DELETE FROM message"))
        subscribers = []
        for number in range(10):
            subscriber = claim_subscriber(connection, f"+1415555{number:04d}", now)
            change_status(connection, subscriber, SubscriberStatus.SUBSCRIBED, now)
            subscribers.append(subscriber)
        for number in range(count):
            queue_text(
                connection,
                subscribers[number % len(subscribers)],
                body=f"bench text {number}",
                purpose=Purpose.TRANSACTIONAL,
                delivery=Delivery.OUTBOX,
                now=now,
            )
    db.dispose()


def run(database_url: str, server: FakeTwilioServer, rate: float, seconds: float) -> Run:
    count = int(rate * seconds)
    queue(database_url, count)
    db = make_db(database_url)
    gateway = RecordingGateway(
        TwilioGateway(
            server.account_sid, server.auth_token, from_number=SENDER, api_base_url=server.base_url
        )
    )
    dispatcher = Dispatcher(
        db=db,
        gateway=gateway,  # type: ignore[arg-type]
        dispatcher_id="bench",
        pacer=Pacer(rate, clock=time.monotonic, sleep=time.sleep),
    )
    while dispatcher.run_once():
        pass
    with db.connect() as connection:
        failures = connection.scalar(text("SELECT count(*) FROM message WHERE status != 'queued'"))
    db.dispose()
    return Run(rate=rate, stamps=gateway.handed_over, failures=failures or 0)


def chart(run: Run) -> str:
    """Hand-overs per 100 ms as columns, one column a bucket."""
    start = run.stamps[0]
    buckets = [0] * (int((run.stamps[-1] - start) / BUCKET_SECONDS) + 1)
    for moment in run.stamps:
        buckets[int((moment - start) / BUCKET_SECONDS)] += 1
    top = max(buckets)
    scale = max(1, -(-top // CHART_HEIGHT))  # sends per row, rounded up
    rows = []
    for level in range(-(-top // scale), 0, -1):
        bars = "".join("█" if count >= level * scale else " " for count in buckets)
        rows.append(f"{level * scale:>5} │{bars}")
    rows.append("      └" + "─" * len(buckets))
    ticks = "".join(
        str(int(i * BUCKET_SECONDS) % 10) if i % 10 == 0 else " " for i in range(len(buckets))
    )
    rows.append(f"       {ticks}  (s; one column = {int(BUCKET_SECONDS * 1000)} ms)")
    return "\n".join(rows)


def report(run: Run) -> str:
    verdict = "met" if run.met else "MISSED"
    return "\n".join(
        [
            f"configured {run.rate:g}/s: {len(run.stamps)} texts in "
            f"{run.stamps[-1] - run.stamps[0]:.2f} s",
            f"  achieved rate   {run.achieved:8.2f}/s  ({run.achieved / run.rate - 1:+.2%})",
            f"  busiest second  {run.busiest_second:8d}    (limit {run.rate:g})",
            f"  not accepted    {run.failures:8d}",
            f"  goal (within {TOLERANCE:.0%}, never above): {verdict}",
            chart(run),
        ]
    )


def _is_empty(database_url: str) -> bool:
    db = make_db(database_url)
    try:
        with db.connect() as connection:
            return not connection.scalar(text("SELECT count(*) FROM message"))
    finally:
        db.dispose()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="length of each run")
    parser.add_argument("--rates", default="10,100", help="comma-separated rates per second")
    parser.add_argument(
        "--database-url",
        default=None,
        help="an empty scratch database, migrated and written to (default: a temporary SQLite)",
    )
    args = parser.parse_args(argv)
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    folder = Path(tempfile.mkdtemp(prefix="parley-bench-"))
    try:
        database_url = args.database_url or f"sqlite:///{folder / 'bench.db'}"
        upgrade(database_url)
        if not _is_empty(database_url):
            print(f"{database_url} holds messages: give the bench an empty scratch database")
            return 2
        runs = []
        with FakeTwilioServer() as server:
            for rate in (float(value) for value in args.rates.split(",")):
                runs.append(run(database_url, server, rate, args.seconds))
                print(report(runs[-1]), end="\n\n", flush=True)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return 0 if all(run.met for run in runs) else 1


if __name__ == "__main__":
    sys.exit(main())

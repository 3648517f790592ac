"""Pacing benchmark: real `bot worker` processes share one pace to the fake Twilio server.

Usage: python bench/pacing.py [--seconds S] [--rates 10,100] [--workers 1,2,4] [--kill-of 3]
                              [--database-url SCRATCH_URL] [--pace-store database|redis]

For each rate, starts 1, 2 and 4 `bot worker` processes (then a run where one of --kill-of
workers is killed with SIGKILL halfway), queues rate × S one-segment texts, and takes the moment
each text reached the fake Twilio server. Reports the achieved rate, the most hand-overs in any
1-second sliding window, each worker's share, and a chart of hand-overs per 100 ms.
The goal: within 2 % of the configured rate, and never above it in any second, the run with a
killed worker included (the others take its share at once). Exits 1 if missed.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import select, text
from sqlalchemy.engine import Engine

from bot.domain.vocabulary import Delivery, Purpose, SubscriberStatus
from bot.sending.outbox import queue_text
from bot.store.db import make_db, transaction
from bot.store.migrate import upgrade
from bot.store.models import utcnow
from bot.store.subscribers import change_status, claim_subscriber
from bot.store.tables import MESSAGES
from bot.twilio.fake_server import FakeTwilioServer

SENDER = "+15550000000"
TOLERANCE = 0.02  # the achieved rate may fall this far short of the configured one
BUCKET_SECONDS = 0.1
CHART_HEIGHT = 10
WORKER = [sys.executable, "-m", "bot", "worker"]
ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Run:
    """The arrival times at the fake Twilio server of one run, and who sent what."""

    rate: float
    workers: int
    stamps: Sequence[float]  # time.monotonic() at the server, in order
    senders: Sequence[int]  # the worker (0 …) that sent each stamp's text
    killed_at: float | None = None  # when worker 0 was killed, if it was
    stranded: int = 0  # texts the killed worker had claimed: left for reconciliation
    lost: int = 0  # texts neither sent nor stranded
    twice: int = 0  # texts that reached Twilio more than once
    latency: Sequence[float] = ()  # seconds from each hand-over stamp to its arrival, sorted
    handed: Sequence[float] = ()  # the workers' hand-over stamps (wall clock): the pace itself
    wall_minus_monotonic: float = 0.0  # puts `stamps` on the wall clock's seconds

    @property
    def busiest_clock_second(self) -> int:
        """The most arrivals in one second of the wall clock (a provider counting per second)."""
        return busiest_clock_second([moment + self.wall_minus_monotonic for moment in self.stamps])

    @property
    def achieved(self) -> float:
        """Texts a second between the first hand-over and the last."""
        return rate_of(self.stamps)

    @property
    def busiest_second(self) -> int:
        return busiest_second(self.stamps)

    @property
    def shares(self) -> list[int]:
        counted = Counter(self.senders)
        return [counted[worker] for worker in range(self.workers)]

    @property
    def after_kill(self) -> float | None:
        """The rate from the kill to the last hand-over: the survivors alone."""
        if self.killed_at is None:
            return None
        return rate_of([moment for moment in self.stamps if moment >= self.killed_at])

    @property
    def met(self) -> bool:
        return (
            self.lost == self.twice == 0
            and self.achieved >= self.rate * (1 - TOLERANCE)
            and (self.after_kill is None or self.after_kill >= self.rate * (1 - TOLERANCE))
            and self.busiest_second <= self.rate
        )


def rate_of(stamps: Sequence[float]) -> float:
    """Texts a second from the first stamp to the last."""
    return (len(stamps) - 1) / (stamps[-1] - stamps[0]) if len(stamps) > 1 else 0.0


def busiest_second(stamps: Sequence[float]) -> int:
    """The most stamps in any window [t, t + 1 s), t a stamp (where maxima start)."""
    ordered = sorted(stamps)
    most, end = 0, 0
    for start, moment in enumerate(ordered):
        while end < len(ordered) and ordered[end] < moment + 1.0:
            end += 1
        most = max(most, end - start)
    return most


def busiest_clock_second(stamps: Sequence[float]) -> int:
    """The most stamps in any window [n, n + 1 s), n a whole second: easier to meet than
    `busiest_second`, which the goal is judged by."""
    return max(Counter(int(moment) for moment in stamps).values(), default=0)


def queue(db: Engine, count: int, label: str) -> None:
    """`count` one-segment texts, due now, for ten subscribed numbers; the outbox emptied first."""
    now = utcnow()  # the workers it measures run on the wall clock
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
                body=f"{label} text {number}",
                purpose=Purpose.TRANSACTIONAL,
                delivery=Delivery.OUTBOX,
                now=now,
            )


@dataclass
class Workers:
    """`bot worker` processes with their logs; stopped (SIGTERM) on leaving."""

    env: dict[str, str]
    folder: Path
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def start(self, count: int) -> None:
        for index in range(count):
            log = (self.folder / f"worker-{index}.log").open("wb")
            self.processes.append(
                subprocess.Popen(WORKER, cwd=ROOT, env=self.env, stdout=log, stderr=log)
            )
        for index, process in enumerate(self.processes):
            log_path = self.folder / f"worker-{index}.log"
            wait_for(lambda: b"sending through" in log_path.read_bytes(), process, log_path)  # noqa: B023

    def ids(self) -> dict[str, int]:
        """Each worker's dispatcher id (hostname:pid, as its rows' claimed_by) → its index."""
        host = socket.gethostname()  # as bot.sending.dispatcher.default_dispatcher_id
        return {
            f"{host}:{process.pid}"[-64:]: index for index, process in enumerate(self.processes)
        }

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes:
            process.wait(timeout=60)


def wait_for(
    condition: Callable[[], bool],
    process: subprocess.Popen[bytes] | None = None,
    log_path: Path | None = None,
) -> None:
    """Poll until `condition` holds (a bench may poll; a test waits on events)."""
    deadline = time.monotonic() + 300
    while not condition():
        if process is not None and process.poll() is not None:
            # The log goes with the bench's scratch folder: say what it says here.
            said = log_path.read_text(errors="replace").strip() if log_path else ""
            last = "\n".join(said.splitlines()[-5:]) or "(nothing)"
            raise RuntimeError(f"a worker exited with {process.returncode}; its log ends:\n{last}")
        if time.monotonic() > deadline:
            raise RuntimeError("the run did not finish in 5 minutes")
        time.sleep(0.05)


def run(
    db: Engine,
    server: FakeTwilioServer,
    env: dict[str, str],
    *,
    rate: float,
    workers: int,
    seconds: float,
    kill: bool,
) -> Run:
    count = int(rate * seconds)
    label = f"{rate:g}/s {workers}w{' kill' if kill else ''}"
    with transaction(db) as connection:
        connection.execute(text("DELETE FROM send_pace"))  # no debt from the last run
    first = len(server.arrivals)
    folder = Path(tempfile.mkdtemp(prefix="parley-pacing-"))
    fleet = Workers({**env, "SEND_RATE": f"{rate:g}"}, folder)
    killed_at = None
    try:
        fleet.start(workers)
        ids = fleet.ids()
        queue(db, count, label)
        if kill:
            wait_for(lambda: len(server.arrivals) - first >= count // 2)
            fleet.processes[0].kill()
            killed_at = time.monotonic()
            fleet.processes[0].wait()
        dead = next(iter(ids)) if kill else None
        wait_for(lambda: _settled(db, dead))
        server.wait_until_idle()
        fleet.stop()
    finally:
        for process in fleet.processes:
            if process.poll() is None:
                process.kill()
        shutil.rmtree(folder, ignore_errors=True)
    arrivals = [a for a in server.arrivals[first:] if a.body.startswith(f"{label} text")]
    with db.connect() as connection:
        rows = connection.execute(
            select(
                MESSAGES.c.body, MESSAGES.c.claimed_by, MESSAGES.c.status, MESSAGES.c.handed_over_at
            )
        ).all()
    claimed = {row.body: row.claimed_by for row in rows}
    # From the worker's hand-over stamp (its wall clock, just before the last consent check and
    # the request) to the server's receipt (monotonic): what scheduling adds to the paced slot.
    wall_minus_monotonic = time.time() - time.monotonic()
    handed = {row.body: row.handed_over_at.timestamp() for row in rows if row.handed_over_at}
    latency = sorted(
        arrival.monotonic + wall_minus_monotonic - handed[arrival.body]
        for arrival in arrivals
        if arrival.body in handed
    )
    arrived = Counter(arrival.body for arrival in arrivals)
    # The dead worker's claimed texts that never reached Twilio: reconciliation requeues them.
    stranded = sum(
        1
        for row in rows
        if row.status == "unknown" and row.claimed_by == dead and not arrived[row.body]
    )
    return Run(
        rate=rate,
        workers=workers,
        stamps=[arrival.monotonic for arrival in arrivals],
        senders=[ids.get(claimed.get(arrival.body) or "", -1) for arrival in arrivals],
        killed_at=killed_at,
        stranded=stranded,
        lost=count - len(arrived) - stranded,
        twice=sum(1 for times in arrived.values() if times > 1),
        latency=latency,
        handed=sorted(handed.values()),
        wall_minus_monotonic=wall_minus_monotonic,
    )


def _settled(db: Engine, dead: str | None) -> bool:
    """Nothing left to send but what the dead worker had claimed."""
    with db.connect() as connection:
        return not connection.scalar(
            text(
                "SELECT count(*) FROM message WHERE status = 'pending'"
                " OR (status = 'unknown' AND coalesce(claimed_by, '') != :dead)"
            ),
            {"dead": dead or ""},
        )


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
    if run.killed_at is not None:
        column = int((run.killed_at - start) / BUCKET_SECONDS)
        rows.append("       " + " " * column + "↑ worker 0 killed")
    return "\n".join(rows)


def report(run: Run) -> str:
    verdict = "met" if run.met else "MISSED"
    killed = ", worker 0 killed halfway" if run.killed_at is not None else ""
    lines = [
        f"configured {run.rate:g}/s, {run.workers} workers{killed}: {len(run.stamps)} texts in "
        f"{run.stamps[-1] - run.stamps[0]:.2f} s",
        f"  achieved rate   {run.achieved:8.2f}/s  ({run.achieved / run.rate - 1:+.2%})",
        f"  busiest second  {run.busiest_second:8d}    (limit {run.rate:g}; at the workers'"
        f" hand-over stamps {busiest_second(run.handed)}; in whole clock seconds"
        f" {run.busiest_clock_second})",
        f"  shares          {' / '.join(str(share) for share in run.shares)}",
    ]
    if run.after_kill is not None:
        lines.append(
            f"  after the kill  {run.after_kill:8.2f}/s  ({run.after_kill / run.rate - 1:+.2%});"
            f" {run.stranded} claimed texts left to reconciliation"
        )
    lines += [
        f"  lost, twice     {run.lost:8d}, {run.twice}",
        f"  hand-over→Twilio {_ms(run.latency, 0.5)} median, {_ms(run.latency, 0.99)} p99,"
        f" {_ms(run.latency, 1.0)} max",
        f"  goal (within {TOLERANCE:.0%}, never above): {verdict}",
        chart(run),
    ]
    return "\n".join(lines)


def _ms(ordered: Sequence[float], quantile: float) -> str:
    if not ordered:
        return "-"
    return f"{ordered[min(len(ordered) - 1, int(quantile * len(ordered)))] * 1000:.0f} ms"


def summary(runs: Sequence[Run]) -> str:
    """One table row a run, for docs/benchmarks.md."""
    rows = [
        "| rate | workers | achieved | busiest 1-s window (at hand-over; clock second) | shares"
        " | goal |",
        "|---" * 6 + "|",
    ]
    for run in runs:
        workers = f"{run.workers}, one killed" if run.killed_at is not None else str(run.workers)
        after = f" (after the kill {run.after_kill:.2f}/s)" if run.after_kill is not None else ""
        rows.append(
            f"| {run.rate:g}/s | {workers} | {run.achieved:.2f}/s"
            f" ({run.achieved / run.rate - 1:+.1%}){after} | {run.busiest_second}"
            f" ({busiest_second(run.handed)}; {run.busiest_clock_second}) |"
            f" {' / '.join(str(share) for share in run.shares)} |"
            f" {'met' if run.met else 'MISSED'} |"
        )
    return "\n".join(rows)


def environment(database_url: str, server: FakeTwilioServer, pace_store: str) -> dict[str, str]:
    """A worker's environment: the fake Twilio server, this database, nothing of the caller's."""
    kept = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("TWILIO_", "DATABASE_URL", "SEND_", "PACE_", "GATEWAY"))
    }
    return {
        **kept,
        "DATABASE_URL": database_url,
        "GATEWAY": "twilio",
        "TWILIO_ACCOUNT_SID": server.account_sid,
        "TWILIO_AUTH_TOKEN": server.auth_token,
        "TWILIO_FROM": SENDER,
        "TWILIO_API_URL": server.base_url,
        "PACE_STORE": pace_store,
    }


def _is_empty(db: Engine) -> bool:
    with db.connect() as connection:
        return not connection.scalar(text("SELECT count(*) FROM message"))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="work queued, in seconds")
    parser.add_argument("--rates", default="10,100", help="comma-separated rates per second")
    parser.add_argument("--workers", default="1,2,4", help="comma-separated worker counts")
    parser.add_argument(
        "--kill-of", type=int, default=3, help="workers in the run where one is killed (0: none)"
    )
    parser.add_argument(
        "--pace-store", default="database", choices=["database", "redis", "process"]
    )
    parser.add_argument(
        "--database-url",
        default=None,
        help="an empty scratch database, migrated and written to (default: a temporary SQLite)",
    )
    args = parser.parse_args(argv)
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    folder = Path(tempfile.mkdtemp(prefix="parley-bench-"))
    runs: list[Run] = []
    try:
        database_url = args.database_url or f"sqlite:///{folder / 'bench.db'}"
        upgrade(database_url)
        db = make_db(database_url)
        if not _is_empty(db):
            print(f"{database_url} holds messages: give the bench an empty scratch database")
            return 2
        with FakeTwilioServer() as server:
            env = environment(database_url, server, args.pace_store)
            plan = [(int(count), False) for count in args.workers.split(",")]
            if args.kill_of:
                plan.append((args.kill_of, True))
            for rate in (float(value) for value in args.rates.split(",")):
                for workers, kill in plan:
                    runs.append(
                        run(
                            db,
                            server,
                            env,
                            rate=rate,
                            workers=workers,
                            seconds=args.seconds,
                            kill=kill,
                        )
                    )
                    print(report(runs[-1]), end="\n\n", flush=True)
        db.dispose()
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    print(summary(runs))
    return 0 if all(run.met for run in runs) else 1


if __name__ == "__main__":
    sys.exit(main())

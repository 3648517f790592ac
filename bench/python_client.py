"""The fallback load generator for bench/inbound.py: Python threads, for a machine without wrk.

Each connection is a thread with one keep-alive HTTP connection, sending its queue's texts in
order, as wrk's replay script does, and at a rate when one is given. On a small machine the
client's own CPU caps what it can measure (issue 16 saw it cap bare Flask at 1,212 req/s on 2
cores, flattering the ratio): its figures say so, and wrk is the client to trust.
"""

from __future__ import annotations

import http.client
import statistics
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol
from urllib.parse import urlsplit

CAVEAT = (
    "measured with the Python fallback client, not wrk: on a small machine the client "
    "may be the ceiling, so the ratio flatters the slower target; apt-get install -y wrk"
)


class Text(Protocol):
    """What is sent: the url-encoded form and its X-Twilio-Signature."""

    form: str
    signature: str


@dataclass
class Tally:
    """One run's answers, gathered from every connection's thread."""

    latencies_s: list[float] = field(default_factory=list)  # one for each answer
    non_2xx: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, latencies_s: list[float], non_2xx: int) -> None:
        with self.lock:
            self.latencies_s.extend(latencies_s)
            self.non_2xx += non_2xx


@dataclass(frozen=True)
class Figures:
    """What wrk's replay script reports: a text that got no answer is not `answered`."""

    answered: int
    seconds: float
    p50_ms: float
    p99_ms: float
    non_2xx: int


def send_queue(
    url: str, queue: Sequence[Text], period_s: float, start_at: float, tally: Tally
) -> None:
    """Send `queue` in order over one connection; the k-th text no earlier than k periods on."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=30)
    latencies: list[float] = []
    non_2xx = 0
    try:
        for index, text in enumerate(queue):
            due = start_at + index * period_s
            if (wait := due - time.monotonic()) > 0:
                time.sleep(wait)  # the pacing itself, not a wait on an outcome
            sent = time.monotonic()
            try:
                connection.request(
                    "POST",
                    parts.path,
                    body=text.form,
                    headers={
                        "Content-Type": "application/x-www-form-urlencoded",
                        "X-Twilio-Signature": text.signature,
                    },
                )
                answer = connection.getresponse()
                answer.read()
            except (OSError, http.client.HTTPException):
                connection.close()  # unanswered; the next request opens a fresh connection
                continue
            latencies.append(time.monotonic() - sent)
            non_2xx += not 200 <= answer.status < 300
    finally:
        connection.close()
    tally.add(latencies, non_2xx)


def replay(url: str, queues: Sequence[Sequence[Text]], rate: float | None = None) -> Figures:
    """Send every queue over a connection of its own, at `rate` texts a second if given."""
    period_s = 0.0 if rate is None else len(queues) / rate
    tally = Tally()
    started = time.monotonic()
    threads = [
        threading.Thread(
            target=send_queue,
            # connections staggered over one period, so paced texts arrive evenly
            args=(url, queue, period_s, started + period_s * index / len(queues), tally),
        )
        for index, queue in enumerate(queues)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.monotonic() - started
    latencies = sorted(tally.latencies_s) or [0.0]
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    return Figures(
        answered=len(tally.latencies_s),
        seconds=seconds,
        p50_ms=statistics.median(latencies) * 1000,
        p99_ms=p99 * 1000,
        non_2xx=tally.non_2xx,
    )

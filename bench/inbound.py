"""Inbound benchmark: signed texts through Parley's full path vs a bare Flask app, same gunicorn.

Usage: python bench/inbound.py [--requests N] [--concurrency C] [--workers W] [--database-url URL]

Both apps run under gunicorn with the same settings; the same client sends the same signed
requests to each in one run. What matters is the ratio (full path / bare), not the absolute
numbers, which depend on the machine.
"""

from __future__ import annotations

import argparse
import http.client
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

from twilio.request_validator import RequestValidator

ROOT = Path(__file__).resolve().parent.parent
AUTH_TOKEN = "bench" + "0" * 27
# What each number texts, in order. "flows": a survey (three flow steps), a double opt-in (which
# starts the welcome flow) and an opt-out. "keywords": consent keywords and small talk only.
MIXES = {
    "flows": ("SURVEY", "9", "the staff", "JOIN", "Y", "STOP"),
    "keywords": ("HELP", "JOIN", "Y", "when does the sale end?", "STOP"),
}


@dataclass(frozen=True)
class Result:
    """Throughput and latency of one target."""

    name: str
    requests: int
    seconds: float
    latencies_ms: Sequence[float]
    failures: int

    @property
    def throughput(self) -> float:
        return self.requests / self.seconds

    def percentile(self, fraction: float) -> float:
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def signed_requests(
    count: int, port: int, batch: str, bodies: Sequence[str]
) -> list[tuple[bytes, dict[str, str]]]:
    """Distinct texts from many numbers, each signed as Twilio signs them."""
    validator = RequestValidator(AUTH_TOKEN)
    url = f"http://127.0.0.1:{port}/twilio/sms"
    prepared = []
    for index in range(count):
        form = {
            "MessageSid": f"SM{batch}{index:030x}",
            "AccountSid": "AC" + "0" * 32,
            "From": f"+1415555{index // len(bodies) % 10_000:04d}",
            "To": "+14155559999",
            "Body": bodies[index % len(bodies)],
            "NumMedia": "0",
        }
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Twilio-Signature": validator.compute_signature(url, form),
        }
        prepared.append((urlencode(form).encode(), headers))
    return prepared


def start_gunicorn(app: str, port: int, workers: int, env: dict[str, str]) -> subprocess.Popen:
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        app,
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(workers),
        "--log-level",
        "warning",
    ]
    process = subprocess.Popen(command, cwd=ROOT, env=env)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return process
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise SystemExit(f"gunicorn {app} did not start on port {port}")


def fire(name: str, port: int, prepared: list, concurrency: int, timeout: float = 30) -> Result:
    """Send every request once, `concurrency` at a time, and time each."""
    latencies: list[float] = []
    failures = 0
    lock = threading.Lock()
    done = 0

    def one(request: tuple[bytes, dict[str, str]]) -> None:
        nonlocal failures, done
        body, headers = request
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        started = time.perf_counter()
        connection.request("POST", "/twilio/sms", body=body, headers=headers)
        response = connection.getresponse()
        response.read()
        elapsed = (time.perf_counter() - started) * 1000
        connection.close()
        with lock:
            latencies.append(elapsed)
            failures += response.status != 200
            done += 1
            if done % max(1, len(prepared) // 4) == 0:
                print(f"  {name}: {done}/{len(prepared)}", file=sys.stderr, flush=True)

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        list(pool.map(one, prepared))
    return Result(name, len(prepared), time.perf_counter() - started, latencies, failures)


def migrate(database_url: str, env: dict[str, str]) -> None:
    subprocess.run(
        [sys.executable, "-m", "bot", "db", "upgrade"],
        cwd=ROOT,
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
    )


def run_target(
    name: str, app: str, args: argparse.Namespace, env: dict[str, str], round_number: int
) -> Result:
    port = free_port()
    process = start_gunicorn(app, port, args.workers, env)
    try:
        bodies = MIXES[args.mix]
        warmup = signed_requests(args.warmup, port, f"W{round_number}", bodies)
        # The port opens before the workers have imported the app, which on a loaded machine
        # takes longer than a request's timeout: the warm-up waits for them.
        fire(f"{name} warm-up", port, warmup, 4, timeout=600)
        prepared = signed_requests(args.requests, port, f"R{round_number}", bodies)
        return fire(name, port, prepared, args.concurrency)
    finally:
        process.terminate()
        process.wait(timeout=30)


def report(full: Result, bare: Result, args: argparse.Namespace) -> str:
    lines = [
        f"inbound benchmark ({args.mix}): {args.requests} signed texts, "
        f"concurrency {args.concurrency}, "
        f"gunicorn --workers {args.workers}, {os.cpu_count()} cores, "
        f"median of {args.rounds} rounds",
        f"{'target':<12}{'req/s':>10}{'p50 ms':>10}{'p99 ms':>10}{'failed':>8}",
    ]
    for result in (full, bare):
        lines.append(
            f"{result.name:<12}{result.throughput:>10.1f}{result.percentile(0.5):>10.2f}"
            f"{result.percentile(0.99):>10.2f}{result.failures:>8}"
        )
    ratio = full.throughput / bare.throughput
    lines.append(f"ratio full/bare throughput: {ratio:.2f} (goal: at least 0.50)")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--mix", choices=sorted(MIXES), default="flows", help="what people text")
    parser.add_argument("--warmup", type=int, default=50)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2 * (os.cpu_count() or 1) + 1)
    parser.add_argument("--database-url", default=None, help="default: a fresh SQLite file")
    args = parser.parse_args(argv)

    scratch = Path(tempfile.mkdtemp(prefix="parley-bench-"))
    database_url = args.database_url or f"sqlite:///{scratch}/bench.db"
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "GATEWAY": "console",
        "BRAND_NAME": "Acme",
        # The keyword mix runs with no flows loaded: the path of the compliance keywords alone.
        "FLOWS_DIR": str(ROOT / "flows") if args.mix == "flows" else str(scratch / "no-flows"),
        "PYTHONPATH": str(ROOT),
    }
    fulls: list[Result] = []
    bares: list[Result] = []
    try:
        migrate(database_url, env)
        # Alternate the targets so a noisy neighbour hurts both alike; report the median round.
        for round_number in range(args.rounds):
            print(f"round {round_number + 1}/{args.rounds}", file=sys.stderr, flush=True)
            fulls.append(run_target("parley", "webhook:app", args, env, round_number))
            bares.append(run_target("bare flask", "bench.bare_app:app", args, env, round_number))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    full, bare = median_round(fulls), median_round(bares)
    print(report(full, bare, args))
    failures = sum(result.failures for result in fulls + bares)
    return 0 if failures == 0 else 1


def median_round(results: list[Result]) -> Result:
    """The round with the median throughput."""
    return sorted(results, key=lambda result: result.throughput)[len(results) // 2]


if __name__ == "__main__":
    sys.exit(main())

"""Inbound benchmark: signed texts through Parley's full path vs a bare Flask app, same gunicorn.

Usage: python bench/inbound.py [--mix flows|keywords|burst] [--requests N] [--concurrency C]
       [--workers W] [--rounds R] [--database-url URL] [--client wrk|python]
       [--database-per-worker] [--agent-on-duty]

Both apps run under gunicorn with the same settings, and wrk (a compiled load generator, so the
client is never the ceiling) sends each the same signed webhooks in one run. Every target gets
exactly N requests per round: wrk's -d is only a time limit, and the run ends when the last
answer arrives. C connections, one per wrk thread, each sending its numbers' texts in order.
Then each target gets N more at half the rate it just reached (each connection paced on a
clock), where the latency a customer sees under ordinary load is read.
The ratio (full path / bare) is what compares across machines; the absolute numbers say how
fast each side was on this one. Without wrk, `--client python` (the default then) sends the same
texts from Python threads (bench/python_client.py): a fallback whose own CPU may be the ceiling,
and the report says so.
`--database-per-worker` (SQLite, `--mix burst` only) is a diagnostic, not a deployment: each
gunicorn worker writes a copy of the database of its own, so the difference from an ordinary
run is what sharing one SQLite file between the workers costs (one writer at a time, each
turn's page cache emptied by the other's writes). Only the burst mix does the same work both
ways: each number texts once, so no number's texts are split between two workers' databases.
`--agent-on-duty` puts one agent on duty (five slots) before the traffic: every question after
the first five waits for a human and runs an assignment round, the path texts take by day.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

from twilio.request_validator import RequestValidator

sys.path.insert(0, str(Path(__file__).resolve().parent))  # a script's sibling modules
import python_client

ROOT = Path(__file__).resolve().parent.parent
REPLAY_SCRIPT = Path(__file__).resolve().parent / "inbound_replay.lua"
READY_HOOK = Path(__file__).resolve().parent / "gunicorn_ready.py"
WRK_MISSING = "bench/inbound.py needs wrk, a compiled HTTP load generator: apt-get install -y wrk"
AUTH_TOKEN = "bench" + "0" * 27
# What the numbers text: each number follows one of its mix's scripts (in turn), in order.
# "flows": a survey (three flow steps), a double opt-in (which starts the welcome flow) and an
# opt-out. "keywords": consent keywords and small talk only. "burst": a TV spot, thousands of
# numbers never seen before, each texting once: JOIN, or whatever the spot made them say.
MIXES: dict[str, tuple[tuple[str, ...], ...]] = {
    "flows": (("SURVEY", "9", "the staff", "JOIN", "Y", "STOP"),),
    "keywords": (("HELP", "JOIN", "Y", "when does the sale end?", "STOP"),),
    "burst": (("JOIN",), ("Saw you on TV! Is the half-price deal still on?",)),
}
# The mixes that run with the shipped flows loaded; the others with none.
WITH_FLOWS = {"flows", "burst"}


@dataclass(frozen=True)
class SignedText:
    """One inbound webhook as Twilio would post it: the url-encoded form and its signature."""

    form: str
    signature: str


@dataclass(frozen=True)
class Result:
    """Throughput, latency and failures of one target in one round, as wrk measured them."""

    name: str
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    failures: int
    # The server processes' CPU (all of gunicorn's, from /proc) per answered request, when
    # measured: unlike req/s it hardly moves with what else the machine runs.
    cpu_ms: float | None = None

    @property
    def throughput(self) -> float:
        return self.requests / self.seconds


def server_cpu_seconds(process_group: int) -> float | None:
    """User and system CPU seconds spent so far by the living processes of `process_group`
    (gunicorn's arbiter and workers); None without Linux's /proc."""
    proc = Path("/proc")
    if not proc.is_dir():
        return None
    ticks = 0
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            # After the command's closing parenthesis: state, ppid, pgrp, …, utime, stime.
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # ended meanwhile
        if int(fields[2]) == process_group:
            ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def scripted(count: int, scripts: Sequence[Sequence[str]]) -> list[list[str]]:
    """`count` texts: what each number says, the numbers taking the scripts in turn."""
    people: list[list[str]] = []
    while count > 0:
        script = scripts[len(people) % len(scripts)]
        people.append(list(script[:count]))
        count -= len(people[-1])
    return people


def people_texting(count: int, scripts: Sequence[Sequence[str]]) -> int:
    """How many numbers `count` texts of the mix come from."""
    return len(scripted(count, scripts))


def conversations(
    count: int, url: str, batch: str, first_number: int, scripts: Sequence[Sequence[str]]
) -> list[list[SignedText]]:
    """`count` texts, each number's in script order from `first_number` on, signed for `url`."""
    validator = RequestValidator(AUTH_TOKEN)
    texts: list[list[SignedText]] = []
    index = 0
    for person, bodies in enumerate(scripted(count, scripts)):
        texts.append([])
        for body in bodies:
            form = {
                "MessageSid": f"SM{batch}{index:030x}",
                "AccountSid": "AC" + "0" * 32,
                "From": f"+1415{5_550_000 + first_number + person:07d}",
                "To": "+14155559999",
                "Body": body,
                "NumMedia": "0",
            }
            texts[-1].append(SignedText(urlencode(form), validator.compute_signature(url, form)))
            index += 1
    return texts


def by_connection(
    people: Sequence[Sequence[SignedText]], connections: int
) -> list[list[SignedText]]:
    """Deal whole numbers to connections in turn, so one connection sends each number's texts."""
    queues: list[list[SignedText]] = [[] for _ in range(min(connections, len(people)))]
    for index, texts in enumerate(people):
        queues[index % len(queues)].extend(texts)
    return queues


def start_gunicorn(
    app: str, port: int, workers: int, env: dict[str, str], ready_dir: Path
) -> subprocess.Popen:
    """Start `app` under gunicorn and return once every worker has loaded it."""
    ready_dir.mkdir(parents=True)
    command = [sys.executable, "-m", "gunicorn", app, "--config", str(READY_HOOK)]
    command += ["--bind", f"127.0.0.1:{port}", "--workers", str(workers)]
    command += ["--log-level", "warning"]
    process = subprocess.Popen(
        command,
        cwd=ROOT,
        env={**env, "PARLEY_BENCH_READY_DIR": str(ready_dir)},
        start_new_session=True,  # its own process group: stop() can end the workers too
        stdout=subprocess.DEVNULL,  # the console gateway prints every text it would send
    )
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline and process.poll() is None:
        if len(list(ready_dir.iterdir())) >= workers:
            return process
        time.sleep(0.1)
    process.kill()
    raise SystemExit(f"gunicorn {app} did not start {workers} workers on port {port}")


def replay(
    name: str,
    url: str,
    queues: Sequence[Sequence[SignedText]],
    workdir: Path,
    args: argparse.Namespace,
    rate: float | None = None,
) -> Result:
    """Send every queue in order over a connection of its own with the chosen client."""
    if args.client == "wrk":
        return replay_wrk(name, url, queues, workdir, args.time_limit, rate)
    figures = python_client.replay(url, queues, rate)
    return Result(
        name,
        figures.answered,
        figures.seconds,
        figures.p50_ms,
        figures.p99_ms,
        figures.non_2xx + sum(len(queue) for queue in queues) - figures.answered,
    )


def replay_wrk(
    name: str,
    url: str,
    queues: Sequence[Sequence[SignedText]],
    workdir: Path,
    time_limit_s: int,
    rate: float | None = None,
) -> Result:
    """Have wrk send every queue in order over a connection of its own; read its figures.

    With a `rate` (texts a second, all connections together), each connection sends on a
    clock, one text every `connections / rate` seconds, instead of as soon as it can.
    """
    workdir.mkdir(parents=True)
    for connection, queue in enumerate(queues):
        lines = "".join(f"{text.signature}\t{text.form}\n" for text in queue)
        (workdir / f"requests-{connection}.tsv").write_text(lines)
    # One thread per connection: wrk's script cannot tell a thread's connections apart, and
    # only a connection of its own keeps a number's texts in order.
    threads = str(len(queues))
    # Where a finished connection's last reconnect goes: a listener that never accepts.
    parking = socket.create_server(("127.0.0.1", 0), backlog=len(queues))
    parking_port = str(parking.getsockname()[1])
    command = ["wrk", "-t", threads, "-c", threads, "-d", f"{time_limit_s}s"]
    command += ["--timeout", "30s", "-s", str(REPLAY_SCRIPT), url]
    period_us = 0 if rate is None else round(len(queues) / rate * 1e6)
    command += [str(workdir), parking_port, str(period_us), threads]
    figures = None
    finished = 0
    with parking, subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as wrk:
        assert wrk.stdout is not None
        for line in wrk.stdout:
            if line == "replay: connection finished\n":
                finished += 1
                if finished == len(queues):
                    # wrk sleeps out -d even when every thread has stopped; the interrupt ends
                    # the sleep, and its summary then counts only the time the run took.
                    wrk.send_signal(signal.SIGINT)
            elif line.startswith("replay: {"):
                figures = json.loads(line.removeprefix("replay: "))
    if wrk.returncode != 0 or figures is None:
        raise SystemExit(f"wrk failed on {name} (exit {wrk.returncode}): {' '.join(command)}")
    expected = sum(len(queue) for queue in queues)
    unanswered = expected - figures["answered"]  # only if the time limit cut the run short
    return Result(
        name,
        figures["answered"],
        figures["microseconds"] / 1e6,
        figures["p50_us"] / 1000,
        figures["p99_us"] / 1000,
        figures["non_2xx"] + figures["socket_errors"] + unanswered,
    )


def migrate(database_url: str, env: dict[str, str]) -> None:
    subprocess.run(
        [sys.executable, "-m", "bot", "db", "upgrade"],
        cwd=ROOT,
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
    )


# In a process of the checkout's own (PYTHONPATH): its bot, not the one this script imports.
PUT_AGENT_ON_DUTY = (
    "import os; from bot.store.db import make_db; from bench.agent_queue import "
    "put_agent_on_duty; put_agent_on_duty(make_db(os.environ['DATABASE_URL']))"
)


def put_agent_on_duty(env: dict[str, str]) -> None:
    """One agent available with a live session and five slots: from the sixth question on,
    each waits for a human and runs an assignment round (the team at work, by day)."""
    subprocess.run([sys.executable, "-c", PUT_AGENT_ON_DUTY], cwd=ROOT, env=env, check=True)


@dataclass(frozen=True)
class Runs:
    """One target's figures in one round: as fast as it goes, then at half that rate."""

    saturated: Result
    half_rate: Result


def run_target(
    name: str,
    app: str,
    args: argparse.Namespace,
    env: dict[str, str],
    round_number: int,
    workdir: Path,
) -> Runs:
    port = free_port()
    url = f"http://127.0.0.1:{port}/twilio/sms"
    process = start_gunicorn(app, port, args.workers, env, workdir / "ready")
    scripts = MIXES[args.mix]
    # Each round and each run texts from numbers of its own, so every run starts every
    # conversation afresh (and a burst's numbers are all new); both targets get the same numbers.
    warmup_people = people_texting(args.warmup, scripts)
    run_people = people_texting(args.requests, scripts)
    first_number = round_number * (warmup_people + 2 * run_people)

    def texts(batch: str, count: int, first: int) -> list[list[SignedText]]:
        return conversations(count, url, f"{batch}{round_number}", first, scripts)

    try:
        warmup = texts("W", args.warmup, first_number)
        replay(f"{name} warm-up", url, by_connection(warmup, 4), workdir / "warmup", args)
        measured = texts("R", args.requests, first_number + warmup_people)
        cpu_before = server_cpu_seconds(process.pid)  # its own session: the group is its pid
        saturated = replay(
            name,
            url,
            by_connection(measured, args.concurrency),
            workdir / "measured",
            args,
        )
        cpu_after = server_cpu_seconds(process.pid)
        if cpu_before is not None and cpu_after is not None and saturated.requests:
            cpu_ms = (cpu_after - cpu_before) * 1000 / saturated.requests
            saturated = dataclasses.replace(saturated, cpu_ms=cpu_ms)
        print(f"  {format_row(saturated)}", file=sys.stderr, flush=True)
        paced = texts("P", args.requests, first_number + warmup_people + run_people)
        half_rate = replay(
            name,
            url,
            by_connection(paced, args.concurrency),
            workdir / "half-rate",
            args,
            rate=saturated.throughput / 2,
        )
        print(f"  {format_row(half_rate)} (at half rate)", file=sys.stderr, flush=True)
    finally:
        stop(process)
    return Runs(saturated, half_rate)


def stop(process: subprocess.Popen) -> None:
    """Stop gunicorn; kill it if its workers are still busy after 30 s."""
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        # A worker's action threads may still be waiting on the sending pace: nothing measured.
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def format_row(result: Result) -> str:
    cpu = "" if result.cpu_ms is None else f"{result.cpu_ms:>12.3f}"
    return (
        f"{result.name:<12}{result.throughput:>10.1f}{result.p50_ms:>10.2f}"
        f"{result.p99_ms:>10.2f}{result.failures:>8}{cpu}"
    )


def report(full: Runs, bare: Runs, args: argparse.Namespace) -> str:
    lines = [
        f"inbound benchmark ({args.mix}): {args.requests} signed texts per round and run, "
        f"{args.client} with {args.concurrency} connections, "
        f"gunicorn --workers {args.workers}, {os.cpu_count()} cores, "
        f"median of {args.rounds} rounds",
        *(
            ["diagnostic: each worker wrote a database file of its own (not a deployment)"]
            if args.database_per_worker
            else []
        ),
        *(
            ["an agent on duty, five slots: every later question waits and runs a round"]
            if args.agent_on_duty
            else []
        ),
        "as fast as each target goes:",
        f"{'target':<12}{'req/s':>10}{'p50 ms':>10}{'p99 ms':>10}{'failed':>8}{'CPU ms/req':>12}",
        format_row(full.saturated),
        format_row(bare.saturated),
        f"ratio full/bare throughput: "
        f"{full.saturated.throughput / bare.saturated.throughput:.2f} (goal: at least 0.35)",
    ]
    if full.saturated.cpu_ms and bare.saturated.cpu_ms:
        lines.append(
            "ratio by the servers' CPU per request (bare/full): "
            f"{bare.saturated.cpu_ms / full.saturated.cpu_ms:.2f}"
        )
    lines += [
        "at half each target's saturated rate (req/s: the rate reached):",
        format_row(full.half_rate),
        format_row(bare.half_rate),
        f"Parley's p99 at half rate: {full.half_rate.p99_ms:.1f} ms (goal: at most 50 ms)",
    ]
    if args.client == "python":
        lines.append(python_client.CAVEAT)
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000, help="texts per target per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--mix", choices=sorted(MIXES), default="flows", help="what people text")
    parser.add_argument("--warmup", type=int, default=50)
    parser.add_argument(
        "--concurrency", type=int, default=8, help="wrk connections (one wrk thread each)"
    )
    parser.add_argument("--workers", type=int, default=2 * (os.cpu_count() or 1) + 1)
    parser.add_argument("--database-url", default=None, help="default: a fresh SQLite file")
    parser.add_argument(
        "--time-limit",
        type=int,
        default=600,
        help="seconds wrk may take for one target's requests before it stops (wrk's -d)",
    )
    parser.add_argument(
        "--client",
        choices=("wrk", "python"),
        default="wrk" if shutil.which("wrk") else "python",
        help="the load generator: wrk (default where installed) or the Python fallback",
    )
    parser.add_argument(
        "--database-per-worker",
        action="store_true",
        help="diagnostic (SQLite, --mix burst): each worker writes a copy of the database of its "
        "own, to measure what sharing one file costs; never a deployment",
    )
    parser.add_argument(
        "--agent-on-duty",
        action="store_true",
        help="one agent available (five slots) before traffic starts: questions wait for a "
        "human and each runs an assignment round, as by day",
    )
    args = parser.parse_args(argv)
    if args.database_per_worker and args.database_url is not None:
        parser.error("--database-per-worker copies the bench's own SQLite file: no --database-url")
    if args.database_per_worker and args.mix != "burst":
        # gunicorn hands each request to whichever worker accepts it, so a number's later texts
        # would find another worker's database: not the same work as an ordinary run.
        parser.error(
            "--database-per-worker needs --mix burst (one text a number): in the other mixes "
            "a number's texts would land in different workers' databases"
        )
    if args.client == "wrk" and shutil.which("wrk") is None:
        print(WRK_MISSING, file=sys.stderr)
        return 2
    if args.client == "python":
        print(python_client.CAVEAT, file=sys.stderr)

    scratch = Path(tempfile.mkdtemp(prefix="parley-bench-"))
    database_url = args.database_url or f"sqlite:///{scratch}/bench.db"
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "GATEWAY": "console",
        "BRAND_NAME": "Acme",
        # The keyword mix runs with no flows loaded: the path of the compliance keywords alone.
        "FLOWS_DIR": str(ROOT / "flows") if args.mix in WITH_FLOWS else str(scratch / "no-flows"),
        "PYTHONPATH": str(ROOT),
    }
    bare_env = dict(env)  # the bare app opens no database: nothing to copy for its workers
    if args.database_per_worker:
        env["PARLEY_BENCH_DATABASE_PER_WORKER"] = "1"  # bench/gunicorn_ready.py's post_fork
    fulls: list[Runs] = []
    bares: list[Runs] = []
    try:
        migrate(database_url, env)
        if args.agent_on_duty:
            put_agent_on_duty(env)
        # Alternate the targets so a noisy neighbour hurts both alike; report the median round.
        for round_number in range(args.rounds):
            print(f"round {round_number + 1}/{args.rounds}", file=sys.stderr, flush=True)
            workdir = scratch / f"round-{round_number}"
            fulls.append(
                run_target("parley", "webhook:app", args, env, round_number, workdir / "parley")
            )
            bares.append(
                run_target(
                    "bare flask",
                    "bench.bare_app:app",
                    args,
                    bare_env,
                    round_number,
                    workdir / "bare",
                )
            )
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    full, bare = median_round(fulls), median_round(bares)
    print(report(full, bare, args))
    runs = [run for target in fulls + bares for run in (target.saturated, target.half_rate)]
    failures = sum(run.failures for run in runs)
    return 0 if failures == 0 else 1


def median_round(rounds: list[Runs]) -> Runs:
    """The round with the median saturated throughput."""
    return sorted(rounds, key=lambda runs: runs.saturated.throughput)[len(rounds) // 2]


if __name__ == "__main__":
    sys.exit(main())

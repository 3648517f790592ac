"""A question's CPU as the agents' queue grows: the team on duty and busy, against nobody on duty.

Usage: python bench/agent_queue.py [--questions N] [--every K] [--database-url URL] [--then-stop]

Every text no flow can take queues its sender for a human, and runs an assignment round. In a
burst (a campaign's replies, an outage) the queue grows while the team is busy. This sends N
signed questions from N new numbers into the app's WSGI callable, in one process per target,
and prints the mean CPU of a question (`time.thread_time`) over each K questions:

- **nobody on duty** (the baseline): no round has anyone to give to;
- **one agent on duty, full**: an agent available with five slots, all taken by the first
  five questions, so every later question's round finds nothing to give.

A round's cost should not grow with the queue: the ratio agent/nobody stays flat. Before
2026-12-01 a round read the whole queue each time (40 ms a question at 5 000 waiting on the
machine of docs/benchmarks.md, against 1 ms with nobody on duty).

`--then-stop`: each number texts STOP right after its question (timed: the question only). The
agent's slots then free again ("one agent on duty, slots free"), so every round has one to fill
and reads the queue; what it must pass over is everyone who asked and opted out, whose texts the
inbox still lists. Until migration 0034 every round read each of them again (on SQLite 0.2 ms
a question more for each thousand; see docs/benchmarks.md).

`--database-url` runs on that database (PostgreSQL: the bench's own, whose tables are emptied
before each target) instead of a fresh SQLite file per target.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Engine

HERE = Path(__file__).resolve().parent
TARGETS = ("nobody", "agent")
TARGET_NAMES = {"nobody": "nobody on duty", "agent": "one agent on duty, full"}
STOPPING_NAMES = {**TARGET_NAMES, "agent": "one agent on duty, slots free"}
QUESTION = "when does the sale end?"


def run_target(
    target: str, questions: int, every: int, database_url: str | None, then_stop: bool
) -> list[float]:
    """In this process: the mean ms of CPU a question, for each `every` questions."""
    sys.path.insert(0, str(HERE))
    import cpu_per_text  # a sibling: its signed environs, as a server passes them

    inbound = cpu_per_text._sibling("inbound")
    with tempfile.TemporaryDirectory() as scratch:
        # No flows: no step takes a question, so each one queues its sender.
        cpu_per_text.set_up_database(scratch, database_url, inbound.AUTH_TOKEN, with_flows=False)
        if database_url is not None:
            cpu_per_text._empty_tables(database_url)
        from bot.app import create_app
        from bot.web import context

        app = create_app()
        if target == "agent":
            with app.app_context():
                put_agent_on_duty(context.services().db)
        script = (QUESTION, "STOP") if then_stop else (QUESTION,)
        people = inbound.conversations(
            questions * len(script), cpu_per_text.URL, "queue", 0, (script,)
        )
        environs = [[cpu_per_text._environ(text) for text in person] for person in people]

        def start_response(status: str, headers: object, exc_info: object = None) -> None:
            if not status.startswith("200"):
                raise SystemExit(f"/twilio/sms answered {status}")

        names = STOPPING_NAMES if then_stop else TARGET_NAMES
        spent: list[float] = []
        means: list[float] = []
        for question, *stop in environs:
            started = time.thread_time()
            b"".join(app(question, start_response))
            spent.append(time.thread_time() - started)
            for environ in stop:
                b"".join(app(environ, start_response))
            if len(spent) % every == 0:
                means.append(statistics.fmean(spent[-every:]) * 1000)
                print(f"  {names[target]}: {len(spent)} asked", file=sys.stderr, flush=True)
        cpu_per_text._close(app)
    return means


def put_agent_on_duty(db: Engine) -> None:
    """An agent available with a live session (capacity 5, the default)."""
    from bot.accounts.agents import create_agent
    from bot.accounts.presence import set_available
    from bot.accounts.sessions import start_session

    now = datetime.now(UTC)
    agent = create_agent(db, "dana@bench.test", "Dana", "bench-password-0000", now=now)
    assert agent.id is not None
    start_session(db, agent.id, user_agent="bench", remote_addr="127.0.0.1", now=now)
    set_available(db, agent.id, True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--questions", type=int, default=5000)
    parser.add_argument("--every", type=int, default=1000, help="questions per reported mean")
    parser.add_argument("--database-url", help="a database of the bench's own (default: SQLite)")
    parser.add_argument(
        "--then-stop", action="store_true", help="each number texts STOP after its question"
    )
    parser.add_argument("--target", choices=TARGETS, help=argparse.SUPPRESS)  # one subprocess
    args = parser.parse_args()
    if args.target:
        means = run_target(
            args.target, args.questions, args.every, args.database_url, args.then_stop
        )
        print(json.dumps(means))
        return
    results: dict[str, list[float]] = {}
    for target in TARGETS:
        command = [sys.executable, __file__, "--target", target]
        command += ["--questions", str(args.questions), "--every", str(args.every)]
        if args.database_url:
            command += ["--database-url", args.database_url]
        if args.then_stop:
            command.append("--then-stop")
        names = STOPPING_NAMES if args.then_stop else TARGET_NAMES
        print(f"{names[target]} …", file=sys.stderr, flush=True)
        done = subprocess.run(command, check=True, stdout=subprocess.PIPE, text=True)
        results[target] = json.loads(done.stdout.strip().splitlines()[-1])
    where = "PostgreSQL" if args.database_url else "SQLite"
    if args.then_stop:
        where += ", each asker then stops"
    print(f"a question's CPU as the queue grows ({where}, mean ms over each {args.every}):")
    first_column = "stopped" if args.then_stop else "waiting"  # people who asked so far
    print(f"{first_column:>8} {'nobody':>8} {'agent':>8} {'ratio':>6}")
    for index, (nobody, agent) in enumerate(zip(results["nobody"], results["agent"], strict=True)):
        print(f"{(index + 1) * args.every:>8} {nobody:>8.2f} {agent:>8.2f} {agent / nobody:>6.2f}")


if __name__ == "__main__":
    main()

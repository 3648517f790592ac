"""CPU per inbound text: the whole app in one process, no server and no client in the way.

Usage: python bench/cpu_per_text.py [--texts N] [--warmup N] [--mix flows|keywords|burst]
       [--checkout DIR ...] [--profile FILE] [--database-url URL] [--count]

Signed texts (the same mixes as bench/inbound.py) go into the app's WSGI callable as a server
calls it, on a fresh SQLite database, their environs built before the clock starts (Flask's test
client added 0.1-0.25 ms a text of its own); each request's `time.thread_time` is taken, and
the median printed.
CPU time, unlike req/s under gunicorn, hardly moves with what else the machine is doing, so
this is the figure to compare two versions of the code by.

With `--checkout`, each directory (a `git worktree` of another commit, say) is measured in a
subprocess of its own, alternately, `--rounds` times: only public interfaces are used (the
`bot db upgrade` command, `create_app`, `/twilio/sms`), so older commits run it too.

`--database-url` runs on that database instead (PostgreSQL: one of the bench's own, whose
tables are emptied first). `--count` times nothing and counts, per measured text, SQLAlchemy
transactions, statements sent to the driver and, on PostgreSQL, round trips: a proxy between
the app and the server counts each time the app speaks after the server answered (statements
sent together in a pipeline are one; a pre-ping at checkout is not counted, `checkouts` says how
many there were). Counts do not move with the machine's load.
"""

from __future__ import annotations

import argparse
import cProfile
import importlib.util
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from werkzeug.test import EnvironBuilder

HERE = Path(__file__).resolve().parent
URL = "http://localhost/twilio/sms"  # what Flask's test client serves, and so what is signed


def _sibling(name: str):  # type: ignore[no-untyped-def]  # a script's sibling, loaded by path
    spec = importlib.util.spec_from_file_location(f"{name}_bench", HERE / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


class _Counts:
    """Transactions, driver statements and round trips of the requests' thread alone (the
    action threads and the dispatcher run beside it, as they finish)."""

    def __init__(self, proxy: Any) -> None:
        from sqlalchemy import event
        from sqlalchemy.engine import Engine
        from sqlalchemy.pool import Pool

        self.transactions = self.statements = self.round_trips = self.checkouts = 0
        self._proxy = proxy
        self._at_checkout: dict[int, int] = {}
        self._thread = threading.get_ident()
        event.listen(Engine, "begin", self._began)
        event.listen(Engine, "before_cursor_execute", self._sent)
        if proxy is not None:
            event.listen(Pool, "checkout", self._checked_out)
            event.listen(Pool, "checkin", self._checked_in)

    def _began(self, *_args: object) -> None:
        if threading.get_ident() == self._thread:
            self.transactions += 1

    def _sent(self, *_args: object) -> None:
        if threading.get_ident() == self._thread:
            self.statements += 1

    @staticmethod
    def _port(driver: Any) -> int:
        with socket.fromfd(driver.pgconn.socket, socket.AF_INET, socket.SOCK_STREAM) as dup:
            return int(dup.getsockname()[1])

    def _checked_out(self, driver: Any, *_args: object) -> None:
        # The pre-ping, if any, runs before this: it is counted from the next checkout on.
        if threading.get_ident() == self._thread:
            self.checkouts += 1
            port = self._port(driver)
            self._at_checkout[port] = self._proxy.by_port.get(port, 0)

    def _checked_in(self, driver: Any, *_args: object) -> None:
        if driver is None or threading.get_ident() != self._thread:
            return
        port = self._port(driver)
        if port in self._at_checkout:
            self.round_trips += self._proxy.by_port.get(port, 0) - self._at_checkout.pop(port)


def set_up_database(
    scratch: str, database_url: str | None, auth_token: str, *, with_flows: bool
) -> None:
    """This process's settings for the app (the console gateway, `auth_token` for signatures,
    a fresh SQLite file in `scratch` unless `database_url`), and its database migrated."""
    os.environ.update(
        DATABASE_URL=database_url or f"sqlite:///{scratch}/bench.db",
        GATEWAY="console",
        SECRET_KEY="bench-" + "0" * 26,
        TWILIO_AUTH_TOKEN=auth_token,
    )
    if not with_flows:
        os.environ["FLOWS_DIR"] = f"{scratch}/no-flows"
    subprocess.run([sys.executable, "-m", "bot", "db", "upgrade"], check=True)


def _empty_tables(database_url: str) -> None:
    """Start a PostgreSQL run from no rows, as a fresh SQLite file does."""
    from sqlalchemy import MetaData, create_engine

    engine = create_engine(database_url)
    tables = MetaData()
    tables.reflect(engine)
    kept = {"alembic_version", "setting"}  # the schema's version; the key `bot db upgrade` made
    names = [table.name for table in tables.sorted_tables if table.name not in kept]
    with engine.begin() as connection:
        connection.exec_driver_sql(f"TRUNCATE {', '.join(names)} RESTART IDENTITY CASCADE")
    engine.dispose()


def measure(
    texts: int,
    warmup: int,
    mix: str,
    profile: Path | None = None,
    database_url: str | None = None,
    count: bool = False,
) -> dict[str, float]:
    """Run in this process against the `bot` on sys.path; returns the median in ms (or, with
    `count`, the transactions, statements and round trips per measured text)."""
    inbound = _sibling("inbound")
    scripts = inbound.MIXES[mix]
    with tempfile.TemporaryDirectory() as scratch:
        # As bench/inbound.py runs it: keywords, no flows.
        with_flows = mix in inbound.WITH_FLOWS
        set_up_database(scratch, database_url, inbound.AUTH_TOKEN, with_flows=with_flows)
        proxy = None
        if database_url is not None:
            from sqlalchemy.engine import make_url

            _empty_tables(database_url)
            url = make_url(database_url)
            if count:
                proxy = _sibling("round_trips").RoundTripProxy((url.host, url.port or 5432))
                proxied = url.set(host="127.0.0.1", port=proxy.start())
                os.environ["DATABASE_URL"] = proxied.render_as_string(hide_password=False)
        from bot.app import create_app

        app = create_app()
        counts = _Counts(proxy) if count else None
        people = inbound.conversations(warmup + texts, URL, "cpu", 0, scripts)
        # Built before the clock starts: under gunicorn the server, not the app, builds them.
        environs = [_environ(text) for person in people for text in person]
        statuses: list[str] = []

        def start_response(status: str, headers: object, exc_info: object = None) -> None:
            statuses.append(status)

        spent: list[float] = []
        # CPU time, not wall time: the machine's other load must not enter the profile.
        profiler = cProfile.Profile(time.thread_time)
        for environ in environs:
            if len(spent) == warmup:
                if profile is not None:
                    profiler.enable()
                if counts is not None:
                    before = (
                        counts.transactions,
                        counts.statements,
                        counts.round_trips,
                        counts.checkouts,
                    )
            started = time.thread_time()
            answer = app(environ, start_response)
            b"".join(answer)  # what a server does with the body: read it, then close it
            getattr(answer, "close", lambda: None)()
            spent.append(time.thread_time() - started)
            if not statuses[-1].startswith("200"):
                raise SystemExit(f"/twilio/sms answered {statuses[-1]}")
        profiler.disable()
        if profile is not None:
            profiler.dump_stats(profile)
        _close(app)
    measured = spent[warmup:]
    if counts is not None:
        return {
            "transactions": (counts.transactions - before[0]) / len(measured),
            "statements": (counts.statements - before[1]) / len(measured),
            "round_trips": (counts.round_trips - before[2]) / len(measured),
            # A pool_pre_ping costs one more round trip each, not counted above.
            "checkouts": (counts.checkouts - before[3]) / len(measured),
            "texts": len(measured),
        }
    return {
        "median_ms": statistics.median(measured) * 1000,
        # Throughput under load follows the mean: the rare slow text (a checkpoint) counts.
        "mean_ms": statistics.fmean(measured) * 1000,
        "texts": len(measured),
    }


def _environ(text: Any) -> dict[str, Any]:
    """The WSGI environ of one signed text posted to /twilio/sms, as a server would pass it."""
    builder = EnvironBuilder(
        path="/twilio/sms",
        base_url="http://localhost",
        method="POST",
        data=text.form,
        content_type="application/x-www-form-urlencoded",
        headers={"X-Twilio-Signature": text.signature},
    )
    try:
        return builder.get_environ()
    finally:
        builder.close()


def _close(app: object) -> None:
    """Stop the app's threads before its database's folder goes: a follow-up still being sent
    would open the writer's lock file there (FileNotFoundError). A commit before `close_app`
    (bot/app.py) has none to call."""
    try:
        from bot.app import close_app
    except ImportError:
        return
    close_app(app)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--texts", type=int, default=1440)
    parser.add_argument("--warmup", type=int, default=120)
    parser.add_argument("--mix", choices=("burst", "flows", "keywords"), default="flows")
    parser.add_argument("--checkout", action="append", type=Path, default=[])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", action="store_true", help="print one JSON line (for --checkout)")
    parser.add_argument("--profile", type=Path, help="write cProfile stats of the measured texts")
    parser.add_argument("--database-url", help="a database of the bench's own (default: SQLite)")
    parser.add_argument("--count", action="store_true", help="count round trips, time nothing")
    args = parser.parse_args()
    if not args.checkout:
        result = measure(
            args.texts, args.warmup, args.mix, args.profile, args.database_url, args.count
        )
        if args.json:
            print(json.dumps(result))
        else:
            print(f"{args.mix}: {_described(result)} ({args.texts} texts)")
        return
    results: dict[Path, list[dict[str, float]]] = {checkout: [] for checkout in args.checkout}
    for round_number in range(1, args.rounds + 1):
        for checkout in args.checkout:
            command = [sys.executable, __file__, "--json", "--texts", str(args.texts)]
            command += ["--warmup", str(args.warmup), "--mix", args.mix]
            if args.database_url:
                command += ["--database-url", args.database_url]
            if args.count:
                command.append("--count")
            flows = str(checkout / "flows")
            run = subprocess.run(
                command,
                cwd=checkout,
                env={**os.environ, "PYTHONPATH": str(checkout), "FLOWS_DIR": flows},
                check=True,
                capture_output=True,
                text=True,
            )
            # The last line of ours: the console gateway prints the texts it sends as JSON too.
            ours = [line for line in run.stdout.splitlines() if '"texts": ' in line]
            result = json.loads(ours[-1])
            results[checkout].append(result)
            print(
                f"round {round_number}/{args.rounds} {checkout}: {_described(result)}", flush=True
            )
    for checkout, runs in results.items():
        if args.count:
            print(f"{checkout}: " + " | ".join(_described(result) for result in runs))
            continue
        medians = [result["median_ms"] for result in runs]
        listed = " / ".join(f"{value:.3f}" for value in medians)
        mean = statistics.median(result["mean_ms"] for result in runs)
        print(
            f"{checkout}: {listed} ms (median {statistics.median(medians):.3f};"
            f" median of the rounds' means {mean:.3f})"
        )


def _described(result: dict[str, float]) -> str:
    if "median_ms" in result:
        return f"{result['median_ms']:.3f} ms CPU per text (mean {result['mean_ms']:.3f})"
    return (
        f"per text {result['transactions']:.2f} transactions, {result['statements']:.2f}"
        f" statements, {result['round_trips']:.2f} round trips,"
        f" {result['checkouts']:.2f} pool checkouts (a pre-ping each, if on)"
    )


if __name__ == "__main__":
    main()

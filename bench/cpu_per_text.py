"""CPU per inbound text: the whole app in one process, no server and no client in the way.

Usage: python bench/cpu_per_text.py [--texts N] [--warmup N] [--mix flows|keywords|burst]
       [--checkout DIR ...] [--profile FILE]

Signed texts (the same mixes as bench/inbound.py) go into the app's WSGI callable as a server
calls it, on a fresh SQLite database, their environs built before the clock starts (Flask's test
client added 0.1-0.25 ms a text of its own); each request's `time.thread_time` is taken, and
the median printed.
CPU time, unlike req/s under gunicorn, hardly moves with what else the machine is doing, so
this is the figure to compare two versions of the code by.

With `--checkout`, each directory (a `git worktree` of another commit, say) is measured in a
subprocess of its own, alternately, `--rounds` times: only public interfaces are used (the
`bot db upgrade` command, `create_app`, `/twilio/sms`), so older commits run it too.
"""

from __future__ import annotations

import argparse
import cProfile
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from werkzeug.test import EnvironBuilder

HERE = Path(__file__).resolve().parent
URL = "http://localhost/twilio/sms"  # what Flask's test client serves, and so what is signed


def _inbound_module():  # type: ignore[no-untyped-def]  # a script's sibling, loaded by path
    spec = importlib.util.spec_from_file_location("inbound_bench", HERE / "inbound.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


def measure(texts: int, warmup: int, mix: str, profile: Path | None = None) -> dict[str, float]:
    """Run in this process against the `bot` on sys.path; returns the median in ms."""
    inbound = _inbound_module()
    scripts = inbound.MIXES[mix]
    with tempfile.TemporaryDirectory() as scratch:
        os.environ.update(
            DATABASE_URL=f"sqlite:///{scratch}/bench.db",
            GATEWAY="console",
            SECRET_KEY="bench-" + "0" * 26,
            TWILIO_AUTH_TOKEN=inbound.AUTH_TOKEN,
        )
        if mix not in inbound.WITH_FLOWS:  # as bench/inbound.py runs it: keywords, no flows
            os.environ["FLOWS_DIR"] = f"{scratch}/no-flows"
        subprocess.run([sys.executable, "-m", "bot", "db", "upgrade"], check=True)
        from bot.app import create_app

        app = create_app()
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
            if profile is not None and len(spent) == warmup:
                profiler.enable()
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
    args = parser.parse_args()
    if not args.checkout:
        result = measure(args.texts, args.warmup, args.mix, args.profile)
        if args.json:
            print(json.dumps(result))
        else:
            print(
                f"{args.mix}: {result['median_ms']:.3f} ms CPU per text (median of {args.texts}),"
                f" mean {result['mean_ms']:.3f} ms"
            )
        return
    medians: dict[Path, list[float]] = {checkout: [] for checkout in args.checkout}
    means: dict[Path, list[float]] = {checkout: [] for checkout in args.checkout}
    for round_number in range(1, args.rounds + 1):
        for checkout in args.checkout:
            command = [sys.executable, __file__, "--json", "--texts", str(args.texts)]
            command += ["--warmup", str(args.warmup), "--mix", args.mix]
            flows = str(checkout / "flows")
            run = subprocess.run(
                command,
                cwd=checkout,
                env={**os.environ, "PYTHONPATH": str(checkout), "FLOWS_DIR": flows},
                check=True,
                capture_output=True,
                text=True,
            )
            result = json.loads(run.stdout.strip().splitlines()[-1])
            medians[checkout].append(result["median_ms"])
            means[checkout].append(result["mean_ms"])
            print(
                f"round {round_number}/{args.rounds} {checkout}: {result['median_ms']:.3f} ms"
                f" (mean {result['mean_ms']:.3f})",
                flush=True,
            )
    for checkout, values in medians.items():
        listed = " / ".join(f"{value:.3f}" for value in values)
        mean = statistics.median(means[checkout])
        print(
            f"{checkout}: {listed} ms (median {statistics.median(values):.3f};"
            f" median of the rounds' means {mean:.3f})"
        )


if __name__ == "__main__":
    main()

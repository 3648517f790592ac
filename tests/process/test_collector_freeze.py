"""Long-running processes keep the garbage collector off what they built at start: the full
collections that came every few thousand requests and stalled them for ~100 ms
(bot/campaigns/collector.py) now scan only what comes later."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bot.testing.processes import HUNG_AFTER, ROOT, cold_start, free_port, wait_until
from tests.process.test_serve import environment

# What gunicorn's worker does with `webhook:app`, then what the collector sees. Automatic
# collections are off, so only freeze_start_up's own collection can free start-up's garbage.
WEB_WORKER = """
import gc, json, weakref

class Cycle:
    def __init__(self):
        self.itself = self  # only the collector frees it

gc.disable()
made_at_start_up = weakref.ref(Cycle())
import webhook
from bot.campaigns.collector import long_lived_frozen

made_by_a_request = weakref.ref(Cycle())
frozen = gc.get_freeze_count()
with long_lived_frozen():  # a campaign queued in this worker
    pass
gc.collect()
print(json.dumps({
    "frozen": frozen,
    "frozen_after_a_campaign": gc.get_freeze_count(),
    "scanned": len(gc.get_objects()),
    "start_up_garbage_kept": made_at_start_up() is not None,
    "request_garbage_kept": made_by_a_request() is not None,
}))
"""

# `bot <command>`, reporting what the collector sees at the moment the command starts its first
# thread (each freezes before it: what a thread holds would be frozen with the app otherwise).
WATCHED_COMMAND = """
import gc, json, sys, threading
from pathlib import Path

report = Path(sys.argv[1])
start = threading.Thread.start


def first_start(thread):
    threading.Thread.start = start
    seen = {"frozen": gc.get_freeze_count(), "scanned": len(gc.get_objects())}
    written = report.with_suffix(".part")
    written.write_text(json.dumps(seen))
    written.replace(report)  # whole, at once: the test reads it the moment it exists
    start(thread)


threading.Thread.start = first_start
from bot.cli import main

main(args=sys.argv[2:], prog_name="bot")
"""


def _frozen_enough(seen: dict[str, int]) -> None:
    # ~120 000-150 000 objects are frozen; a full collection scans a small rest.
    assert seen["frozen"] > 50_000
    assert seen["scanned"] < seen["frozen"] / 10


def test_a_web_worker_s_full_collections_skip_the_app(sqlite_url: str) -> None:
    ran = subprocess.run(
        [sys.executable, "-c", WEB_WORKER],
        env=environment(sqlite_url),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=HUNG_AFTER,
        check=True,
    )
    seen = json.loads(ran.stdout.splitlines()[-1])
    _frozen_enough(seen)
    assert seen["frozen_after_a_campaign"] == seen["frozen"]  # a campaign does not unfreeze it
    assert not seen["start_up_garbage_kept"]  # collected before the freeze, not kept for ever
    assert not seen["request_garbage_kept"]  # what requests make is collected as ever


@pytest.mark.parametrize("command", ["worker", "clock", "serve"])
def test_a_long_running_command_freezes_before_its_threads_start(
    command: str, sqlite_url: str, tmp_path: Path
) -> None:
    report = tmp_path / "collector.json"
    env = environment(sqlite_url, PORT=str(free_port()))
    process = cold_start(
        [sys.executable, "-c", WATCHED_COMMAND, str(report), command], env, tmp_path / "log"
    )
    try:
        wait_until(report.exists, [process], what="the watcher's report")
    finally:
        process.terminate()
        process.wait(timeout=HUNG_AFTER)
    _frozen_enough(json.loads(report.read_text()))

"""A web worker keeps the garbage collector off its app: the full collections that came every
few thousand requests and stalled them for ~100 ms (bot/campaigns/collector.py) now scan only
what requests make."""

from __future__ import annotations

import json
import subprocess
import sys

from bot.testing.processes import HUNG_AFTER, ROOT
from tests.process.test_serve import environment

# What gunicorn's worker does with `webhook:app`, then what the collector sees.
PROGRAM = """
import gc, json, weakref

class Cycle:
    def __init__(self):
        self.itself = self  # only the collector frees it

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
    "request_garbage_kept": made_by_a_request() is not None,
}))
"""


def test_a_web_worker_s_full_collections_skip_the_app(sqlite_url: str) -> None:
    ran = subprocess.run(
        [sys.executable, "-c", PROGRAM],
        env=environment(sqlite_url),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=HUNG_AFTER,
        check=True,
    )
    seen = json.loads(ran.stdout.splitlines()[-1])
    # The app's ~160 000 objects are frozen; a full collection scans a small rest.
    assert seen["frozen"] > 50_000
    assert seen["scanned"] < seen["frozen"] / 10
    assert seen["frozen_after_a_campaign"] == seen["frozen"]  # a campaign does not unfreeze it
    assert not seen["request_garbage_kept"]  # what requests make is collected as ever

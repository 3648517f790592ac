"""Keep the garbage collector off a process's long-lived objects.

The collector's full collections scan every object the process holds: once a web worker has
built the app, about 130 000 (modules, compiled statements, flows, templates), of which they
free none. In a gunicorn worker during a keyword burst each took 87-105 ms on a 2-core
machine, and one that came inside the SQLite writer's turn held the other worker up for as
long: Parley's p99 at half the saturated rate was 60-90 ms, against 20 ms flat out
(docs/benchmarks.md).

`gc.freeze()` moves what is alive into a generation no collection looks at; what is made later
is collected as before. Two uses:

- `freeze_start_up()`: a long-running process (a web worker, `bot serve`, `bot worker`, `bot
  clock`) freezes once it is built (its app, or its dispatcher), before its threads start, for
  good. Start-up's own garbage is collected first, so none of it is kept for ever.
- `long_lived_frozen()`: a run that makes many short-lived objects (a campaign being queued) in
  a process that did not freeze at start (a command, a test) freezes for the run alone. The
  last run to finish unfreezes, so overlapping runs (two campaigns at once, in threads) do not
  unfreeze each other's start.

Both are process-wide but only change what collections scan, so they are safe with threads.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_lock = threading.Lock()
_runs = 0  # runs inside `long_lived_frozen` now: the last one out unfreezes
_frozen_for_good = False  # freeze_start_up() has run: nothing unfreezes any more


def freeze_start_up() -> None:
    """Keep what is alive now (the built app) out of every later collection."""
    global _frozen_for_good
    with _lock:
        gc.collect()
        gc.freeze()
        _frozen_for_good = True


@contextmanager
def long_lived_frozen() -> Iterator[None]:
    """Collections inside the block skip the objects alive when the first such block began.

    In a process that froze for good (freeze_start_up) it does nothing: its start-up objects are
    already out of reach, and a run's freeze there would keep the garbage of the moment for ever.
    """
    global _runs
    with _lock:
        if _runs == 0 and not _frozen_for_good:
            gc.freeze()
        _runs += 1
    try:
        yield
    finally:
        with _lock:
            _runs -= 1
            if _runs == 0 and not _frozen_for_good:
                # Back into the oldest generation: garbage among them is found again.
                gc.unfreeze()

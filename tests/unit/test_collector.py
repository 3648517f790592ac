"""long_lived_frozen: collections skip what was alive before a run, and only during it."""

from __future__ import annotations

import gc
import weakref
from contextlib import ExitStack

from bot.campaigns.collector import long_lived_frozen


class _Node:
    """An object in a reference cycle: only the collector frees it."""

    def __init__(self) -> None:
        self.itself = self


def _garbage_cycle() -> weakref.ref[_Node]:
    return weakref.ref(_Node())


def test_garbage_from_before_a_run_is_freed_after_it_not_during() -> None:
    gc.collect()
    frozen_before = gc.get_freeze_count()
    cycle = _garbage_cycle()
    with long_lived_frozen():
        gc.collect()
        assert cycle() is not None  # frozen: the run's collections do not scan it
        during = _garbage_cycle()
        gc.collect()
        assert during() is None  # what the run makes is collected as usual
    assert gc.get_freeze_count() == frozen_before
    gc.collect()
    assert cycle() is None


def test_overlapping_runs_stay_frozen_till_the_last_ends() -> None:
    gc.collect()
    cycle = _garbage_cycle()
    first, second = ExitStack(), ExitStack()
    first.enter_context(long_lived_frozen())
    second.enter_context(long_lived_frozen())
    first.close()  # the first run ends while the second still queues
    gc.collect()
    assert cycle() is not None  # still frozen for the second run
    second.close()
    gc.collect()
    assert cycle() is None

"""Tells a clock running in this process that a timer was set, so it wakes for it at once.

The clock sleeps until the earliest due timer it knows of (capped, see `bot.timers.scheduler`).
A timer written by this process (the web app inside `bot serve`) rings the alarm once its
transaction commits; the clock then moves its next tick earlier when the new timer comes due
sooner. Timers written by other processes are seen at the clock's next tick, within the cap.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from datetime import datetime

from sqlalchemy.engine import Connection, Engine

from bot.store.db import after_commit

OnTimerSet = Callable[[datetime], None]

# Keyed by db (the Engine): two apps in one process (tests) keep their clocks apart.
_listeners: weakref.WeakKeyDictionary[Engine, list[OnTimerSet]] = weakref.WeakKeyDictionary()


def listen(db: Engine, on_timer_set: OnTimerSet) -> Callable[[], None]:
    """Call `on_timer_set(due_at)` after each commit that sets a timer; returns the unsubscriber."""
    _listeners.setdefault(db, []).append(on_timer_set)

    def unlisten() -> None:
        listeners = _listeners.get(db, [])
        if on_timer_set in listeners:
            listeners.remove(on_timer_set)

    return unlisten


def timer_set(connection: Connection, due_at: datetime) -> None:
    """Ring the alarm for `due_at` once the connection's transaction commits (not if it rolls back).

    Costs one dictionary look-up when no clock runs in this process.
    """
    listeners = _listeners.get(connection.engine)
    if not listeners:
        return

    def ring() -> None:
        for on_timer_set in list(listeners):
            on_timer_set(due_at)

    after_commit(connection, ring)

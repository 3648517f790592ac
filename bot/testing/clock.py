"""Clocks that move when told to, so `wait: 1d` in a flow test or in `bot chat` passes at once."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Protocol

from bot.sending.outbox import next_send_after
from bot.store.conversations import next_wake_up

if TYPE_CHECKING:
    from bot.services import Services


class FakeClock:
    """Callable like `utcnow`; `advance`, `set` and `sleep` move it.

    It also stands in for `time.monotonic` and `time.sleep` (the pacer's clock), on the same
    time line: sleeping moves the wall time too, and `sleeps` records each sleep.
    """

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("FakeClock needs an aware datetime (UTC)")
        self.now = start
        self.sleeps: list[float] = []
        # Kept as a float of its own: the sum of the sleeps exactly, not rounded to microseconds.
        self._monotonic = 0.0

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta
        self._monotonic += delta.total_seconds()

    def set(self, moment: datetime) -> None:
        self._monotonic += (moment - self.now).total_seconds()
        self.now = moment

    def monotonic(self) -> float:
        """Seconds since the clock was made, as `time.monotonic` counts them."""
        return self._monotonic

    def sleep(self, seconds: float) -> None:
        """`time.sleep`: the time passes at once."""
        self.sleeps.append(seconds)
        self.now += timedelta(seconds=seconds)
        self._monotonic += seconds


class SettableClock(Protocol):
    """A clock a session can move: FakeClock, or the shifted clock of `bot chat`."""

    def __call__(self) -> datetime: ...

    def set(self, moment: datetime) -> None: ...


def let_time_pass(services: Services, clock: SettableClock, duration: timedelta) -> None:
    """Move the clock on by `duration`, doing at each due moment what the clock and the
    dispatchers would: fire timers and expiries, send the texts that are due (deferred ones at
    their `send_after`)."""
    target = clock() + duration
    _work(services, clock)
    for _ in range(MAX_STEPS):
        due = _next_due(services, target)
        if due is None or due <= clock():
            break  # nothing left before the target (or nothing that moving on would change)
        clock.set(due)
        _work(services, clock)
    clock.set(target)
    _work(services, clock)


MAX_STEPS = 10_000  # a guard, not a limit anyone should reach


def _work(services: Services, clock: SettableClock) -> None:
    services.dispatcher.send(services.conversations.fire_due_timers())
    while services.dispatcher.run_once(clock()):
        pass


def _next_due(services: Services, limit: datetime) -> datetime | None:
    with services.db.connect() as connection:
        moments = [next_wake_up(connection, limit), next_send_after(connection, limit)]
    due = [moment for moment in moments if moment is not None]
    return min(due) if due else None

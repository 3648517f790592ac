"""Paces sends to the sender's rate: a token bucket on an injected clock. Pure, no I/O.

The bucket is kept as one number, the moment it is next free (the "theoretical arrival time" of
the generic cell rate algorithm): a taker reserves a slot and moves that moment on by its cost
over the rate. One number can live anywhere: in this process (`Pacer`), in a database row or in
Redis (`bot/sending/shared_pace.py`), where every worker takes its slots from the same bucket.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol


class Pace(Protocol):
    """What the dispatcher paces its hand-overs with: a bucket here or one shared by workers."""

    @property
    def rate(self) -> float:
        """Segments a second."""
        ...

    def acquire(self, cost: int = 1, lead: float = 0.0) -> float:
        """Block until `cost` segments may be handed over, or until `lead` seconds before
        (the time the hand-over's own work takes); returns the seconds waited."""
        ...

    def depart(self) -> None:
        """The text of this thread's last `acquire` leaves now: first waits out what is left
        of its slot (the lead was more than the work took); if it is late, the slots not yet
        taken move on by as much. Raises PaceStopped if the process stops in that wait."""
        ...


MICROSECONDS = 1_000_000  # a second; the bucket counts whole microseconds
# Shared slots are exact, so a text that leaves late (a busy CPU, a slow last consent check) can
# land in the same second as the ones after it. Pacing 1 % below the rate leaves 10 ms a second
# for the hand-over's own latency to vary, and still keeps within 2 % of the rate.
HEADROOM = 0.01
# A text leaving this long after its slot still fits the headroom (half of it: the other half is
# for the request's own way to the provider); a later one moves the pace on (`HeldSlots`).
LATE_TOLERANCE_US = int(HEADROOM / 2 * MICROSECONDS)
# The most a hand-over's own work (the last consent check) may start before its slot, so that
# the text leaves on the slot, not as late as the work took: then a checked text waits at most
# this long before it leaves.
MAX_LEAD_SECONDS = LATE_TOLERANCE_US / MICROSECONDS


def below_the_limit(rate_per_second: float) -> float:
    """The rate shared slots are handed out at: HEADROOM below the sender's limit."""
    return rate_per_second * (1 - HEADROOM)


@dataclass(frozen=True)
class Slot:
    """A reservation: when the taker may hand over, and when the bucket is next free after it
    (whole microseconds on the bucket's clock)."""

    at: int
    next_free: int


def check_bucket(rate_per_second: float, burst: int) -> None:
    """Refuse a rate or burst that cannot pace anything."""
    if rate_per_second <= 0:
        raise ValueError(f"rate_per_second must be positive, got {rate_per_second}")
    if burst < 1:
        raise ValueError(f"burst must be at least 1, got {burst}")


def check_cost(cost: int) -> None:
    """Refuse a text that costs nothing: every text counts against the sender's rate."""
    if cost < 1:
        raise ValueError(f"cost must be at least 1, got {cost}")


def step(cost: int, rate_per_second: float) -> int:
    """How far one taker moves the bucket's next free moment: its cost over the rate.

    Whole microseconds, rounded up: sums of steps are exact (floats would drift a window's
    last slot a hair inside it), and a rounding never speeds the sender up.
    """
    return math.ceil(cost * MICROSECONDS / rate_per_second)


def advance(next_free: int | None, now: int, cost: int, rate_per_second: float) -> int:
    """The bucket's next free moment after a taker of `cost` (None: a bucket never used).

    Shared stores do this same sum atomically in their own language (SQL, Lua).
    """
    start = now if next_free is None else max(next_free, now)  # an idle bucket saves nothing
    return start + step(cost, rate_per_second)


def slot_before(next_free: int, now: int, cost: int, rate_per_second: float, burst: int) -> Slot:
    """The slot of the taker that moved the bucket on to `next_free`.

    With a burst of 1, two slots are at least cost/rate apart, so no 1-second window holds more
    than `rate` segments; a burst of B lets a taker go up to (B - cost)/rate early. A text dearer
    than the burst waits for a full bucket and leaves it in debt.
    """
    start = next_free - step(cost, rate_per_second)
    return Slot(at=max(now, start - head_start(cost, rate_per_second, burst)), next_free=next_free)


def head_start(cost: int, rate_per_second: float, burst: int) -> int:
    """How long before its turn in the bucket a taker of `cost` may go: what the burst spares."""
    return (burst - min(cost, burst)) * step(1, rate_per_second)


def reserve(
    next_free: int | None, now: int, cost: int, rate_per_second: float, burst: int = 1
) -> Slot:
    """Take a slot from a bucket next free at `next_free`, at `now`."""
    check_cost(cost)
    moved = advance(next_free, now, cost, rate_per_second)
    return slot_before(moved, now, cost, rate_per_second, burst)


class HeldSlots:
    """The slot each thread holds from its reservation until its text leaves.

    A text that leaves more than LATE_TOLERANCE_US after its slot would bunch with the slots
    after it, so the bucket moves on by its whole lateness: the slots not yet taken keep their
    spacing from when it really left. Slots other takers already hold stay put; with any number
    of them the moved-on slots keep a rate's worth of texts a second apart. The time lost is the
    sender's, never borrowed.
    """

    def __init__(self) -> None:
        self._local = threading.local()

    def hold(self, slot: Slot) -> None:
        self._local.slot = slot
        self._local.moved = 0

    def wait_out(self, now: int, sleep: Callable[[float], object]) -> None:
        """Sleep from `now` until this thread's slot, if it is not due yet."""
        slot: Slot | None = getattr(self._local, "slot", None)
        if slot is not None and slot.at > now:
            sleep((slot.at - now) / MICROSECONDS)

    def late(self, now: int) -> int:
        """How much further to move the bucket on for this thread's text at `now` (0: none)."""
        slot: Slot | None = getattr(self._local, "slot", None)
        if slot is None or now - slot.at <= LATE_TOLERANCE_US:
            return 0
        more: int = now - slot.at - self._local.moved
        self._local.moved += more
        return more

    def release(self) -> None:
        """The text has left: later lateness is its request's, no longer the pace's."""
        self._local.slot = None


class Pacer:
    """A token bucket in this process: `rate_per_second` tokens a second, holding at most `burst`.

    A text costs its segment count, as Twilio counts segments against a sender's rate. Each
    taker reserves its slot and sleeps until it; threads of one process share the bucket. The
    clock is seconds (`time.monotonic`); the bucket counts microseconds.
    """

    def __init__(
        self,
        rate_per_second: float,
        burst: int = 1,
        *,
        clock: Callable[[], float],
        sleep: Callable[[float], object],
    ) -> None:
        check_bucket(rate_per_second, burst)
        self.rate = float(rate_per_second)
        self.burst = burst
        self._clock = clock
        self._sleep = sleep
        self._next_free: int | None = None
        # Dispatcher threads of one process share the sender's rate, so they share one bucket.
        self._lock = threading.Lock()
        self._held = HeldSlots()

    def acquire(self, cost: int = 1, lead: float = 0.0) -> float:
        """Block until `cost` tokens may be spent (`lead` seconds before, at most
        MAX_LEAD_SECONDS), spend them; returns the seconds waited."""
        with self._lock:
            now = self._clock()
            slot = reserve(self._next_free, round(now * MICROSECONDS), cost, self.rate, self.burst)
            self._next_free = slot.next_free
        self._held.hold(slot)
        # Sleeping outside the lock: the next taker reserves the slot after ours meanwhile.
        waited = sleep_until(slot, now, self._sleep, lead)
        self._move_on_if_late()  # woken late
        return waited

    def depart(self) -> None:
        """This thread's text leaves now (`Pace.depart`)."""
        self._held.wait_out(round(self._clock() * MICROSECONDS), self._sleep)
        self._move_on_if_late()
        self._held.release()

    def _move_on_if_late(self) -> None:
        late = self._held.late(round(self._clock() * MICROSECONDS))
        if late:
            with self._lock:
                assert self._next_free is not None  # a slot was held, so the bucket was used
                self._next_free += late


class PaceStopped(Exception):
    """The process stops: a text still waiting for its slot is not handed over."""


def sleep_unless_stopping(stopping: threading.Event) -> Callable[[float], None]:
    """A pace's sleep that ends at once, raising PaceStopped, when `stopping` is set."""

    def sleep(seconds: float) -> None:
        if stopping.wait(max(seconds, 0.0)):
            raise PaceStopped

    return sleep


def sleep_until(
    slot: Slot, now: float, sleep: Callable[[float], object], lead: float = 0.0
) -> float:
    """Sleep from `now` (seconds) until `lead` seconds (at most MAX_LEAD_SECONDS) before the
    slot; returns the seconds slept."""
    lead = min(max(lead, 0.0), MAX_LEAD_SECONDS)
    wait = max(0.0, slot.at / MICROSECONDS - lead - now)
    if wait > 0:
        sleep(wait)
    return wait

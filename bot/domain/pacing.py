"""Paces sends to the sender's rate: a token bucket on an injected clock. Pure, no I/O."""

from __future__ import annotations

import threading
from collections.abc import Callable

# Sleeping exactly the computed time can leave the bucket a rounding error short; a token this
# close to whole counts as whole, or the loop would spin through sub-nanosecond sleeps.
_EPSILON = 1e-9


class Pacer:
    """A token bucket: `rate_per_second` tokens a second, holding at most `burst`.

    A text costs its segment count, as Twilio counts segments against a sender's rate. With the
    default burst of 1, two hand-overs are at least cost/rate apart, so no 1-second window ever
    holds more than `rate` segments. A text dearer than the burst waits for a full bucket and
    leaves it in debt: the next text waits until the debt is paid.
    """

    def __init__(
        self,
        rate_per_second: float,
        burst: int = 1,
        *,
        clock: Callable[[], float],
        sleep: Callable[[float], object],
    ) -> None:
        if rate_per_second <= 0:
            raise ValueError(f"rate_per_second must be positive, got {rate_per_second}")
        if burst < 1:
            raise ValueError(f"burst must be at least 1, got {burst}")
        self.rate = float(rate_per_second)
        self.burst = burst
        self._clock = clock
        self._sleep = sleep
        self._tokens = float(burst)
        self._updated = clock()
        # Dispatcher threads of one process share the sender's rate, so they share one bucket.
        self._lock = threading.Lock()

    def acquire(self, cost: int = 1) -> float:
        """Block until `cost` tokens may be spent, spend them; returns the seconds waited."""
        if cost < 1:
            raise ValueError(f"cost must be at least 1, got {cost}")
        needed = min(cost, self.burst)
        waited = 0.0
        with self._lock:
            while True:
                self._refill()
                shortfall = needed - self._tokens
                if shortfall <= _EPSILON:
                    break
                pause = shortfall / self.rate
                self._sleep(pause)
                waited += pause
            self._tokens -= cost
        return waited

    def _refill(self) -> None:
        now = self._clock()
        elapsed = max(0.0, now - self._updated)  # a clock that steps back adds nothing
        self._tokens = min(float(self.burst), self._tokens + elapsed * self.rate)
        self._updated = now

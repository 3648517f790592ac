"""A clock that only moves when told to: `wait: 1d` in a flow test passes instantly."""

from __future__ import annotations

from datetime import datetime, timedelta


class FakeClock:
    """Callable like `utcnow`; `advance` and `set` move it."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("FakeClock needs an aware datetime (UTC)")
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta

    def set(self, moment: datetime) -> None:
        self.now = moment

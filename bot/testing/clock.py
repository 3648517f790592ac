"""Clocks that move when told to, so `wait: 1d` in a flow test or in `bot chat` passes at once."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Protocol

from bot.conversations import next_wake_up

if TYPE_CHECKING:
    from bot.services import Services


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


class SettableClock(Protocol):
    """A clock a session can move: FakeClock, or the shifted clock of `bot chat`."""

    def __call__(self) -> datetime: ...

    def set(self, moment: datetime) -> None: ...


def let_time_pass(services: Services, clock: SettableClock, duration: timedelta) -> list[int]:
    """Move the clock on by `duration`, firing each timer at its own due time, in order.

    Returns the outbox rows the timers queued (already handed to the dispatcher).
    """
    target = clock() + duration
    sent: list[int] = []
    while (due := _next_due(services, target)) is not None:
        clock.set(max(due, clock()))
        sent.extend(_fire(services))
    clock.set(target)
    sent.extend(_fire(services))
    return sent


def _fire(services: Services) -> list[int]:
    message_ids = services.conversations.fire_due_timers()
    services.dispatcher.send(message_ids)
    return message_ids


def _next_due(services: Services, limit: datetime) -> datetime | None:
    with services.engine.connect() as connection:
        return next_wake_up(connection, limit)

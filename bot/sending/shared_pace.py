"""One pace for every worker: the sender's token bucket in a database row or a Redis key.

Each hand-over reserves its slot with one atomic step on the shared bucket (an upsert of the
sender's `send_pace` row, or a Lua script in Redis) and sleeps until it: any number of
`bot worker`s together keep to SEND_RATE. No worker holds a lease or a share, and a worker
reserves its slot only when it is nearly due (RESERVE_AHEAD_US), so when one dies while it
waits the others take its turn: it loses a slot only if it dies in the moments it holds one.
The arithmetic is `bot.domain.pacing`'s; only where the one number lives differs.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Protocol

from sqlalchemy import BigInteger, bindparam, case, select
from sqlalchemy.engine import Engine
from sqlalchemy.sql.base import Executable

from bot.domain.pacing import (
    MICROSECONDS,
    HeldSlots,
    Slot,
    check_bucket,
    check_cost,
    head_start,
    sleep_until,
    slot_before,
    step,
)
from bot.store.db import dialect_insert, is_sqlite, prepared, transaction
from bot.store.models import utcnow
from bot.store.tables import SEND_PACES

if TYPE_CHECKING:
    from redis import Redis

REDIS_KEY_PREFIX = "parley:send_pace:"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# A worker reserves its slot no earlier than this before it. A worker killed while it waits
# then holds no slot, and the others take its turn. Long enough for the reservation's own round
# trip on a busy machine: a slot reserved after its time has passed is time lost to the sender.
RESERVE_AHEAD_US = 25_000


class BucketStore(Protocol):
    """Where a shared bucket's one number lives."""

    def move_on(self, now: int, step: int) -> int:
        """Atomically: next_free = max(next_free, now) + step (now + step for a new bucket);
        returns the new next_free."""
        ...

    def take_if_due(self, now: int, step: int, ahead: int) -> tuple[bool, int]:
        """Atomically, if next_free <= now + ahead or the bucket is new: move_on(now, step),
        and (True, the new next_free); else (False, next_free), the bucket untouched."""
        ...


class SharedPace:
    """A token bucket that any number of processes take slots from, kept in `store`."""

    def __init__(
        self,
        store: BucketStore,
        *,
        rate: float,
        burst: int = 1,
        clock: Callable[[], datetime] = utcnow,
        sleep: Callable[[float], object] = time.sleep,
    ) -> None:
        check_bucket(rate, burst)
        self.store = store
        self.rate = float(rate)
        self.burst = burst
        # Workers on several machines compare these moments: their clocks must agree (NTP).
        self._clock = clock
        self._sleep = sleep
        self._held = HeldSlots()

    def take(self, cost: int = 1) -> Slot:
        """Reserve the next slot for `cost` segments; `Slot.at` is when it may be handed over
        (microseconds since the epoch on the clock)."""
        check_cost(cost)
        now = microseconds(self._clock())
        next_free = self.store.move_on(now, step(cost, self.rate))
        return slot_before(next_free, now, cost, self.rate, self.burst)

    def acquire(self, cost: int = 1, lead: float = 0.0) -> float:
        """Reserve a slot once it is nearly due and sleep until it (`lead` seconds before, at
        most MAX_LEAD_SECONDS); returns the seconds slept."""
        check_cost(cost)
        slot, waited = self._take_when_due(cost)
        self._held.hold(slot)
        # From after the reservation: waiting for the store is part of the wait.
        now = microseconds(self._clock()) / MICROSECONDS
        waited += sleep_until(slot, now, self._sleep, lead)
        self._move_on_if_late()  # woken late (a busy CPU)
        return waited

    def _take_when_due(self, cost: int) -> tuple[Slot, float]:
        """Sleep until the bucket's next slot is at most RESERVE_AHEAD_US away, then take it;
        the slot and the seconds slept before it was taken."""
        moved = step(cost, self.rate)
        ahead = RESERVE_AHEAD_US + head_start(cost, self.rate, self.burst)
        waited = 0.0
        while True:
            now = microseconds(self._clock())
            taken, next_free = self.store.take_if_due(now, moved, ahead)
            if taken:
                return slot_before(next_free, now, cost, self.rate, self.burst), waited
            # Another worker took the slot we waited for: wait for the one after it.
            wait = (next_free - ahead - now) / MICROSECONDS
            self._sleep(wait)
            waited += wait

    def depart(self) -> None:
        """This thread's text leaves now (`Pace.depart`): after the last consent check, whose
        transaction can wait on other workers' writes."""
        self._held.wait_out(microseconds(self._clock()), self._sleep)
        self._move_on_if_late()
        self._held.release()

    def _move_on_if_late(self) -> None:
        late = self._held.late(microseconds(self._clock()))
        if late:
            # next_free + late, atomically: the slots other workers reserved meanwhile stay.
            self.store.move_on(0, late)


def microseconds(moment: datetime) -> int:
    """Whole microseconds since the epoch, exactly (a float timestamp would round)."""
    return (moment - EPOCH) // timedelta(microseconds=1)


def _reserve(dialect: str, *, if_due: bool = False) -> Executable:
    insert = dialect_insert(dialect, SEND_PACES)
    now = bindparam("now", type_=BigInteger())
    moved = bindparam("step", type_=BigInteger())
    free = SEND_PACES.c.next_free_us
    # Not due: no row is updated, so none is returned.
    due = free <= now + bindparam("ahead", type_=BigInteger()) if if_due else None
    # One statement: on PostgreSQL the conflicting row is locked and re-read, on SQLite the
    # writer's turn serialises, so two workers never reserve the same slot.
    return (
        insert.values(sender=bindparam("sender"), next_free_us=now + moved)
        .on_conflict_do_update(
            index_elements=["sender"],
            set_={"next_free_us": case((free > now, free), else_=now) + moved},
            where=due,
        )
        .returning(free)
    )


_RESERVE = prepared(_reserve)
_RESERVE_IF_DUE = prepared(lambda dialect: _reserve(dialect, if_due=True))
_NEXT_FREE = select(SEND_PACES.c.next_free_us).where(SEND_PACES.c.sender == bindparam("sender"))


class DatabaseBucket:
    """The bucket in the sender's `send_pace` row: every worker on DATABASE_URL shares it.

    A reservation's commit does not wait for the disk (`transaction(durable=False)`): before
    the text leaves, its last consent check commits and waits, and PostgreSQL writes its log in
    order, so that wait makes the reservation durable too. A server crash can lose only the
    reservation of a text that never left. Moving the pace on for a text that left late waits:
    nothing that waits need follow it.
    """

    def __init__(self, db: Engine, sender: str) -> None:
        self.db = db
        self.sender = sender

    def move_on(self, now: int, step: int) -> int:
        with transaction(self.db) as connection:
            next_free = connection.execute(
                _RESERVE(connection), {"sender": self.sender, "now": now, "step": step}
            ).scalar_one()
        return int(next_free)

    def take_if_due(self, now: int, step: int, ahead: int) -> tuple[bool, int]:
        if is_sqlite(self.db):
            # Many calls come before the turn (a worker back from its last text): a read says
            # so without a write transaction, which every other writer would wait for. On
            # PostgreSQL the reservation below is as cheap as that read (three round trips).
            with self.db.connect() as connection:
                seen = connection.execute(_NEXT_FREE, {"sender": self.sender}).scalar()
            if seen is not None and seen > now + ahead:
                return False, int(seen)
        with transaction(self.db, durable=False) as connection:
            taken = connection.execute(
                _RESERVE_IF_DUE(connection),
                {"sender": self.sender, "now": now, "step": step, "ahead": ahead},
            ).scalar()
            if taken is not None:
                return True, int(taken)
            # Taken by another meanwhile: when the next is due (a later value is only later).
            return False, int(connection.execute(_NEXT_FREE, {"sender": self.sender}).scalar_one())


# Redis runs a script alone: GET, compare, SET happen with no other client in between. Lua's
# numbers are doubles, exact for whole microseconds until the year 2255; '%.0f' writes them whole.
# ARGV: now, step and, for take_if_due, ahead. Returns {1, next_free} taken, {0, next_free} not.
_MOVE_ON = """
local now = tonumber(ARGV[1])
local free = tonumber(redis.call('GET', KEYS[1]) or ARGV[1])
if ARGV[3] and free > now + tonumber(ARGV[3]) then
  return {0, string.format('%.0f', free)}
end
if free < now then free = now end
free = free + tonumber(ARGV[2])
redis.call('SET', KEYS[1], string.format('%.0f', free))
return {1, string.format('%.0f', free)}
"""


class RedisBucket:
    """The bucket in a Redis key per sender: every worker on REDIS_URL shares it."""

    def __init__(self, client: Redis, sender: str) -> None:
        self.client = client
        self.key = f"{REDIS_KEY_PREFIX}{sender}"
        self._script = client.register_script(_MOVE_ON)

    def move_on(self, now: int, step: int) -> int:
        _, next_free = self._script(keys=[self.key], args=[now, step])
        return int(next_free)

    def take_if_due(self, now: int, step: int, ahead: int) -> tuple[bool, int]:
        taken, next_free = self._script(keys=[self.key], args=[now, step, ahead])
        return bool(taken), int(next_free)

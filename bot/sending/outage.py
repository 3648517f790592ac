"""Tells a provider outage from a text the provider will not take, and paces sending through one.

When several different texts in a row fail in a way worth retrying (5xx, timeouts, refused
connections), the provider is down, not the texts: sending stops, one text at a time probes with
a capped backoff, and the first text the provider answers (accepted or refused) ends the outage.

Pure: the dispatcher reports each answer with `now` and asks how many texts may go; the breaker
never reads a clock, sleeps or touches the store. Not thread-safe: its owner holds a lock.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

# How long a text the provider keeps failing is retried before it is marked failed.
DEFAULT_RETRY_WINDOW = timedelta(hours=4)
# Twilio drops a text it could not send within its ValidityPeriod, at most 36 000 s: retrying
# ours for longer would only send texts Twilio itself would call too late.
MAX_RETRY_WINDOW = timedelta(hours=10)
OUTAGE_AFTER = 3  # different texts failing in a row: one bad text alone never makes an outage
PROBE_FIRST = timedelta(seconds=2)
# Well under a minute, so that full pace resumes within a minute of the provider's recovery.
PROBE_CAP = timedelta(seconds=30)


class Change(StrEnum):
    """What an answer changed: the moments worth one log line each."""

    STARTED = "started"
    ENDED = "ended"


@dataclass(frozen=True)
class Outage:
    """An outage in progress: since when, and the provider's last word on it."""

    started_at: datetime  # the first failure of the run that tripped the breaker
    last_error: str | None
    failed_probes: int


class OutageBreaker:
    """Counts retryable failures across texts; in an outage, lets one probe through at a time."""

    def __init__(
        self,
        *,
        outage_after: int = OUTAGE_AFTER,
        probe_first: timedelta = PROBE_FIRST,
        probe_cap: timedelta = PROBE_CAP,
        rng: random.Random | None = None,
    ) -> None:
        if outage_after < 1:
            raise ValueError(f"outage_after must be at least 1, got {outage_after}")
        if not timedelta(0) < probe_first <= probe_cap:
            raise ValueError("probe_first must be above zero and no longer than probe_cap")
        self.outage_after = outage_after
        self.probe_first = probe_first
        self.probe_cap = probe_cap
        self.rng = rng or random.Random()
        self._failing: set[int] = set()  # texts that failed since the provider last answered
        self._first_failure: datetime | None = None
        self._outage: Outage | None = None
        self._next_probe: datetime | None = None

    @property
    def outage(self) -> Outage | None:
        """The outage in progress, or None while the provider answers."""
        return self._outage

    def allowance(self, now: datetime) -> int | None:
        """How many texts may go now: None (no limit), 1 (a probe) or 0 (wait for `next_probe`)."""
        if self._outage is None:
            return None
        if self._next_probe is not None and now < self._next_probe:
            return 0
        # Granting a probe books the next one, so a second caller waits instead of probing too.
        self._next_probe = now + self.probe_delay()
        return 1

    def next_probe(self) -> datetime | None:
        """When the next probe may go (None: no outage)."""
        return self._next_probe if self._outage is not None else None

    def probe_delay(self) -> timedelta:
        """The wait before the next probe: 2 s, 4 s, 8 s … 30 s, jittered into its upper half."""
        failed = self._outage.failed_probes if self._outage else 0
        # The doubling stops once past the cap: hours of outage must not overflow a timedelta.
        doublings = min(failed, int(self.probe_cap / self.probe_first).bit_length())
        step = min(self.probe_cap, self.probe_first * 2**doublings)
        return step * (0.5 + self.rng.random() / 2)

    def failed(self, message_id: int, now: datetime, error: str | None = None) -> Change | None:
        """A hand-over of this text failed in a way worth retrying."""
        if self._outage is not None:
            self._outage = Outage(
                self._outage.started_at,
                error or self._outage.last_error,
                self._outage.failed_probes + 1,
            )
            self._next_probe = now + self.probe_delay()
            return None
        if not self._failing:
            self._first_failure = now
        self._failing.add(message_id)
        if len(self._failing) < self.outage_after:
            return None
        self._outage = Outage(self._first_failure or now, error, failed_probes=0)
        self._next_probe = now + self.probe_delay()
        return Change.STARTED

    def answered(self) -> Change | None:
        """The provider answered a hand-over (took the text, or refused it for its own sake)."""
        self._failing.clear()
        self._first_failure = None
        if self._outage is None:
            return None
        self._outage = self._next_probe = None
        return Change.ENDED

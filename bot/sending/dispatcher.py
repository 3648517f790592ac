"""Hands outbox rows to the gateway at the sender's pace, so that no text is ever sent twice.

A row's life: PENDING → claimed: UNKNOWN, committed *before* the hand-over → consent checked
once more and `handed_over_at` stamped, just before the gateway call (bot/sending/handover.py) → the
provider's answer: ACCEPTED (or its status word), PENDING again with a backoff, or FAILED. A row
left UNKNOWN (a crash, a timeout after the request left) is reconciled with the provider, never
resent blindly: found there → recorded as sent; provably absent → PENDING again.
"""

from __future__ import annotations

import logging
import math
import os
import random
import socket
import threading
import time
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import String, bindparam, func, or_, select, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError

from bot.domain import policy
from bot.domain.pacing import Pace, PaceStopped
from bot.domain.statuses import advances, parse_provider_status
from bot.domain.vocabulary import MessageStatus, Purpose
from bot.engine.durations import format_duration
from bot.sending.gateways.base import (
    Gateway,
    OutboundText,
    ProviderLookupError,
    SendOutcome,
    SendResult,
    SupportsLookup,
)
from bot.sending.handover import CONSENT, consent_decision, last_check
from bot.sending.outage import DEFAULT_RETRY_WINDOW, PROBE_CAP, Change, Outage, OutageBreaker
from bot.sending.outbox import sending_hours_at_claim
from bot.store.db import transaction
from bot.store.models import status_is, utcnow
from bot.store.subscribers import opt_out_by_carrier
from bot.store.tables import MESSAGES, AnyRow
from bot.store.webhook_events import record_text_failed

log = logging.getLogger(__name__)


DEFAULT_MAX_ATTEMPTS = 5  # deprecated: the retry window decides when a text has failed
UNPACED_BATCH = 50  # rows a claim takes when nothing paces the sends
BACKOFF_FIRST = timedelta(seconds=5)
# As short as the outage breaker's probe interval: a text that failed just before the provider
# recovered goes out within a minute of it, even when too few texts failed to call it an outage.
BACKOFF_CAP = PROBE_CAP
# A row is reconciled only once it has been UNKNOWN this long: far longer than a batch is held
# (about a second of sends) plus the gateway's HTTP timeout, so a live dispatcher's text is
# never taken from under it.
RECONCILE_GRACE = timedelta(minutes=2)
RECONCILE_BATCH = 100
# The provider's clock and ours may differ: look for the text a little before we sent it.
LOOKUP_SKEW = timedelta(minutes=1)
# A text claimed this long after it was queued (held for the morning, scheduled, retried, an
# outage) is judged against the recipient's sending hours again: the night may have begun.
LATE_AFTER = timedelta(minutes=5)
IDLE_SECONDS = 0.5  # the worker's nap when the outbox is empty
ERROR_PAUSE_SECONDS = 5.0  # and after a round failed (database down …)
ERROR_MESSAGE_MAX = 500  # Message.error_message's length
# How a text is marked that failed because nobody could say whether the provider has it: it
# may have been sent, so it is never sent again (`bot outbox retry` leaves it alone too).
FATE_UNKNOWN = "fate unknown:"
EXPIRE_EVERY = timedelta(minutes=1)  # how often a worker fails texts whose retry window is over

_CLAIM_COLUMNS = (
    MESSAGES.c.id,
    MESSAGES.c.phone,
    MESSAGES.c.body,
    MESSAGES.c.media_urls,
    MESSAGES.c.segments,
    MESSAGES.c.purpose,
    MESSAGES.c.attempts,
    MESSAGES.c.created_at,  # a text claimed long after it was queued is judged again
)
_PENDING = status_is(MESSAGES.c.status, MessageStatus.PENDING)
_DUE = or_(MESSAGES.c.send_after.is_(None), MESSAGES.c.send_after <= bindparam("now"))
# SKIP LOCKED: on PostgreSQL, dispatchers claiming at once each take different rows instead of
# queueing behind one another. SQLite drops the clause; its single writer already serialises.
_DUE_ROWS = (
    select(*_CLAIM_COLUMNS)
    .where(_PENDING, _DUE)
    .order_by(MESSAGES.c.id)
    .limit(bindparam("limit"))
    .with_for_update(skip_locked=True)
)
_ONE_ROW = (
    select(*_CLAIM_COLUMNS)
    .where(MESSAGES.c.id == bindparam("message_id"), _PENDING, _DUE)
    .with_for_update(skip_locked=True)
)
_MARK_CLAIMED = (
    update(MESSAGES)
    .where(MESSAGES.c.id.in_(bindparam("ids", expanding=True)), _PENDING)
    .values(
        status=MessageStatus.UNKNOWN,
        claimed_by=bindparam("dispatcher"),
        sent_at=bindparam("claimed_at"),
        handed_over_at=None,  # stamped by the last consent check, text by text
        updated_at=bindparam("claimed_at"),
    )
    .returning(MESSAGES.c.id)
)
_SUPPRESS = (
    update(MESSAGES)
    .where(MESSAGES.c.id == bindparam("message_id"))
    .values(
        status=MessageStatus.SUPPRESSED,
        error_message=bindparam("reason"),
        updated_at=bindparam("suppressed_at"),
    )
)
# Not yet: quiet hours began while the text waited (an outage, a retry). It stays PENDING.
_DEFER = (
    update(MESSAGES)
    .where(MESSAGES.c.id == bindparam("message_id"), _PENDING)
    .values(
        send_after=bindparam("send_after"),
        error_message=bindparam("reason"),
        # Waiting for the morning is not the provider failing it: the retry window starts over
        # if the provider fails it again then.
        retrying_since=None,
        updated_at=bindparam("now"),
    )
)
# Back to the outbox: only rows this dispatcher claimed and never handed over.
_RELEASE = (
    update(MESSAGES)
    .where(
        MESSAGES.c.id.in_(bindparam("ids", expanding=True)),
        status_is(MESSAGES.c.status, MessageStatus.UNKNOWN),
        MESSAGES.c.claimed_by == bindparam("dispatcher"),
    )
    .values(
        status=MessageStatus.PENDING,
        claimed_by=None,
        sent_at=None,
        handed_over_at=None,  # checked, then stopped before its slot: it never left
        updated_at=bindparam("released_at"),
    )
)
# Where a text came from, for the `message.failed` webhook event.
_ORIGIN = (MESSAGES.c.flow, MESSAGES.c.campaign)
_LOCK_ONE = (
    select(
        MESSAGES.c.status,
        MESSAGES.c.provider_sid,
        MESSAGES.c.attempts,
        MESSAGES.c.retrying_since,
        *_ORIGIN,
    )
    .where(MESSAGES.c.id == bindparam("message_id"))
    .with_for_update()
)
_HANDED_AT = func.coalesce(MESSAGES.c.sent_at, MESSAGES.c.updated_at)
_UNKNOWN_SINCE = (
    select(
        *_CLAIM_COLUMNS,
        MESSAGES.c.sent_at,
        MESSAGES.c.handed_over_at,
        MESSAGES.c.updated_at,
        *_ORIGIN,
    )
    .where(
        status_is(MESSAGES.c.status, MessageStatus.UNKNOWN),
        _HANDED_AT <= bindparam("cutoff"),
    )
    .order_by(MESSAGES.c.id)
    .limit(bindparam("limit"))
)
_KNOWN_SIDS = select(MESSAGES.c.provider_sid).where(
    MESSAGES.c.phone == bindparam("phone"),
    MESSAGES.c.body == bindparam("body"),
    MESSAGES.c.provider_sid.is_not(None),
)

# SKIP LOCKED again: a row a claim holds is that dispatcher's; the next round gets the others.
_HELD_BACK = (
    select(MESSAGES.c.id)
    .where(_PENDING, _DUE, MESSAGES.c.retrying_since.is_(None))
    .with_for_update(skip_locked=True)
)
# An outage holds back every due text, tried or not: from now on they wait on the provider.
_HOLD_BACK = (
    update(MESSAGES)
    .where(MESSAGES.c.id.in_(_HELD_BACK.scalar_subquery()))
    .values(
        retrying_since=bindparam("now"),
        updated_at=bindparam("now"),
        error_message=bindparam("reason"),
    )
)
_WINDOW_OVER = (
    select(MESSAGES.c.id)
    .where(_PENDING, MESSAGES.c.retrying_since <= bindparam("cutoff"))
    .with_for_update(skip_locked=True)
)
_EXPIRE = (
    update(MESSAGES)
    .where(MESSAGES.c.id.in_(_WINDOW_OVER.scalar_subquery()))
    .values(
        status=MessageStatus.FAILED,
        claimed_by=None,
        send_after=None,
        updated_at=bindparam("now"),
        # The provider's last word stays readable after ours.
        error_message=func.substr(
            bindparam("reason", type_=String()) + func.coalesce(MESSAGES.c.error_message, ""),
            1,
            ERROR_MESSAGE_MAX,
        ),
    )
    .returning(
        MESSAGES.c.id,
        MESSAGES.c.phone,
        MESSAGES.c.error_code,
        MESSAGES.c.error_message,
        *_ORIGIN,
    )
)


@dataclass(frozen=True)
class ClaimedText:
    """An outbox row this dispatcher claimed (now UNKNOWN), ready to hand over."""

    message_id: int
    text: OutboundText
    segments: int  # what it costs against the sender's rate
    attempts: int  # earlier hand-overs that failed in a way worth retrying
    purpose: Purpose | None = None  # what the consent check at hand-over judges it as


@dataclass
class Reconciled:
    """What one reconciliation pass did with the rows whose fate was unknown."""

    found: int = 0  # the provider has it: recorded as sent
    requeued: int = 0  # the provider has none: PENDING again
    failed: int = 0  # the gateway cannot check: FAILED
    unresolved: int = 0  # the lookup failed: still UNKNOWN, tried again next pass

    @property
    def total(self) -> int:
        return self.found + self.requeued + self.failed + self.unresolved


def default_dispatcher_id() -> str:
    """hostname:pid, which names the process that claimed a row."""
    return f"{socket.gethostname()}:{os.getpid()}"[-64:]


def run_rounds(stop: threading.Event, one_round: Callable[[], float], what: str) -> None:
    """A worker's loop: rounds until `stop` is set, each followed by the pause it returns (in
    seconds); a round that fails is logged and tried again after ERROR_PAUSE_SECONDS."""
    while not stop.is_set():
        try:
            pause = one_round()
        except Exception:
            log.exception("%s round failed; trying again in %s s", what, ERROR_PAUSE_SECONDS)
            stop.wait(ERROR_PAUSE_SECONDS)
            continue
        if pause > 0:
            stop.wait(pause)


def backoff(
    attempts: int,
    rng: random.Random,
    *,
    first: timedelta = BACKOFF_FIRST,
    cap: timedelta = BACKOFF_CAP,
) -> timedelta:
    """How long to wait after the n-th retryable failure: 5 s, 10 s, 20 s, 30 s …, jittered
    (by default; webhooks wait longer)."""
    ceiling = min(cap, first * 2 ** max(0, attempts - 1))
    # "Equal jitter": never less than half the step, so retries still back off, yet dispatchers
    # throttled together do not all come back in the same instant.
    return ceiling * (0.5 + rng.random() / 2)


class Dispatcher:
    """Claims outbox rows, paces them to the sender's rate, hands them over, records the answer."""

    def __init__(
        self,
        *,
        db: Engine,
        gateway: Gateway,
        status_callback_url: str | None = None,
        dispatcher_id: str | None = None,
        pacer: Pace | None = None,
        max_attempts: int | None = None,
        batch_size: int | None = None,
        clock: Callable[[], datetime] = utcnow,
        rng: random.Random | None = None,
        retry_window: timedelta = DEFAULT_RETRY_WINDOW,
        breaker: OutageBreaker | None = None,
        rules: policy.PolicyRules = policy.DEFAULT_RULES,
        stopping: threading.Event | None = None,
    ) -> None:
        if max_attempts is not None:
            if max_attempts < 1:
                raise ValueError(f"max_attempts must be at least 1, got {max_attempts}")
            warnings.warn(
                "Dispatcher(max_attempts=...) is deprecated and no longer fails texts early:"
                " a text is retried for retry_window (SEND_RETRY_WINDOW)",
                DeprecationWarning,
                stacklevel=2,
            )
        if retry_window <= timedelta(0):
            raise ValueError(f"retry_window must be longer than zero, got {retry_window}")
        self.db = db
        self.gateway = gateway
        self.status_callback_url = status_callback_url
        self.id = dispatcher_id or default_dispatcher_id()
        self.pacer = pacer
        self.max_attempts = max_attempts or DEFAULT_MAX_ATTEMPTS  # kept for old readers only
        self.retry_window = retry_window
        self.rules = rules  # the sending hours, re-read at claim time
        # Claimed rows wait UNKNOWN for their turn: claim about one second's worth at a time.
        self.batch_size = batch_size or (
            max(1, math.ceil(pacer.rate)) if pacer is not None else UNPACED_BATCH
        )
        self.clock = clock
        self.rng = rng or random.Random()
        self.breaker = breaker or OutageBreaker(rng=self.rng)
        # Set when the process stops: `send` leaves the texts it has not begun in the outbox,
        # where a `bot worker` takes them, rather than wait out the pace for each of them.
        self.stopping = stopping or threading.Event()
        # Webhook threads send through the same dispatcher (`send`) as its worker loop.
        self._breaker_lock = threading.Lock()
        self._next_expiry: datetime | None = None
        # How long the last consent check took: the next one starts that much before its
        # slot, so that its text leaves on the slot (Pace.acquire's lead).
        self._check_lead = 0.0

    # -- sending --------------------------------------------------------------------------------

    def send(self, message_ids: Iterable[int]) -> None:
        """Send these messages now, if they are still pending and due (and the process is not
        stopping: then the rest stay pending in the outbox)."""
        for message_id in message_ids:
            if self.stopping.is_set():
                return
            self.send_one(message_id)

    def send_one(self, message_id: int) -> MessageStatus | None:
        """Claim, send and record one message; its new status, or None if it was not sent."""
        claimed = self._claim(_ONE_ROW, {"message_id": message_id}, self.clock())
        if not claimed:
            return None
        return self._hand_over(claimed[0])

    def claim_batch(self, limit: int, now: datetime) -> list[ClaimedText]:
        """Claim up to `limit` due rows, oldest first, re-checking consent; commits the claim."""
        return self._claim(_DUE_ROWS, {"limit": limit}, now)

    def run_once(
        self,
        now: datetime | None = None,
        stop: threading.Event | None = None,
        limit: int | None = None,
    ) -> int:
        """Claim a batch (at most `limit`) and send it at the sender's pace; returns the texts
        handed over."""
        batch = self.claim_batch(limit or self.batch_size, now or self.clock())
        for index, claimed in enumerate(batch):
            # An outage found mid-batch: the rest goes back untried (a probe batch is one text).
            stopping = self.stopping.is_set() or (stop is not None and stop.is_set())
            if stopping or (index and self.outage is not None):
                self._release(batch[index:])  # never handed over: back to the outbox
                return index
            try:
                self._hand_over(claimed)
            except Exception:
                # This row stays UNKNOWN (reconciled later); the untouched rest go back.
                self._release_quietly(batch[index + 1 :])
                raise
        return len(batch)

    def run_forever(
        self,
        stop: threading.Event,
        *,
        reconcile_every: float | None = None,
        idle_seconds: float = IDLE_SECONDS,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        """The worker loop: send until `stop` is set, reconciling every `reconcile_every` s."""
        next_reconcile = monotonic()

        def one_round() -> float:
            nonlocal next_reconcile
            if reconcile_every is not None and monotonic() >= next_reconcile:
                next_reconcile = monotonic() + reconcile_every
                report = self.reconcile()
                if report.total:
                    log.info("reconciled: %s", report)
            return self.run_round(stop=stop, idle_seconds=idle_seconds)

        run_rounds(stop, one_round, "dispatch")

    def run_round(
        self,
        now: datetime | None = None,
        *,
        stop: threading.Event | None = None,
        idle_seconds: float = IDLE_SECONDS,
    ) -> float:
        """One turn of the worker loop: a batch, or in an outage one probe; returns the seconds
        to wait before the next turn (0: go on at once)."""
        now = now or self.clock()
        if self._next_expiry is None or now >= self._next_expiry:
            self._next_expiry = now + EXPIRE_EVERY
            self.expire(now)
        with self._breaker_lock:
            allowance = self.breaker.allowance(now)
            next_probe = self.breaker.next_probe()
        if allowance == 0 and next_probe is not None:
            return max((next_probe - now).total_seconds(), 0.0)
        handed_over = self.run_once(now, stop=stop, limit=allowance)
        outage = self.outage
        if outage is not None:
            self._hold_back(now, outage)
        return 0.0 if handed_over else idle_seconds

    @property
    def outage(self) -> Outage | None:
        """The provider outage this dispatcher is riding out, if any."""
        return self.breaker.outage

    def expire(self, now: datetime | None = None) -> int:
        """Fail the pending texts the provider has failed for longer than the retry window."""
        now = now or self.clock()
        window = format_duration(self.retry_window)
        with transaction(self.db) as connection:
            failed = connection.execute(
                _EXPIRE,
                {
                    "cutoff": now - self.retry_window,
                    "now": now,
                    "reason": f"gave up: the provider still failed it after the {window} retry"
                    " window; last error: ",
                },
            ).all()
            for row in failed:
                errors = {"error_code": row.error_code, "error_message": row.error_message}
                _tell_failed(connection, row.id, row.phone, row, now, errors)
        expired = len(failed)
        if expired:
            log.warning("%d texts failed: the provider failed them for over %s", expired, window)
        return expired

    def _hold_back(self, now: datetime, outage: Outage) -> None:
        """Mark every due text as waiting on the provider, so that its retry window runs."""
        reason = f"held back by a provider outage: {outage.last_error}"[:ERROR_MESSAGE_MAX]
        with transaction(self.db) as connection:
            connection.execute(_HOLD_BACK, {"now": now, "reason": reason})

    def _observe(self, message_id: int, result: SendResult) -> None:
        """Tell the breaker how the provider answered; log an outage's start and end, once."""
        now = self.clock()
        with self._breaker_lock:
            before = self.breaker.outage
            if result.outcome is SendOutcome.RETRYABLE:
                change = self.breaker.failed(message_id, now, _error_text(result))
            else:
                change = self.breaker.answered()
            outage = self.breaker.outage
        if change is Change.STARTED and outage is not None:
            log.warning(
                "provider outage: %d texts in a row failed since %s (%s); holding the outbox"
                " and probing with one text at a time",
                self.breaker.outage_after,
                outage.started_at.isoformat(timespec="seconds"),
                outage.last_error,
            )
        elif change is Change.ENDED and before is not None:
            log.warning(
                "provider back after %s of outage (%d probes failed): sending at full pace",
                format_duration(now - before.started_at),
                before.failed_probes,
            )

    def _claim(self, statement: Any, params: dict[str, Any], now: datetime) -> list[ClaimedText]:
        with transaction(self.db) as connection:
            rows = connection.execute(statement, {**params, "now": now}).all()
            if not rows:
                return []
            people = {
                person.phone: person
                for person in connection.execute(
                    CONSENT, {"phones": sorted({row.phone for row in rows})}
                )
            }
            claimed: list[ClaimedText] = []
            refused: list[dict[str, Any]] = []
            deferred: list[dict[str, Any]] = []
            for row in rows:
                decision = self._may_leave(row, people.get(row.phone), now)
                if decision.allowed:
                    claimed.append(self._claimed(row))
                elif decision.verdict is policy.Verdict.DEFER:
                    deferred.append(
                        {
                            "message_id": row.id,
                            "send_after": decision.send_at,
                            "reason": decision.reason,
                            "now": now,
                        }
                    )
                else:
                    refused.append(
                        {"message_id": row.id, "reason": decision.reason, "suppressed_at": now}
                    )
            if refused:
                connection.execute(_SUPPRESS, refused)
            if deferred:
                connection.execute(_DEFER, deferred)
            if claimed:
                # From this commit until the provider answers, the text's fate is unknown: a
                # crash leaves it UNKNOWN, to be reconciled with the provider, never resent.
                marked = set(
                    connection.scalars(
                        _MARK_CLAIMED,
                        {
                            "ids": [text.message_id for text in claimed],
                            "dispatcher": self.id,
                            "claimed_at": now,
                        },
                    )
                )
                # Only rows still PENDING at the update are ours (the row lock makes that all
                # of them; this makes sure of it).
                claimed = [text for text in claimed if text.message_id in marked]
        for suppressed in refused:
            log.info(
                "message %s suppressed at send time: %s",
                suppressed["message_id"],
                suppressed["reason"],
            )
        for held in deferred:
            log.info("message %s held at send time: %s", held["message_id"], held["reason"])
        return claimed

    def _may_leave(self, row: AnyRow, person: AnyRow | None, now: datetime) -> policy.Decision:
        """Consent; then, for a text that is late, the recipient's sending hours as they stand."""
        # Consent may have changed since the text was queued: rows already refused are not
        # claimed (nor paced). The word that counts is the one at hand-over (last_check).
        decision = consent_decision(row.purpose, person.status if person else None)
        if not decision.allowed or person is None or now - row.created_at <= LATE_AFTER:
            return decision  # sent as it was queued: the policy's word then stands
        return sending_hours_at_claim(
            phone=row.phone,
            status=person.status,
            timezone=person.timezone,
            attributes=person.attributes,
            purpose=row.purpose,
            replying=False,  # no longer an immediate answer, whatever it answered
            now=now,
            rules=self.rules,
        )

    def _claimed(self, row: AnyRow) -> ClaimedText:
        return ClaimedText(
            message_id=row.id,
            text=OutboundText(
                to=row.phone,
                body=row.body,
                media_urls=tuple(row.media_urls or ()),
                status_callback_url=self._callback_url(row.id),
            ),
            # Twilio counts an MMS as one message against the rate, however long its text.
            segments=1 if row.media_urls else max(1, row.segments or 1),
            attempts=row.attempts or 0,
            purpose=row.purpose,
        )

    def _callback_url(self, message_id: int) -> str | None:
        if self.status_callback_url is None:
            return None
        return f"{self.status_callback_url}?mid={message_id}"

    def _hand_over(self, claimed: ClaimedText) -> MessageStatus | None:
        if self.pacer is not None:
            try:
                self.pacer.acquire(claimed.segments, lead=self._check_lead)
            except PaceStopped:  # the process stops: back to the outbox, for a worker
                self._release([claimed])
                return None
        handed_over_at = self.clock()
        # A batch is held for about a second of sends: a STOP may have come in meanwhile. The
        # last check runs after the pacer's wait, right before the text leaves (at most
        # MAX_LEAD_SECONDS before its slot).
        with transaction(self.db) as connection:
            kept_back = last_check(
                connection,
                message_id=claimed.message_id,
                phone=claimed.text.to,
                purpose=claimed.purpose,
                dispatcher=self.id,
                now=handed_over_at,
            )
        self._check_lead = (self.clock() - handed_over_at).total_seconds()
        if kept_back is not None:
            log.info("message %s not handed over: %s", claimed.message_id, kept_back)
            return None
        if self.pacer is not None:
            try:
                # Waits out the rest of the slot; a text leaving late moves the pace on.
                self.pacer.depart()
            except PaceStopped:  # stopping in its last milliseconds: it has not left
                self._release([claimed])
                return None
        result = self.gateway.send(claimed.text)
        return self._record(claimed, result, handed_over_at)

    def _release(self, batch: Sequence[ClaimedText]) -> None:
        if not batch:
            return
        with transaction(self.db) as connection:
            connection.execute(
                _RELEASE,
                {
                    "ids": [claimed.message_id for claimed in batch],
                    "dispatcher": self.id,
                    "released_at": self.clock(),
                },
            )
        log.info("released %d claimed texts unsent", len(batch))

    def _release_quietly(self, batch: Sequence[ClaimedText]) -> None:
        try:
            self._release(batch)
        except Exception:
            # Still safe: reconciliation finds them absent at the provider and requeues them.
            log.exception("could not release %d claimed texts; reconciliation will", len(batch))

    # -- recording ------------------------------------------------------------------------------

    def _record(
        self, claimed: ClaimedText, result: SendResult, handed_over_at: datetime
    ) -> MessageStatus | None:
        message_id, phone = claimed.message_id, claimed.text.to
        self._observe(message_id, result)
        # Not waiting for the disk: if a server crash loses this record, the row is left as
        # the hand-over stamped it, UNKNOWN, and reconciliation asks the provider, as after a
        # worker's crash. What decides what may leave waits: the claim, the last check, and a
        # carrier's word that the person opted out.
        durable = result.outcome is SendOutcome.OPTED_OUT
        with transaction(self.db, durable=durable) as connection:
            current = connection.execute(_LOCK_ONE, {"message_id": message_id}).first()
            if current is None:
                return None
            values = self._values_after(current, result, handed_over_at)
            if values:
                _set(connection, message_id, updated_at=self.clock(), **values)
            if values.get("status") is MessageStatus.FAILED:
                _tell_failed(connection, message_id, phone, current, self.clock(), values)
            if result.outcome is SendOutcome.OPTED_OUT:
                opt_out_by_carrier(connection, phone, message_id, self.clock())
        status = values.get("status", current.status)
        if result.outcome is SendOutcome.ACCEPTED:
            log.info("message %s to %s: %s (%s)", message_id, phone, status, result.provider_sid)
        else:
            log.info(
                "message %s to %s: %s after %s (%s %s)",
                message_id,
                phone,
                status,
                result.outcome,
                result.error_code,
                result.error_message,
            )
        return status

    def _values_after(
        self, current: AnyRow, result: SendResult, handed_over_at: datetime
    ) -> dict[str, Any]:
        """The columns to change for this answer, given the row as it is now."""
        errors = {"error_code": result.error_code, "error_message": result.error_message}
        if result.outcome is SendOutcome.ACCEPTED:
            values: dict[str, Any] = {
                "sent_at": handed_over_at,
                "error_code": None,
                "error_message": None,
            }
            if current.provider_sid is None:
                values["provider_sid"] = result.provider_sid
            status = parse_provider_status(result.status or "") or MessageStatus.ACCEPTED
            # A status callback may have beaten us here; a status never moves backwards.
            if advances(current.status, status):
                values["status"] = status
            return values
        if current.status is not MessageStatus.UNKNOWN:
            return {}  # moved on meanwhile (a status callback); its news is newer than ours
        if result.outcome is SendOutcome.RETRYABLE and result.maybe_accepted:
            # The request may have reached the provider (a read timeout): resending could text
            # twice, so the row stays UNKNOWN for reconciliation.
            return {"sent_at": handed_over_at, **errors}
        if result.outcome is SendOutcome.RETRYABLE:
            return self._retry_values(current, errors)
        # OPTED_OUT or FAILED: permanent; the provider never took it.
        return {**errors, "status": MessageStatus.FAILED, "sent_at": None}

    def _retry_values(self, current: AnyRow, errors: dict[str, Any]) -> dict[str, Any]:
        """A retryable failure: back to the outbox, unless the retry window is over."""
        now = self.clock()
        since = current.retrying_since or now
        if now - since >= self.retry_window:
            window = format_duration(self.retry_window)
            return {
                **errors,
                "status": MessageStatus.FAILED,
                "sent_at": None,
                "error_message": f"gave up: the provider still failed it after the {window}"
                f" retry window; last error: {errors['error_message']}",
            }
        values = {
            **errors,
            "status": MessageStatus.PENDING,
            "retrying_since": since,
            "claimed_by": None,
            "sent_at": None,
        }
        if self.outage is not None:
            # The provider is down, not this text: no attempt counted. Waiting out a probe
            # interval lets the next probe try another text, in case this one is the trouble.
            return {**values, "send_after": now + self.breaker.probe_cap}
        attempts = current.attempts + 1
        return {**values, "attempts": attempts, "send_after": now + backoff(attempts, self.rng)}

    # -- reconciliation -------------------------------------------------------------------------

    def reconcile(
        self, now: datetime | None = None, grace: timedelta = RECONCILE_GRACE
    ) -> Reconciled:
        """Settle rows UNKNOWN for longer than `grace` by asking the provider what it has."""
        now = now or self.clock()
        with self.db.connect() as connection:
            rows = connection.execute(
                _UNKNOWN_SINCE, {"cutoff": now - grace, "limit": RECONCILE_BATCH}
            ).all()
        report = Reconciled()
        for row in rows:
            self._reconcile_one(row, report)
        return report

    def _reconcile_one(self, row: AnyRow, report: Reconciled) -> None:
        if row.handed_over_at is None:
            # Claimed, never past its last consent check: it never left, whatever the gateway.
            if self._settle(row, status=MessageStatus.PENDING, claimed_by=None, sent_at=None):
                report.requeued += 1
                log.info("message %s: claimed but never handed over; back in the outbox", row.id)
            return
        if not isinstance(self.gateway, SupportsLookup):
            # Without a way to ask, a resend might text twice: give up, loudly.
            reason = f"{FATE_UNKNOWN} the {self.gateway.name} gateway cannot confirm"
            if self._settle(row, status=MessageStatus.FAILED, error_message=reason):
                report.failed += 1
                log.warning("message %s: %s", row.id, reason)
            return
        text = self._claimed(row).text
        handed_over_at = row.sent_at or row.updated_at
        try:
            with self.db.connect() as connection:
                known = {
                    sid
                    for (sid,) in connection.execute(
                        _KNOWN_SIDS, {"phone": row.phone, "body": row.body}
                    )
                }
            found = self.gateway.lookup(text, handed_over_at - LOOKUP_SKEW, skip_sids=known)
        except ProviderLookupError as error:
            report.unresolved += 1
            log.warning("message %s: cannot reconcile yet (%s); still unknown", row.id, error)
            return
        if found is not None:
            status = parse_provider_status(found.status or "") or MessageStatus.ACCEPTED
            if self._settle(
                row, status=status, provider_sid=found.provider_sid, sent_at=handed_over_at
            ):
                report.found += 1
                log.info("message %s: found at the provider (%s)", row.id, found.provider_sid)
            else:
                report.unresolved += 1
            return
        # Checked, not guessed: the provider holds no such text, so sending it is safe. Not
        # counted as an attempt: most such rows were merely claimed alongside a crash.
        if self._settle(row, status=MessageStatus.PENDING, claimed_by=None, sent_at=None):
            report.requeued += 1
            log.info("message %s: not at the provider; back in the outbox", row.id)

    def _settle(self, row: AnyRow, **values: Any) -> bool:
        """Apply values if nobody touched the row since we read it; False if somebody did."""
        statement = (
            update(MESSAGES)
            .where(
                MESSAGES.c.id == row.id,
                status_is(MESSAGES.c.status, MessageStatus.UNKNOWN),
                # updated_at moves with every write, so it serves as the row's version.
                MESSAGES.c.updated_at == row.updated_at,
            )
            .values(updated_at=self.clock(), **_fitted(values))
        )
        try:
            with transaction(self.db) as connection:
                settled = connection.execute(statement).rowcount == 1
                if settled and values.get("status") is MessageStatus.FAILED:
                    _tell_failed(connection, row.id, row.phone, row, self.clock(), values)
                return settled
        except IntegrityError:
            # Another reconciler matched the provider's message to a twin row just now.
            log.warning("message %s: provider sid already taken; trying again later", row.id)
            return False


def _tell_failed(
    connection: Connection,
    message_id: int,
    phone: str,
    origin: AnyRow,  # the text's row, with its flow and campaign
    now: datetime,
    errors: Mapping[str, Any],  # the error code and message written with FAILED
) -> None:
    """The text failed for good: webhooks hear of it, in the transaction that says so."""
    fitted = _fitted(dict(errors))
    record_text_failed(
        connection,
        message_id=message_id,
        phone=phone,
        status=MessageStatus.FAILED,
        error_code=fitted.get("error_code"),
        error_message=fitted.get("error_message"),
        flow=origin.flow,
        campaign=origin.campaign,
        now=now,
    )


def _error_text(result: SendResult) -> str:
    """The provider's error as one short phrase for the log."""
    code = f"{result.error_code} " if result.error_code is not None else ""
    return f"{code}{result.error_message or result.outcome}"


def _fitted(values: dict[str, Any]) -> dict[str, Any]:
    message = values.get("error_message")
    if isinstance(message, str) and len(message) > ERROR_MESSAGE_MAX:
        values = {**values, "error_message": message[: ERROR_MESSAGE_MAX - 1] + "…"}
    return values


def _set(connection: Connection, message_id: int, **values: Any) -> None:
    connection.execute(
        update(MESSAGES).where(MESSAGES.c.id == message_id).values(**_fitted(values))
    )

"""The webhook worker: routes recorded events to endpoints and posts them, in order per person.

An event's life: recorded in the transaction of its change (`bot.store.webhook_events`) →
routed: one PENDING delivery per endpoint that wants its type (none wants it: it is deleted) →
claimed by one worker (`claimed_by`, `claimed_until`), committed *before* the POST → the
receiver's answer recorded: DELIVERED on 2xx; else PENDING again after a backoff, or GAVE_UP once
the receiver has failed it for the retry window. A worker that dies mid-POST leaves its claim to
run out (CLAIM_LEASE), and the event is posted again: delivery is at least once.

In order per person: a person's next event at an endpoint waits until the one before it was
delivered or given up, so a receiver never hears "opted out" before "subscribed".
"""

from __future__ import annotations

import json
import logging
import random
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import requests
from sqlalchemy import and_, bindparam, delete, exists, or_, select, update
from sqlalchemy.engine import Engine

from bot.domain.vocabulary import DeliveryStatus
from bot.engine.durations import format_duration
from bot.sending.dispatcher import backoff as jittered_backoff
from bot.sending.dispatcher import default_dispatcher_id, run_rounds
from bot.store.db import transaction
from bot.store.models import status_is, utcnow
from bot.store.tables import WEBHOOK_DELIVERIES, WEBHOOK_EVENTS, AnyRow
from bot.webhooks.endpoints import Endpoint, Endpoints
from bot.webhooks.signature import SIGNATURE_HEADER, signature

log = logging.getLogger(__name__)

DEFAULT_RETRY_WINDOW = timedelta(days=3)  # as Stripe retries; WEBHOOK_RETRY_WINDOW
TIMEOUT_SECONDS = 10.0  # a receiver should answer at once and do its work afterwards
# Far longer than a batch takes to post (BATCH posts of at most TIMEOUT_SECONDS each), so a live
# worker's claim never runs out under it.
CLAIM_LEASE = timedelta(minutes=5)
BATCH = 10
ROUTE_BATCH = 500
BACKOFF_FIRST = timedelta(seconds=10)  # then 20 s, 40 s … an hour, an hour, …
BACKOFF_CAP = timedelta(hours=1)
IDLE_SECONDS = 1.0  # the worker's nap when nothing is due
ERROR_MAX = 500  # WebhookDelivery.last_error's length
ANSWER_SHOWN = 200  # characters of a failing receiver's answer kept for `bot webhooks list`
USER_AGENT = "Parley-Webhooks/1"

D = WEBHOOK_DELIVERIES
E = WEBHOOK_EVENTS
_EARLIER = D.alias("earlier")
_UNROUTED = E.alias("unrouted")
# A person's first undecided event at its endpoint: nothing of theirs before it still waits,
# neither a delivery to the same endpoint nor an event not routed yet.
_HEAD_OF_QUEUE = and_(
    ~exists().where(
        status_is(_EARLIER.c.status, DeliveryStatus.PENDING),
        _EARLIER.c.endpoint == D.c.endpoint,
        _EARLIER.c.phone == D.c.phone,
        _EARLIER.c.event_id < D.c.event_id,
    ),
    ~exists().where(
        _UNROUTED.c.routed_at.is_(None),
        _UNROUTED.c.phone == D.c.phone,
        _UNROUTED.c.id < D.c.event_id,
    ),
)
# SKIP LOCKED: on PostgreSQL, workers claiming at once take different rows; SQLite drops the
# clause, its single writer (BEGIN IMMEDIATE) already serialises claims.
_DUE = (
    select(
        D.c.id,
        D.c.endpoint,
        D.c.attempts,
        D.c.retrying_since,
        E.c.public_id,
        E.c.type,
        E.c.data,
        E.c.created_at,
    )
    .select_from(D.join(E, E.c.id == D.c.event_id))
    .where(
        status_is(D.c.status, DeliveryStatus.PENDING),
        or_(D.c.next_attempt_at.is_(None), D.c.next_attempt_at <= bindparam("now")),
        or_(D.c.claimed_until.is_(None), D.c.claimed_until <= bindparam("now")),
        _HEAD_OF_QUEUE,
    )
    .order_by(D.c.event_id)
    .limit(bindparam("limit"))
    .with_for_update(of=D, skip_locked=True)
)
_MARK_CLAIMED = (
    update(D)
    .where(D.c.id.in_(bindparam("ids", expanding=True)))
    .values(
        claimed_by=bindparam("worker"),
        claimed_until=bindparam("until"),
        updated_at=bindparam("now"),
    )
)
_UNROUTED_EVENTS = (
    select(E.c.id, E.c.type, E.c.phone)
    .where(E.c.routed_at.is_(None))
    .order_by(E.c.id)
    .limit(ROUTE_BATCH)
    .with_for_update(skip_locked=True)
)


@dataclass(frozen=True)
class ClaimedDelivery:
    """A delivery this worker claimed, with its event, ready to post."""

    id: int
    endpoint: str
    attempts: int
    retrying_since: datetime | None
    event_id: str
    event_type: str
    body: bytes


@dataclass(frozen=True)
class Answer:
    """What came of one POST: the receiver's HTTP status, or why there was none."""

    status: int | None
    error: str | None = None

    @property
    def accepted(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    def describe(self) -> str:
        if self.status is None:
            return self.error or "no answer"
        reason = f": {self.error}" if self.error else ""
        return f"HTTP {self.status}{reason}"


def event_body(event_id: str, event_type: str, created_at: datetime, data: Any) -> bytes:
    """The JSON a receiver gets: the same bytes on every attempt."""
    moment = created_at.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    document = {"id": event_id, "type": event_type, "created_at": moment, "data": data}
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()


def post_event(endpoint: Endpoint, body: bytes, now: datetime) -> Answer:
    """POST a signed body to the endpoint, with a timeout; never raises for the network."""
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        SIGNATURE_HEADER: signature(endpoint.secret, int(now.timestamp()), body),
    }
    try:
        # A connection per post, as for remote actions: nothing idle held open between rounds.
        with requests.post(
            endpoint.url,
            data=body,
            headers=headers,
            timeout=TIMEOUT_SECONDS,
            allow_redirects=False,
            stream=True,
        ) as response:
            if 200 <= response.status_code < 300:
                return Answer(response.status_code)
            shown = next(response.iter_content(ANSWER_SHOWN), b"")
            return Answer(response.status_code, shown.decode("utf-8", "replace").strip() or None)
    except requests.Timeout:
        return Answer(None, f"no answer within {TIMEOUT_SECONDS:g} s")
    except requests.RequestException as error:
        return Answer(None, f"cannot reach {endpoint.url}: {type(error).__name__}")


class WebhookSender:
    """Routes recorded events to the endpoints in force and posts them, one worker of many."""

    def __init__(
        self,
        *,
        db: Engine,
        endpoints: Callable[[], Endpoints | None],  # the endpoints in force now (None: unknown)
        clock: Callable[[], datetime] = utcnow,
        retry_window: timedelta = DEFAULT_RETRY_WINDOW,
        worker_id: str | None = None,
        rng: random.Random | None = None,
        batch_size: int = BATCH,
        post: Callable[[Endpoint, bytes, datetime], Answer] = post_event,
    ) -> None:
        self.db = db
        self.endpoints = endpoints
        self.clock = clock
        self.retry_window = retry_window
        self.id = worker_id or default_dispatcher_id()
        self.rng = rng or random.Random()
        self.batch_size = batch_size
        self.post = post

    def run_forever(self, stop: threading.Event, *, idle_seconds: float = IDLE_SECONDS) -> None:
        """The worker's webhook loop: deliver until `stop` is set."""
        run_rounds(stop, lambda: self.run_round(stop=stop, idle_seconds=idle_seconds), "webhook")

    def run_round(
        self,
        now: datetime | None = None,
        *,
        stop: threading.Event | None = None,
        idle_seconds: float = IDLE_SECONDS,
    ) -> float:
        """Route what was recorded, then post a batch; the seconds to wait before the next round
        (0: go on at once)."""
        endpoints = self.endpoints()
        if endpoints is None:
            return idle_seconds  # the webhooks file is broken: events wait, unrouted
        now = now or self.clock()
        self.route(endpoints, now)
        batch = self.claim(now)
        for index, claimed in enumerate(batch):
            if stop is not None and stop.is_set():
                self._release(batch[index:])
                break
            self.deliver(claimed, endpoints)
        return 0.0 if batch else idle_seconds

    def route(self, endpoints: Endpoints, now: datetime) -> int:
        """Give recorded events one delivery per endpoint that wants them; returns how many
        events were routed (those no endpoint wants are deleted)."""
        with transaction(self.db) as connection:
            events = connection.execute(_UNROUTED_EVENTS).all()
            if not events:
                return 0
            deliveries = [
                {
                    "event_id": event.id,
                    "endpoint": endpoint.name,
                    "phone": event.phone,
                    "status": DeliveryStatus.PENDING,
                    "attempts": 0,
                    "created_at": now,
                    "updated_at": now,
                }
                for event in events
                for endpoint in endpoints.wanting(event.type)
            ]
            if deliveries:
                connection.execute(D.insert(), deliveries)
            wanted = {delivery["event_id"] for delivery in deliveries}
            unwanted = [event.id for event in events if event.id not in wanted]
            if wanted:
                connection.execute(update(E).where(E.c.id.in_(wanted)).values(routed_at=now))
            if unwanted:
                connection.execute(delete(E).where(E.c.id.in_(unwanted)))
        return len(wanted)

    def claim(self, now: datetime, limit: int | None = None) -> list[ClaimedDelivery]:
        """Claim the due deliveries at the head of their person's queue; commits the claim."""
        with transaction(self.db) as connection:
            rows = connection.execute(_DUE, {"now": now, "limit": limit or self.batch_size}).all()
            if not rows:
                return []
            connection.execute(
                _MARK_CLAIMED,
                {
                    "ids": [row.id for row in rows],
                    "worker": self.id,
                    "until": now + CLAIM_LEASE,
                    "now": now,
                },
            )
        return [_claimed(row) for row in rows]

    def deliver(self, claimed: ClaimedDelivery, endpoints: Endpoints) -> DeliveryStatus:
        """POST one claimed delivery (outside any transaction) and record the answer."""
        endpoint = endpoints.by_name.get(claimed.endpoint)
        if endpoint is None:
            answer = Answer(None, f"endpoint {claimed.endpoint!r} is not configured any more")
            return self._record(claimed, answer, give_up=True)
        answer = self.post(endpoint, claimed.body, self.clock())
        return self._record(claimed, answer)

    def _record(
        self, claimed: ClaimedDelivery, answer: Answer, *, give_up: bool = False
    ) -> DeliveryStatus:
        now = self.clock()
        values: dict[str, Any] = {
            "attempts": claimed.attempts + (0 if give_up else 1),
            "response_status": answer.status,
            "claimed_by": None,
            "claimed_until": None,
            "updated_at": now,
        }
        if answer.accepted:
            values.update(status=DeliveryStatus.DELIVERED, delivered_at=now, last_error=None)
        else:
            values.update(self._retry_values(claimed, answer, now, give_up))
        with transaction(self.db) as connection:
            recorded = connection.execute(
                update(D)
                .where(
                    D.c.id == claimed.id,
                    D.c.claimed_by == self.id,
                    status_is(D.c.status, DeliveryStatus.PENDING),
                )
                .values(**values)
            ).rowcount
        status: DeliveryStatus = values.get("status", DeliveryStatus.PENDING)
        if not recorded:
            # Our claim ran out and another worker posted it too (at least once, not exactly).
            log.warning("webhook %s to %s: claim lost", claimed.event_id, claimed.endpoint)
        elif status is DeliveryStatus.GAVE_UP:
            log.warning(
                "webhook %s (%s) to %s given up: %s",
                claimed.event_id,
                claimed.event_type,
                claimed.endpoint,
                values["last_error"],
            )
        else:
            log.info(
                "webhook %s (%s) to %s: %s",
                claimed.event_id,
                claimed.event_type,
                claimed.endpoint,
                status if answer.accepted else f"{answer.describe()}; retrying",
            )
        return status

    def _retry_values(
        self, claimed: ClaimedDelivery, answer: Answer, now: datetime, give_up: bool
    ) -> dict[str, Any]:
        """A failed POST: try again after a backoff, unless the retry window is over."""
        since = claimed.retrying_since or now
        error = answer.describe()[:ERROR_MAX]
        if give_up or now - since >= self.retry_window:
            window = format_duration(self.retry_window)
            reason = error if give_up else f"still failing after {window}: {error}"
            return {"status": DeliveryStatus.GAVE_UP, "last_error": reason[:ERROR_MAX]}
        wait = jittered_backoff(
            claimed.attempts + 1, self.rng, first=BACKOFF_FIRST, cap=BACKOFF_CAP
        )
        return {"retrying_since": since, "next_attempt_at": now + wait, "last_error": error}

    def _release(self, batch: Sequence[ClaimedDelivery]) -> None:
        """Hand claimed deliveries back untried (the worker is stopping)."""
        with transaction(self.db) as connection:
            connection.execute(
                update(D)
                .where(D.c.id.in_([claimed.id for claimed in batch]), D.c.claimed_by == self.id)
                .values(claimed_by=None, claimed_until=None)
            )


def _claimed(row: AnyRow) -> ClaimedDelivery:
    return ClaimedDelivery(
        id=row.id,
        endpoint=row.endpoint,
        attempts=row.attempts,
        retrying_since=row.retrying_since,
        event_id=row.public_id,
        event_type=row.type,
        body=event_body(row.public_id, row.type, row.created_at, row.data),
    )

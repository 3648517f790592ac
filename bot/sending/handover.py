"""Consent at the moment of hand-over: the dispatcher's last check, and a STOP's wait for it.

Two halves of one promise: once a STOP is answered, nothing but its confirmation reaches that
number. The dispatcher checks consent in a short transaction just before each gateway call and
stamps the row `handed_over_at` there; a STOP, once committed, waits until no stamped text to its
number is still in the provider's hands. The two transactions are serialised (SQLite's single
writer; on PostgreSQL the check reads the subscriber FOR SHARE while a STOP holds it FOR UPDATE),
so every text either saw the opt-out and was suppressed, or was stamped before the STOP
committed, and the STOP's answer waits for it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import bindparam, select, update
from sqlalchemy.engine import Connection, Engine

from bot.domain import policy
from bot.domain.vocabulary import MessageStatus, Purpose, SubscriberStatus
from bot.store.driver_sql import DriverStatement
from bot.store.models import status_is
from bot.store.tables import MESSAGES, SUBSCRIBERS

# How long a STOP waits at most for texts in flight: the gateway's HTTP timeout. A request that
# hangs longer has failed from our side (its fate is reconciled later) and the STOP is answered.
IN_FLIGHT_LIMIT = timedelta(seconds=10)
_FIRST_POLL_SECONDS = 0.002
_LONGEST_POLL_SECONDS = 0.05

# FOR SHARE waits for a STOP being handled right now (it holds the row FOR UPDATE), while
# dispatchers never block one another; phone order keeps lock order the same everywhere.
CONSENT = (
    select(
        SUBSCRIBERS.c.phone,
        SUBSCRIBERS.c.status,
        SUBSCRIBERS.c.timezone,  # where they are: for the sending hours at claim time
        SUBSCRIBERS.c.attributes,
    )
    .where(SUBSCRIBERS.c.phone.in_(bindparam("phones", expanding=True)))
    .order_by(SUBSCRIBERS.c.phone)
    .with_for_update(read=True)
)
# The last check needs the status alone, read the same way (it runs once per text sent).
_STATUS_NOW = (
    select(SUBSCRIBERS.c.status)
    .where(SUBSCRIBERS.c.phone == bindparam("phone"))
    .with_for_update(read=True)
)
# The row as this dispatcher claimed it: unknown, and still its own.
_HELD_HERE = (
    MESSAGES.c.id == bindparam("message_id"),
    status_is(MESSAGES.c.status, MessageStatus.UNKNOWN),
    MESSAGES.c.claimed_by == bindparam("dispatcher"),
)
_STAMP = (
    update(MESSAGES)
    .where(*_HELD_HERE)
    .values(handed_over_at=bindparam("now"), updated_at=bindparam("now"))
)
_WITHDRAW = (
    update(MESSAGES)
    .where(*_HELD_HERE)
    .values(
        status=MessageStatus.SUPPRESSED,
        error_message=bindparam("reason"),
        sent_at=None,
        updated_at=bindparam("now"),
    )
)
# A driver statement (bot/store/driver_sql.py): every STOP asks it, on the webhook's path.
_IN_FLIGHT = DriverStatement(
    select(MESSAGES.c.id)
    .where(
        MESSAGES.c.phone == bindparam("phone"),
        status_is(MESSAGES.c.status, MessageStatus.UNKNOWN),
        MESSAGES.c.handed_over_at > bindparam("since"),
    )
    .limit(1)
)


def consent_decision(purpose: Purpose | None, status: SubscriberStatus | None) -> policy.Decision:
    """May a text of this purpose go to a number in this status, right now?"""
    return policy.decide_consent(
        # A row without a purpose gets the strictest treatment.
        purpose=purpose or Purpose.PROMOTIONAL,
        recipient_status=status or SubscriberStatus.NEW,
    )


def last_check(
    connection: Connection,
    *,
    message_id: int,
    phone: str,
    purpose: Purpose | None,
    dispatcher: str,
    now: datetime,
) -> str | None:
    """Check consent once more and stamp the hand-over; else say why the text stays here.

    None: the text may go (the row is stamped). A reason: consent is gone (the row is now
    SUPPRESSED with it), or this dispatcher no longer holds the row (left as it is).
    """
    status = connection.execute(_STATUS_NOW, {"phone": phone}).scalar_one_or_none()
    decision = consent_decision(purpose, status)
    params = {"message_id": message_id, "dispatcher": dispatcher, "now": now}
    if not decision.allowed:
        connection.execute(_WITHDRAW, {**params, "reason": decision.reason})
        return decision.reason or "consent withdrawn"
    if connection.execute(_STAMP, params).rowcount != 1:
        return "no longer claimed by this dispatcher"
    return None


def texts_in_flight(
    connection: Connection, phone: str, now: datetime, limit: timedelta = IN_FLIGHT_LIMIT
) -> bool:
    """Whether a text to `phone` is in the provider's hands (stamped, its fate not yet known).

    Asked inside a STOP's own transaction, once it holds the person (SQLite's writer lock, or
    their row FOR UPDATE), the answer is final when it is no: every hand-over before the STOP
    is committed and visible, and every one after it will see the opt-out.
    """
    busy = _IN_FLIGHT.run(connection, {"phone": phone, "since": now - limit}).first()
    return busy is not None


def wait_for_texts_in_flight(
    db: Engine,
    phone: str,
    *,
    clock: Callable[[], datetime],
    limit: timedelta = IN_FLIGHT_LIMIT,
    sleep: Callable[[float], None] = time.sleep,
    monotonic: Callable[[], float] = time.monotonic,
) -> bool:
    """Wait until no text to `phone` is in the provider's hands; False if `limit` ran out.

    Called after a STOP commits and before it is answered. Only texts stamped before the STOP
    can be in flight (later ones see the opt-out), so this is a short wait for at most one
    gateway call per dispatcher.
    """
    deadline = monotonic() + limit.total_seconds()
    pause = _FIRST_POLL_SECONDS
    while True:
        with db.connect() as connection:
            busy = texts_in_flight(connection, phone, clock(), limit)
        if not busy:
            return True
        if monotonic() >= deadline:
            return False
        sleep(pause)
        pause = min(pause * 2, _LONGEST_POLL_SECONDS)

"""Failed texts back into the outbox, through the send policy: what `bot outbox retry` does.

A failed text is put back in place (its row goes PENDING again), never copied: a campaign keeps
one text per person, and `bot campaign send` still sees who has theirs. Texts whose fate is
unknown (they may have reached the provider) and texts the provider took are left alone, and
so is every text to a number that has opted out.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.engine import Connection, Engine

from bot.domain import policy
from bot.domain.vocabulary import Direction, MessageStatus, Purpose, SubscriberStatus
from bot.sending.dispatcher import FATE_UNKNOWN
from bot.sending.outbox import send_context
from bot.store.db import transaction
from bot.store.models import status_is
from bot.store.subscribers import claim_subscriber
from bot.store.tables import MESSAGES

BATCH = 500  # texts per transaction: a long retry never holds SQLite's writer for long


@dataclass(frozen=True)
class Selection:
    """Which failed texts to retry; every criterion given must hold."""

    campaign: str | None = None
    since: datetime | None = None  # failed at or after
    until: datetime | None = None  # failed before
    error_codes: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        if self.since is not None and self.until is not None and self.since >= self.until:
            raise ValueError(f"until ({self.until}) must be after since ({self.since})")


@dataclass
class RetryReport:
    """What a retry did (or, dry, would do) with the failed texts it selected."""

    requeued: int = 0  # back in the outbox, due now
    deferred: int = 0  # back in the outbox, held by quiet hours or the frequency cap
    suppressed: int = 0  # still failed: the number opted out, or the policy refuses the text
    fate_unknown: int = 0  # still failed: it may have reached the provider, so never resent
    provider_took: int = 0  # still failed: the provider took it, then reported it failed

    @property
    def selected(self) -> int:
        return (
            self.requeued + self.deferred + self.suppressed + self.fate_unknown + self.provider_took
        )


class _DryRun(Exception):
    """Raised at the end of a dry batch so that its transaction rolls back."""


def retry_failed(
    db: Engine,
    selection: Selection,
    *,
    now: datetime,
    rules: policy.PolicyRules,
    dry_run: bool = False,
    batch: int = BATCH,
) -> RetryReport:
    """Put the selected failed texts back in the outbox as the send policy decides, now."""
    report = RetryReport()
    after_id = 0
    while True:
        tally = RetryReport()
        try:
            with transaction(db) as connection:
                rows = connection.execute(_failed(selection, after_id, batch)).all()
                for row in rows:
                    _retry_one(connection, row, now=now, rules=rules, tally=tally)
                if dry_run:
                    raise _DryRun  # the same work, the same counts, nothing kept
        except _DryRun:
            pass
        for name in ("requeued", "deferred", "suppressed", "fate_unknown", "provider_took"):
            setattr(report, name, getattr(report, name) + getattr(tally, name))
        if len(rows) < batch:
            return report
        after_id = rows[-1].id


def _failed(selection: Selection, after_id: int, limit: int) -> Any:
    conditions: list[Any] = [
        status_is(MESSAGES.c.status, MessageStatus.FAILED),
        MESSAGES.c.direction == Direction.OUTBOUND,
        MESSAGES.c.id > after_id,
    ]
    if selection.campaign is not None:
        conditions.append(MESSAGES.c.campaign == selection.campaign)
    # A failed row is not written again (a final status is never overwritten), so its
    # updated_at is when it failed.
    if selection.since is not None:
        conditions.append(MESSAGES.c.updated_at >= selection.since)
    if selection.until is not None:
        conditions.append(MESSAGES.c.updated_at < selection.until)
    if selection.error_codes:
        conditions.append(MESSAGES.c.error_code.in_(selection.error_codes))
    return (
        select(
            MESSAGES.c.id,
            MESSAGES.c.phone,
            MESSAGES.c.purpose,
            MESSAGES.c.provider_sid,
            MESSAGES.c.error_message,
        )
        .where(*conditions)
        .order_by(MESSAGES.c.id)
        .limit(limit)
    )


def _retry_one(
    connection: Connection,
    row: Any,
    *,
    now: datetime,
    rules: policy.PolicyRules,
    tally: RetryReport,
) -> None:
    if (row.error_message or "").startswith(FATE_UNKNOWN):
        tally.fate_unknown += 1
        return
    if row.provider_sid is not None:
        tally.provider_took += 1
        return
    # Locked like a STOP locks it: a STOP arriving now is either seen here or comes after.
    subscriber = claim_subscriber(connection, row.phone, now)
    if subscriber.status is SubscriberStatus.UNSUBSCRIBED:
        # Even a compliance text: an opted-out number hears nothing more from us.
        tally.suppressed += 1
        return
    purpose = row.purpose or Purpose.PROMOTIONAL  # the strictest, as the dispatcher does
    decision = policy.decide(
        send_context(connection, subscriber, purpose=purpose, now=now, replying=False), rules
    )
    if decision.verdict is policy.Verdict.SUPPRESS:
        tally.suppressed += 1
        return
    deferred = decision.verdict is policy.Verdict.DEFER
    # send_after is set even when due now, so that the frequency cap counts this text from
    # now on (the next text of a retry for the same person sees it).
    requeued = connection.execute(
        update(MESSAGES)
        .where(MESSAGES.c.id == row.id, status_is(MESSAGES.c.status, MessageStatus.FAILED))
        .values(
            status=MessageStatus.PENDING,
            send_after=decision.send_at if deferred else now,
            attempts=0,
            retrying_since=None,  # a fresh retry window
            claimed_by=None,
            sent_at=None,
            error_code=None,
            error_message=decision.reason,
            updated_at=now,
        )
    ).rowcount
    if requeued and deferred:
        tally.deferred += 1
    elif requeued:
        tally.requeued += 1


def describe(report: RetryReport, *, dry_run: bool) -> str:
    """A few lines for the operator: what was (or would be) done, and what was left alone."""
    if report.selected == 0:
        return "no failed texts match"
    would = "would be " if dry_run else ""
    lines = [
        f"{report.selected} failed texts selected:",
        f"  {report.requeued} {would}requeued (due now)",
        f"  {report.deferred} {would}deferred (back in the outbox for later: quiet hours or"
        " the frequency cap)",
        f"  {report.suppressed} {would}suppressed (left failed: the number opted out, or the"
        " send policy refuses the text)",
        f"  {report.fate_unknown} left alone: their fate is unknown (they may have been sent)",
        f"  {report.provider_took} left alone: the provider took them, then reported them failed",
    ]
    if dry_run:
        lines.append("dry run: nothing was changed")
    return "\n".join(lines)

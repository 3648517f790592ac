"""A stored webhook's work, once Shopify has its answer: at once, and later again if need be.

The web process that stored a webhook does its work on a pool thread right after answering
(`handle_now`). The clock does it when that did not happen (the process died, the pool was
full) or failed (`clock_chore`): every pending row has a `next_attempt_at`, set a minute after
it arrived and moved on by each try, so a try that dies half-way is made again later.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import TYPE_CHECKING

from bot.shopify import received
from bot.shopify.handlers import handle
from bot.shopify.received import Claimed

if TYPE_CHECKING:
    from bot.services import Services
    from bot.timers.scheduler import Chore

log = logging.getLogger(__name__)

CLOCK_BATCH = 50  # webhooks a tick takes at most; the rest are due at once on the next tick


def handle_now(services: Services, row_id: int) -> None:
    """The first try of a webhook just stored, then its texts sent; unless the clock has it."""
    claimed = received.claim_first(services.db, row_id, services.conversations.clock())
    if claimed is not None:
        services.dispatcher.send(work_on(services, claimed))


def handle_due(services: Services, *, limit: int = CLOCK_BATCH) -> int:
    """The clock's tries: every webhook whose try is due; returns how many it took."""
    due = received.claim_due(services.db, services.conversations.clock(), limit)
    for claimed in due:
        work_on(services, claimed)  # the dispatchers send what it queued
    return len(due)


def clock_chore(services: Services) -> Chore:
    """The clock's part: retry what is due, and wake when the next webhook's try comes due."""
    from bot.timers.scheduler import Chore  # the clock's; a web process never needs APScheduler

    def next_due(limit: datetime) -> datetime | None:
        with services.db.connect() as connection:
            return received.next_due(connection, limit)

    return Chore(fire=lambda: handle_due(services), next_due=next_due)


def work_on(services: Services, claimed: Claimed) -> list[int]:
    """Do a claimed webhook's work and record its outcome; returns the texts it queued.

    A failure is recorded, and the webhook is tried again when its claim said (or marked
    failed after the last try): one broken payload holds up nobody else.
    """
    what = f"Shopify {claimed.topic} {claimed.webhook_id}"
    try:
        handled = handle(services, claimed)
    except Exception as error:
        log.exception("%s: try %d failed", what, claimed.attempts)
        now = services.conversations.clock()
        if received.fail(services.db, claimed, f"{type(error).__name__}: {error}", now):
            log.error("%s: gave up after %d tries", what, claimed.attempts)
        return []
    received.finish(services.db, claimed, handled, services.conversations.clock())
    log.info("%s: %s", what, handled.outcome)
    return list(handled.message_ids)

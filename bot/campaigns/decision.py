"""A test split's decision: when its wait is over, pick the winner, record why, send the rest.

The wait is a timer on the campaign's `campaign_send` row (`decide_at`), fired by the clock
like every other timer (`decision_chore`). The winner is picked with the stats' own test
(`pick_winner`, by clicks or conversions). Without a significant winner the rule is: the
variant with the better rate goes to the rest, and on a tie the first in the file. The
decision (which, why, the numbers, when) is stored once; sending the rest is `send_campaign`
itself, so a pause, a crash or a second run never gives anyone a second text.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, func, or_, select, update

from bot.campaigns.model import Campaign, PickBy
from bot.campaigns.send import CampaignNotFound, load_campaign, send_campaign
from bot.campaigns.stats import VariantStats, campaign_stats, pick_winner
from bot.domain.vocabulary import CampaignSendStatus
from bot.store.db import transaction
from bot.store.models import status_is, status_is_not
from bot.store.tables import CAMPAIGN_SENDS as SENDS

if TYPE_CHECKING:
    from bot.services import Services
    from bot.timers.scheduler import Chore

log = logging.getLogger(__name__)

NO_WINNER_RULE = (
    "no significant winner: the better rate goes to the rest (a tie: the first variant)"
)


@dataclass(frozen=True)
class SplitState:
    """Where a campaign's test split stands, for `bot campaign status`, the API and the inbox."""

    status: CampaignSendStatus | None
    decide_at: datetime | None
    decision: dict[str, Any] | None
    decided_at: datetime | None


def split_state(connection: Connection, name: str) -> SplitState:
    """The campaign's send status, its decision timer and its decision (None when never sent)."""
    row = connection.execute(
        select(SENDS.c.status, SENDS.c.decide_at, SENDS.c.decision, SENDS.c.decided_at).where(
            SENDS.c.campaign == name
        )
    ).first()
    if row is None:
        return SplitState(None, None, None, None)
    status = CampaignSendStatus(row.status)
    return SplitState(status, row.decide_at, row.decision, row.decided_at)


def split_json(state: SplitState) -> dict[str, Any] | None:
    """The test split as JSON: when the decision is due, and the decision once taken."""
    if state.decide_at is None and state.decision is None:
        return None
    return {
        "decide_at": None if state.decide_at is None else state.decide_at.isoformat(),
        "decided_at": None if state.decided_at is None else state.decided_at.isoformat(),
        "decision": state.decision,
    }


def decide(variants: list[VariantStats], by: PickBy, *, now: datetime) -> dict[str, Any]:
    """The decision as stored: the winner, whether it is significant, why, and the numbers."""
    verdict = pick_winner(variants, by=by)
    significant = verdict is not None and verdict.significant
    if significant and verdict is not None:
        picked, reason = verdict.variant, verdict.reason
    else:
        # max keeps the first of equals: a tie goes to the file's first variant.
        picked = max(variants, key=lambda v: v.rate(by)).variant
        why = verdict.reason if verdict is not None else "one variant"
        reason = f"{why}; {NO_WINNER_RULE}: {picked}"
    return {
        "variant": picked,
        "pick_by": by.value,
        "significant": significant,
        "p_value": None if verdict is None else verdict.p_value,
        "reason": reason,
        "numbers": [
            {"variant": v.variant, "sent": v.sent, by.value: v.successes(by), "rate": v.rate(by)}
            for v in variants
        ],
        "decided_at": now.isoformat(),
    }


def decide_due(services: Services) -> int:
    """Decide every test whose wait is over and send its winner; returns how many it moved."""
    now = services.conversations.clock()
    with services.db.connect() as connection:
        due = connection.execute(
            select(SENDS.c.campaign, SENDS.c.status).where(
                SENDS.c.decide_at <= now,
                # Decided but not sent on (a crash between the two): send the rest now.
                or_(
                    SENDS.c.decided_at.is_(None),
                    status_is(SENDS.c.status, CampaignSendStatus.TESTING),
                ),
            )
        ).all()
    for name, status in due:
        try:
            campaign = load_campaign(services.settings, name)
            _record(services, campaign, now)
            if status == CampaignSendStatus.TESTING:  # a paused one waits for `campaign send`
                send_campaign(services, name)
        except CampaignNotFound as error:
            # Trying again every tick would not fix a file: hold it until someone does.
            log.error("campaign %s: cannot send the test's winner: %s", name, error)
            _hold(services, name, now)
    return len(due)


def decision_chore(services: Services) -> Chore:
    """The clock's part: decide what is due, and wake when the next decision comes due."""
    from bot.timers.scheduler import Chore  # the clock's; a web process never needs APScheduler

    def next_due(limit: datetime) -> datetime | None:
        with services.db.connect() as connection:
            return connection.execute(
                select(func.min(SENDS.c.decide_at)).where(
                    SENDS.c.decided_at.is_(None),
                    SENDS.c.decide_at <= limit,
                    status_is_not(SENDS.c.status, CampaignSendStatus.PAUSED),
                )
            ).scalar_one_or_none()

    return Chore(fire=lambda: decide_due(services), next_due=next_due)


def _record(services: Services, campaign: Campaign, now: datetime) -> None:
    """Store the decision once: a decided campaign keeps its first decision."""
    if campaign.test is None:
        raise CampaignNotFound(f"campaign {campaign.name!r} no longer has a test: section")
    settings = services.settings
    with transaction(services.db) as connection:
        if connection.execute(
            select(SENDS.c.decided_at).where(SENDS.c.campaign == campaign.name)
        ).scalar_one_or_none():
            return
        stats = campaign_stats(
            connection,
            campaign.name,
            variant_names=[variant.name for variant in campaign.variants],
            price_per_segment=settings.PRICE_PER_SEGMENT,
            currency=settings.CURRENCY,
            attribution_days=settings.ATTRIBUTION_DAYS,
        )
        known = {variant.name for variant in campaign.variants}
        rows = [row for row in stats.variants if row.variant in known]
        decision = decide(rows, campaign.test.pick_by, now=now)
        connection.execute(
            update(SENDS)
            .where(SENDS.c.campaign == campaign.name, SENDS.c.decided_at.is_(None))
            .values(decision=decision, decided_at=now)
        )
    log.info(
        "campaign %s: test decided for %s (%s)",
        campaign.name,
        decision["variant"],
        decision["reason"],
    )


def _hold(services: Services, name: str, now: datetime) -> None:
    with transaction(services.db) as connection:
        connection.execute(
            update(SENDS)
            .where(
                SENDS.c.campaign == name,
                status_is(SENDS.c.status, CampaignSendStatus.TESTING),
            )
            .values(status=CampaignSendStatus.PAUSED, finished_at=now)
        )

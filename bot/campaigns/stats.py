"""How a campaign did, per variant: sends, delivery, clicks, replies, opt-outs, orders, cost."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields
from decimal import Decimal
from typing import Any

from sqlalchemy import Select, case, distinct, func, select
from sqlalchemy.engine import Connection

from bot.campaigns.conversions import DEFAULT_ATTRIBUTION_DAYS, attributions, within_days
from bot.campaigns.model import PickBy
from bot.domain.vocabulary import ConsentKind, Direction, MessageStatus
from bot.sending.outbox import WAITING_ON_PROVIDER
from bot.store.models import status_in, status_is
from bot.store.tables import CLICKS, LINKS, MESSAGES
from bot.store.tables import CONSENT_EVENTS as CONSENT

RESPONSE_DAYS = 7.0  # a text back or an opt-out this long after the campaign text counts
FAILED = (MessageStatus.FAILED, MessageStatus.UNDELIVERED)
SIGNIFICANCE = 0.05
MIN_SENT_PER_VARIANT = 30  # below this a difference in conversion says nothing
MIN_CONVERSIONS = 5  # the z-test's normal approximation needs a few conversions to stand on

CSV_COLUMNS = (
    "variant",
    "sent",
    "delivered",
    "failed",
    "clicked",
    "replied",
    "opted_out",
    "converted",
    "revenue",
    "segments",
    "cost",
    "conversion_rate",
    "waiting_on_provider",
    "mms",
)


@dataclass
class VariantStats:
    """One variant's numbers; people counts (clicked … converted) count each person once."""

    variant: str | None
    sent: int = 0  # texts handed to the provider
    delivered: int = 0
    failed: int = 0  # failed or undelivered, handed over or not
    clicked: int = 0
    replied: int = 0
    opted_out: int = 0
    converted: int = 0
    revenue: Decimal = Decimal(0)
    segments: int = 0  # of the texts sent as SMS (an MMS is priced per text, not segment)
    mms: int = 0  # texts sent with media
    waiting_on_provider: int = 0  # in the outbox after the provider failed them (an outage)

    @property
    def conversion_rate(self) -> float:
        """Converted people per text sent (0 when nothing was sent)."""
        return self.converted / self.sent if self.sent else 0.0

    def successes(self, by: PickBy) -> int:
        """The people who count as a success when comparing by `by`."""
        return self.clicked if by is PickBy.CLICK else self.converted

    def rate(self, by: PickBy) -> float:
        """Successes per text sent (0 when nothing was sent)."""
        return self.successes(by) / self.sent if self.sent else 0.0


@dataclass(frozen=True)
class Winner:
    """The A/B verdict: the winner (None without enough data), the leader, how sure we can be."""

    variant: str | None
    leading: str | None = None  # the best rate so far, winner or not
    against: str | None = None  # the variant the verdict is weakest against
    z: float | None = None
    p_value: float | None = None
    significant: bool = False
    reason: str = ""


@dataclass
class CampaignStats:
    """A campaign's results: one row per variant, their totals, and the winner."""

    campaign: str
    variants: list[VariantStats]
    total: VariantStats
    winner: Winner | None
    price_per_segment: float
    currency: str
    response_days: float
    attribution_days: float
    price_per_mms: float = 0.0

    def cost(self, row: VariantStats) -> float:
        """What a row's texts cost: SMS segments and MMS texts handed over, times their prices."""
        return round(row.segments * self.price_per_segment + row.mms * self.price_per_mms, 6)


def campaigns_with_texts(connection: Connection) -> set[str]:
    """The names of the campaigns that have any text stored."""
    query = select(MESSAGES.c.campaign).where(MESSAGES.c.campaign.is_not(None)).distinct()
    return {name for name in connection.execute(query).scalars() if name}


def has_messages(connection: Connection, campaign: str) -> bool:
    """Whether any text of this campaign is stored."""
    query = select(MESSAGES.c.id).where(MESSAGES.c.campaign == campaign).limit(1)
    return connection.execute(query).first() is not None


def campaign_stats(
    connection: Connection,
    campaign: str,
    *,
    variant_names: Sequence[str] = (),
    price_per_segment: float,
    currency: str,
    attribution_days: float = DEFAULT_ATTRIBUTION_DAYS,
    response_days: float = RESPONSE_DAYS,
    price_per_mms: float = 0.0,
) -> CampaignStats:
    """Count what a campaign's texts led to; `variant_names` (from its file) come first."""
    rows: dict[str | None, VariantStats] = {name: VariantStats(name) for name in variant_names}

    def row(name: str | None) -> VariantStats:
        return rows.setdefault(name, VariantStats(name))

    for name, sent, segments, mms, delivered, failed, waiting in connection.execute(
        _sends(campaign)
    ):
        target = row(name)
        target.sent, target.segments = int(sent or 0), int(segments or 0)
        target.mms = int(mms or 0)
        target.delivered, target.failed = int(delivered or 0), int(failed or 0)
        target.waiting_on_provider = int(waiting or 0)
    recipients = _recipients(campaign)
    for column, query in (
        ("clicked", _clicked(campaign, recipients)),
        ("replied", _replied(connection, recipients, response_days)),
        ("opted_out", _opted_out(connection, recipients, response_days)),
    ):
        for name, people in connection.execute(query):
            setattr(row(name), column, int(people))
    converted: dict[str | None, set[str]] = {}
    for credit in attributions(connection, days=attribution_days, campaign=campaign):
        target = row(credit.variant)
        target.revenue += credit.amount
        converted.setdefault(credit.variant, set()).add(credit.phone)
    for name, people in converted.items():
        row(name).converted = len(people)
    variants = _ordered(rows.values(), variant_names)
    return CampaignStats(
        campaign=campaign,
        variants=variants,
        total=_total(variants),
        winner=pick_winner(variants),
        price_per_segment=price_per_segment,
        currency=currency,
        response_days=response_days,
        attribution_days=attribution_days,
        price_per_mms=price_per_mms,
    )


def two_proportion_z_test(
    successes_a: int, trials_a: int, successes_b: int, trials_b: int
) -> tuple[float, float]:
    """(z, two-sided p-value) for "a's rate differs from b's", with the pooled standard error."""
    if trials_a <= 0 or trials_b <= 0:
        raise ValueError("both groups need at least one trial")
    rate_a, rate_b = successes_a / trials_a, successes_b / trials_b
    pooled = (successes_a + successes_b) / (trials_a + trials_b)
    error = math.sqrt(pooled * (1 - pooled) * (1 / trials_a + 1 / trials_b))
    if error == 0:  # nobody (or everybody) converted in both: no difference to test
        return 0.0, 1.0
    z = (rate_a - rate_b) / error
    return z, 2 * (1 - _normal_cdf(abs(z)))


def pick_winner(
    variants: Sequence[VariantStats],
    *,
    min_sent: int = MIN_SENT_PER_VARIANT,
    min_conversions: int = MIN_CONVERSIONS,
    alpha: float = SIGNIFICANCE,
    by: PickBy = PickBy.CONVERSION,
) -> Winner | None:
    """The variant with the best rate (conversions, or clicks), tested against every other.

    None with fewer than two variants. Without enough data no winner is named (`variant` is
    None); `leading` says which rate is best so far, and `reason` what is missing.
    """
    if len(variants) < 2:
        return None
    # Ties go to the first variant (file order): max keeps the first of equals.
    best = max(variants, key=lambda v: v.rate(by))
    leading = best.variant if best.sent else None
    few = [v for v in variants if v.sent < min_sent]
    if few:
        names = ", ".join(str(v.variant) for v in few)
        return Winner(
            None,
            leading,
            reason=f"too few sends to compare: {names} sent fewer than {min_sent} texts each",
        )
    successes = sum(v.successes(by) for v in variants)
    if successes < min_conversions:
        return Winner(
            None,
            leading,
            reason=f"too few {by.value} to compare: {successes} (at least {min_conversions})",
        )
    # The claim "best beats them all" is only as strong as its weakest comparison.
    verdicts = [
        (
            *two_proportion_z_test(best.successes(by), best.sent, other.successes(by), other.sent),
            other,
        )
        for other in variants
        if other is not best
    ]
    z, p_value, weakest = max(verdicts, key=lambda verdict: verdict[1])
    significant = p_value < alpha
    better = "converts better" if by is PickBy.CONVERSION else "gets more clicks"
    reason = (
        f"{best.variant} {better} than {weakest.variant} (p = {p_value:.4f} < {alpha})"
        if significant
        else f"no significant difference from {weakest.variant} (p = {p_value:.4f} ≥ {alpha})"
    )
    return Winner(best.variant, leading, weakest.variant, z, p_value, significant, reason)


def stats_json(stats: CampaignStats) -> dict[str, Any]:
    """The stats as JSON: totals, one row per variant, the winner."""
    winner = stats.winner
    return {
        "campaign": stats.campaign,
        "currency": stats.currency,
        "price_per_segment": stats.price_per_segment,
        "price_per_mms": stats.price_per_mms,
        "response_days": stats.response_days,
        "attribution_days": stats.attribution_days,
        "totals": _row_json(stats, stats.total),
        "variants": [_row_json(stats, row) for row in stats.variants],
        "winner": None
        if winner is None
        else {
            "variant": winner.variant,
            "leading": winner.leading,
            "against": winner.against,
            "z": winner.z,
            "p_value": winner.p_value,
            "significant": winner.significant,
            "reason": winner.reason,
        },
    }


def csv_rows(stats: CampaignStats) -> Iterable[list[str]]:
    """The per-variant rows (no totals) as CSV cells, header first."""
    yield list(CSV_COLUMNS)
    for row in stats.variants:
        values = _row_json(stats, row)
        yield ["" if values[name] is None else str(values[name]) for name in CSV_COLUMNS]


def _row_json(stats: CampaignStats, row: VariantStats) -> dict[str, Any]:
    return {
        "variant": row.variant,
        "sent": row.sent,
        "delivered": row.delivered,
        "failed": row.failed,
        "clicked": row.clicked,
        "replied": row.replied,
        "opted_out": row.opted_out,
        "converted": row.converted,
        "revenue": float(row.revenue),
        "segments": row.segments,
        "mms": row.mms,
        "cost": stats.cost(row),
        "conversion_rate": round(row.conversion_rate, 6),
        "waiting_on_provider": row.waiting_on_provider,
    }


def _normal_cdf(x: float) -> float:
    return 0.5 * (1 + math.erf(x / math.sqrt(2)))


def _campaign_texts(campaign: str) -> list[Any]:
    return [MESSAGES.c.campaign == campaign, MESSAGES.c.direction == Direction.OUTBOUND]


def _sends(campaign: str) -> Select[Any]:
    handed_over = MESSAGES.c.sent_at.is_not(None)
    # json_array_length: the same function on SQLite and PostgreSQL (the column is json there).
    has_media = func.json_array_length(MESSAGES.c.media_urls) > 0
    return (
        select(
            MESSAGES.c.variant,
            _count_if(handed_over),
            func.sum(case((handed_over & ~has_media, MESSAGES.c.segments), else_=0)),
            _count_if(handed_over & has_media),
            _count_if(status_is(MESSAGES.c.status, MessageStatus.DELIVERED)),
            _count_if(status_in(MESSAGES.c.status, FAILED)),
            _count_if(WAITING_ON_PROVIDER),
        )
        .where(*_campaign_texts(campaign))
        .group_by(MESSAGES.c.variant)
    )


def _count_if(condition: Any) -> Any:
    return func.sum(case((condition, 1), else_=0))


def _recipients(campaign: str) -> Any:
    """Each person the campaign reached, with their variant and when their text went."""
    return (
        select(
            MESSAGES.c.phone,
            MESSAGES.c.variant,
            func.min(MESSAGES.c.sent_at).label("sent_at"),
        )
        .where(*_campaign_texts(campaign), MESSAGES.c.sent_at.is_not(None))
        .group_by(MESSAGES.c.phone, MESSAGES.c.variant)
        .subquery("recipient")
    )


def _clicked(campaign: str, recipients: Any) -> Select[Any]:
    return (
        select(recipients.c.variant, func.count(distinct(recipients.c.phone)))
        .select_from(recipients)
        .join(LINKS, LINKS.c.phone == recipients.c.phone)
        .join(CLICKS, CLICKS.c.link_id == LINKS.c.id)
        .where(LINKS.c.campaign == campaign)
        .group_by(recipients.c.variant)
    )


def _replied(connection: Connection, recipients: Any, days: float) -> Select[Any]:
    inbound = MESSAGES.alias("inbound")
    return (
        select(recipients.c.variant, func.count(distinct(recipients.c.phone)))
        .select_from(recipients)
        .join(inbound, inbound.c.phone == recipients.c.phone)
        .where(
            inbound.c.direction == Direction.INBOUND,
            within_days(connection, inbound.c.created_at, recipients.c.sent_at, days),
        )
        .group_by(recipients.c.variant)
    )


def _opted_out(connection: Connection, recipients: Any, days: float) -> Select[Any]:
    return (
        select(recipients.c.variant, func.count(distinct(recipients.c.phone)))
        .select_from(recipients)
        .join(CONSENT, CONSENT.c.phone == recipients.c.phone)
        .where(
            CONSENT.c.kind == ConsentKind.OPT_OUT,
            within_days(connection, CONSENT.c.created_at, recipients.c.sent_at, days),
        )
        .group_by(recipients.c.variant)
    )


def _ordered(rows: Iterable[VariantStats], names: Sequence[str]) -> list[VariantStats]:
    """The file's variants in file order, then any others seen in the store, by name."""
    position = {name: index for index, name in enumerate(names)}

    def order(row: VariantStats) -> tuple[int, str]:
        seen = len(position) if row.variant is None else position.get(row.variant, len(position))
        return seen, row.variant or ""

    return sorted(rows, key=order)


def _total(rows: Sequence[VariantStats]) -> VariantStats:
    total = VariantStats(None)
    for row in rows:
        for column in fields(VariantStats):
            if column.name != "variant":
                setattr(total, column.name, getattr(total, column.name) + getattr(row, column.name))
    return total

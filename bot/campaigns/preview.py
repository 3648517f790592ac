"""What sending a campaign would do: who, which texts, how many segments, what cost, how long."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from bot.campaigns.assign import assign_variant
from bot.campaigns.audience import Recipient
from bot.campaigns.model import Campaign
from bot.domain import policy
from bot.domain.recipient_places import places_for
from bot.domain.recipient_zones import country_of, zones_for
from bot.domain.segments import SegmentInfo, count_segments
from bot.domain.vocabulary import Purpose, SubscriberStatus
from bot.engine.durations import format_duration as format_wait

SAMPLES_PER_VARIANT = 3


@dataclass
class VariantPreview:
    """One variant: how many get it, sample texts, and its longest text's cost."""

    name: str
    weight: float
    recipients: int = 0
    segments: int = 0  # of its SMS texts
    mms: int = 0  # texts with media: one MMS each, priced per text
    samples: list[str] = field(default_factory=list)
    longest: SegmentInfo | None = None


@dataclass(frozen=True)
class Pricing:
    """What a segment costs and how fast the sender may send."""

    price_per_segment: float
    currency: str
    send_rate: float  # segments a second
    price_per_mms: float = 0.0  # one text with media, whatever its length


@dataclass(frozen=True)
class Preview:
    """A campaign's preview; `starts_at`/`ends_at` are UTC, None when nobody is in the segment."""

    campaign: Campaign
    pricing: Pricing
    variants: tuple[VariantPreview, ...]
    recipients: int
    segments: int
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    first_zone: str | None = None  # where a local send_at comes first, and last
    last_zone: str | None = None
    # How many texts each rule would hold past their start ("Florida hours": 12).
    deferred: Mapping[str, int] = field(default_factory=dict)
    mms: int = 0

    @property
    def cost(self) -> float:
        pricing = self.pricing
        return self.segments * pricing.price_per_segment + self.mms * pricing.price_per_mms

    @property
    def send_seconds(self) -> float:
        # The sender paces an MMS as one message.
        return (self.segments + self.mms) / self.pricing.send_rate


def preview_campaign(
    campaign: Campaign,
    recipients: Iterable[Recipient],
    *,
    brand: str,
    support: str,
    pricing: Pricing,
    default_zone: str,
    now: datetime,
    rules: policy.PolicyRules = policy.DEFAULT_RULES,
) -> Preview:
    """Render every recipient's text once and add up what sending would take, and which
    rules of the send policy would make texts wait."""
    variants = {
        variant.name: VariantPreview(variant.name, variant.weight) for variant in campaign.variants
    }
    segments_by_start: Counter[tuple[datetime, str]] = Counter()
    deferred: Counter[str] = Counter()
    for recipient in recipients:
        variant = assign_variant(campaign.name, recipient.phone, campaign.variants)
        text = variant.text.render(recipient.template_variables(brand=brand, support=support))
        info = count_segments(text)
        summary = variants[variant.name]
        summary.recipients += 1
        if variant.media:
            summary.mms += 1
        else:
            summary.segments += info.segments
        if len(summary.samples) < SAMPLES_PER_VARIANT:
            summary.samples.append(text)
        if summary.longest is None or (info.segments, info.units) > (
            summary.longest.segments,
            summary.longest.units,
        ):
            summary.longest = info
        begins = start_for(campaign, recipient, default_zone, now)
        # An MMS is one message against the sender's rate, whatever its text's length.
        segments_by_start[begins] += 1 if variant.media else info.segments
        held_by = _held_by(recipient, begins[0], rules)
        if held_by is not None:
            deferred[held_by] += 1
    total_segments = sum(summary.segments for summary in variants.values())
    preview = Preview(
        campaign=campaign,
        pricing=pricing,
        variants=tuple(variants.values()),
        recipients=sum(summary.recipients for summary in variants.values()),
        segments=total_segments,
        deferred=dict(deferred.most_common()),
        mms=sum(summary.mms for summary in variants.values()),
    )
    if not segments_by_start:
        return preview
    starts = sorted(segments_by_start)
    finish = starts[0][0]
    for start, zone in starts:
        # Each zone's share goes out from its own start, after what came before is sent.
        finish = max(finish, start) + timedelta(
            seconds=segments_by_start[start, zone] / pricing.send_rate
        )
    return replace(
        preview,
        starts_at=starts[0][0],
        ends_at=finish,
        first_zone=starts[0][1],
        last_zone=starts[-1][1],
    )


def start_for(
    campaign: Campaign, recipient: Recipient, default_zone: str, now: datetime
) -> tuple[datetime, str]:
    """When this person's text may go out (UTC) and the zone that decides it."""
    if campaign.send_at is None:
        return now.astimezone(UTC), "UTC"
    zones = zones_for(recipient.phone, recipient.timezone) or (default_zone,)
    # A number whose region spans zones gets it once send_at has come in all of them.
    return max(
        (campaign.send_at.replace(tzinfo=ZoneInfo(zone)).astimezone(UTC), zone) for zone in zones
    )


def _held_by(recipient: Recipient, start: datetime, rules: policy.PolicyRules) -> str | None:
    """The rule that would hold this person's text at its start (their hours and days; caps
    depend on what else they get, so they are not counted here)."""
    decision = policy.decide(
        policy.SendContext(
            purpose=Purpose.PROMOTIONAL,
            recipient_status=SubscriberStatus.SUBSCRIBED,
            now=start,
            zones=zones_for(recipient.phone, recipient.timezone),
            country=country_of(recipient.phone),
            places=places_for(recipient.phone, recipient.attributes.get("state")),
        ),
        rules,
    )
    return decision.rule if decision.verdict is policy.Verdict.DEFER else None


def format_duration(seconds: float) -> str:
    """ "2 h 47 min", "12 min", "40 s": rounded up, since sending never goes faster."""
    whole = math.ceil(seconds)
    if whole < 60:
        return f"{whole} s"
    minutes = math.ceil(whole / 60)
    hours, minutes = divmod(minutes, 60)
    if not hours:
        return f"{minutes} min"
    return f"{hours} h {minutes} min" if minutes else f"{hours} h"


def describe(preview: Preview) -> str:
    """The preview as text for a terminal."""
    campaign, pricing = preview.campaign, preview.pricing
    lines = [
        f"Campaign {campaign.name}" + (f": {campaign.description}" if campaign.description else "")
    ]
    lines.append(f"Recipients: {preview.recipients:,} subscribed ({_segment_text(campaign)})")
    for variant in preview.variants:
        share = f"{variant.recipients / preview.recipients:.0%}" if preview.recipients else "0%"
        lines.append(
            f"Variant {variant.name} (weight {variant.weight:g}):"
            f" {variant.recipients:,} people ({share})"
        )
        if variant.mms:
            media = _media_count(campaign, variant.name)
            lines.append(f"  MMS with {media}: {variant.mms:,} texts")
        if variant.longest is not None:
            info = variant.longest
            lines.append(
                f"  longest text: {info.segments} segment{'s' if info.segments != 1 else ''}"
                f", {info.encoding}, {info.units} units"
            )
        for sample in variant.samples:
            lines.append(f"  sample: {sample}")
    mms = (
        f"; MMS: {preview.mms:,} at {pricing.price_per_mms:g} {pricing.currency} each"
        if preview.mms
        else ""
    )
    lines.append(
        f"Segments: {preview.segments:,}{mms}; cost about {preview.cost:,.2f} {pricing.currency}"
        f" at {pricing.price_per_segment:g} {pricing.currency} a segment"
    )
    lines.extend(_test_plan(campaign))
    lines.append(
        f"Time to send: {format_duration(preview.send_seconds)} at {pricing.send_rate:g} segments/s"
    )
    lines.extend(_timing(preview))
    if preview.deferred:
        lines.append("Texts that wait for their recipient's hours, by the rule that holds them:")
        lines.extend(f"  {rule}: {count:,}" for rule, count in preview.deferred.items())
    if campaign.reply_flow:
        lines.append(f"Replies go to flow {campaign.reply_flow}")
    lines.append(f"Send it with: bot campaign send {campaign.name}")
    return "\n".join(lines)


def _media_count(campaign: Campaign, name: str) -> str:
    count = next(len(v.media) for v in campaign.variants if v.name == name)
    return f"{count} media file{'s' if count != 1 else ''}"


def _test_plan(campaign: Campaign) -> list[str]:
    test = campaign.test
    if test is None:
        return []
    return [
        f"Test split: {test.share:.0%} of them first, across the variants; after"
        f" {format_wait(test.wait)} the winner by {test.pick_by.value} goes to the rest"
    ]


def _segment_text(campaign: Campaign) -> str:
    segment = campaign.segment
    parts = [f"tags {', '.join(segment.tags)}"] if segment.tags else []
    parts += [f"{name} = {value}" for name, value in segment.attributes.items()]
    if segment.where is not None:
        parts.append(f"where {segment.where.source}")
    return "; ".join(parts) or "everyone"


def _timing(preview: Preview) -> list[str]:
    if preview.starts_at is None or preview.ends_at is None:
        return []
    ends = f"{preview.ends_at:%Y-%m-%d %H:%M} UTC"
    if preview.campaign.send_at is None:
        return [f"Sending now: ends about {ends}"]
    send_at = f"{preview.campaign.send_at:%Y-%m-%d %H:%M}"
    return [
        f"Starts {send_at} {preview.first_zone} ({preview.starts_at:%Y-%m-%d %H:%M} UTC);"
        f" the last zone is {preview.last_zone}; ends about {ends}"
    ]

"""What a campaign file says, once read: the segment, when, the variants and the reply flow."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from bot.engine.expressions import Expression
from bot.engine.templates import Template


@dataclass(frozen=True)
class Segment:
    """Who gets it, among subscribed people: all these tags and attributes, and a condition."""

    tags: tuple[str, ...] = ()
    attributes: dict[str, object] = field(default_factory=dict, hash=False)
    where: Expression | None = None


@dataclass(frozen=True)
class Variant:
    """One version of the text; people are split between variants in proportion to weight."""

    name: str
    weight: float
    text: Template
    line: int
    media: tuple[str, ...] = ()  # https URLs: each text of this variant goes out as an MMS


class PickBy(StrEnum):
    """What a test split's winner is picked by: people who clicked, or who converted."""

    CLICK = "clicks"
    CONVERSION = "conversions"


@dataclass(frozen=True)
class SplitTest:
    """Send `share` of the segment first across the variants, wait, then the winner to the rest."""

    share: float  # in (0, 1): the part of the segment in the test
    wait: timedelta  # from the end of queueing the test to the decision
    pick_by: PickBy
    line: int


@dataclass(frozen=True)
class Campaign:
    """One campaign file."""

    name: str
    file: str
    description: str
    segment: Segment
    send_at: datetime | None  # None: now; else a wall-clock time in each recipient's own zone
    variants: tuple[Variant, ...]
    reply_flow: str | None = None
    test: SplitTest | None = None

"""Which variant a person gets: a stable hash of (campaign, phone) picks a weighted bucket."""

from __future__ import annotations

from collections.abc import Sequence

from bot.campaigns.model import Variant
from bot.domain.weighted import pick_weighted, stable_point


def bucket(campaign: str, phone: str) -> float:
    """A number in [0, 1) that is the same for this person and campaign on every run."""
    return stable_point(campaign, phone)


def assign_variant(campaign: str, phone: str, variants: Sequence[Variant]) -> Variant:
    """The variant this person gets; the same person always gets the same one."""
    if not variants:
        raise ValueError("a campaign needs at least one variant")
    return pick_weighted(bucket(campaign, phone), variants, lambda variant: variant.weight)


def in_test_split(campaign: str, phone: str, share: float) -> bool:
    """Whether this person is in the campaign's test split (a hash apart from the variant's)."""
    return bucket(f"{campaign}\x00test", phone) < share

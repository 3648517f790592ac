"""Which variant a person gets: a stable hash of (campaign, phone) picks a weighted bucket."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from bot.campaigns.model import Variant
from bot.domain.weighted import stable_point, weighted_picker


def bucket(campaign: str, phone: str) -> float:
    """A number in [0, 1) that is the same for this person and campaign on every run."""
    return stable_point(campaign, phone)


def assign_variant(campaign: str, phone: str, variants: Sequence[Variant]) -> Variant:
    """The variant this person gets; the same person always gets the same one."""
    return variant_assigner(campaign, variants)(phone)


def variant_assigner(campaign: str, variants: Sequence[Variant]) -> Callable[[str], Variant]:
    """`assign_variant` for many people of one campaign, the weights read once."""
    if not variants:
        raise ValueError("a campaign needs at least one variant")
    pick = weighted_picker(variants, lambda variant: variant.weight)
    return lambda phone: pick(bucket(campaign, phone))


def in_test_split(campaign: str, phone: str, share: float) -> bool:
    """Whether this person is in the campaign's test split (a hash apart from the variant's)."""
    return bucket(f"{campaign}\x00test", phone) < share

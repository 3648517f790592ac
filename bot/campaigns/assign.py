"""Which variant a person gets: a stable hash of (campaign, phone) picks a weighted bucket."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from bot.campaigns.model import Variant

_SCALE = 2**64


def bucket(campaign: str, phone: str) -> float:
    """A number in [0, 1) that is the same for this person and campaign on every run."""
    digest = hashlib.sha256(f"{campaign}\x00{phone}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / _SCALE


def assign_variant(campaign: str, phone: str, variants: Sequence[Variant]) -> Variant:
    """The variant this person gets; the same person always gets the same one."""
    if not variants:
        raise ValueError("a campaign needs at least one variant")
    point = bucket(campaign, phone) * sum(variant.weight for variant in variants)
    for variant in variants:
        if point < variant.weight:
            return variant
        point -= variant.weight
    return variants[-1]  # float rounding at the very top of the range


def in_test_split(campaign: str, phone: str, share: float) -> bool:
    """Whether this person is in the campaign's test split (a hash apart from the variant's)."""
    return bucket(f"{campaign}\x00test", phone) < share

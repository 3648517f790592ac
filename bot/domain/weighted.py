"""Stable weighted draws: the same inputs pick the same item on every run and every machine.

A/B variants in campaigns and `split` steps in flows both draw this way, so a person's share
is the same rule in both places.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from typing import TypeVar

Item = TypeVar("Item")
_SCALE = 2**64


def stable_point(*parts: str) -> float:
    """A number in [0, 1) fixed by `parts` (joined by NUL, hashed with SHA-256)."""
    digest = hashlib.sha256("\x00".join(parts).encode()).digest()
    return int.from_bytes(digest[:8], "big") / _SCALE


def pick_weighted(point: float, items: Sequence[Item], weight: Callable[[Item], float]) -> Item:
    """The item whose share of the total weight holds `point` (in [0, 1))."""
    return weighted_picker(items, weight)(point)


def weighted_picker(
    items: Sequence[Item], weight: Callable[[Item], float]
) -> Callable[[float], Item]:
    """`pick_weighted` over these items for any point, the weights read once (a campaign draws
    for every person)."""
    if not items:
        raise ValueError("nothing to pick from")
    shares = [(item, weight(item)) for item in items]
    total = sum(share for _, share in shares)
    last = items[-1]

    def pick(point: float) -> Item:
        remaining = point * total
        for item, share in shares:
            if remaining < share:
                return item
            remaining -= share
        return last  # float rounding at the very top of the range

    return pick

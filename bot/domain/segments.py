"""How many SMS segments a body costs, and in which encoding it travels (GSM 03.38 or UCS-2)."""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum


class Encoding(StrEnum):
    """The character encoding a text is sent in."""

    GSM7 = "GSM-7"
    UCS2 = "UCS-2"


SINGLE_SEGMENT_LIMIT = {Encoding.GSM7: 160, Encoding.UCS2: 70}
# A multipart segment loses room to the concatenation header (6 bytes = 7 septets / 3 units).
MULTIPART_SEGMENT_LIMIT = {Encoding.GSM7: 153, Encoding.UCS2: 67}

# GSM 03.38 default alphabet, in code order 0x00-0x7F. ESC (0x1B) is left out: it only
# introduces an extension character and is not a character a text can contain.
GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅå"
    "Δ_ΦΓΛΩΠΨΣΘΞÆæßÉ"
    " !\"#¤%&'()*+,-./"
    "0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
# The extension table: each character travels as ESC + code, so it costs two septets.
GSM7_EXTENSION = frozenset("\f^{}\\[~]|€")


@dataclass(frozen=True)
class SegmentInfo:
    """What a body costs to send."""

    encoding: Encoding
    segments: int
    units: int  # septets for GSM-7 (extension chars count 2), UTF-16 code units for UCS-2
    culprits: tuple[str, ...] = ()  # the characters that forced UCS-2, in order of appearance

    @property
    def is_multipart(self) -> bool:
        """True when the body is split over more than one segment."""
        return self.segments > 1

    @property
    def units_left(self) -> int:
        """Units that still fit in the segments counted so far (a draft's room before the next)."""
        # Packing can close a segment a unit early (no escape pair or surrogate pair is split),
        # so for a multipart text this is the most that fits, not the least.
        if self.segments == 1:
            return SINGLE_SEGMENT_LIMIT[self.encoding] - self.units
        return self.segments * MULTIPART_SEGMENT_LIMIT[self.encoding] - self.units


def is_gsm7(char: str) -> bool:
    """True when the character exists in GSM 03.38 (basic set or extension table)."""
    return char in GSM7_BASIC or char in GSM7_EXTENSION


def ucs2_culprits(body: str) -> list[str]:
    """The characters outside GSM 03.38, each once, in order of first appearance."""
    # dict keeps insertion order, so it deduplicates without losing "first appearance".
    return list(dict.fromkeys(char for char in body if not is_gsm7(char)))


def count_segments(body: str) -> SegmentInfo:
    """Count the segments and encoding units `body` needs as an SMS."""
    if GSM7_BASIC.issuperset(body):
        # The common case, found by one set operation: every character costs one septet, so
        # the count is arithmetic (it runs for every text in and out).
        return _gsm7_basic(len(body))
    return count_segments_by_packing(body)


@functools.lru_cache(maxsize=4096)
def _gsm7_basic(units: int) -> SegmentInfo:
    """The count for `units` characters of the basic set, made once per length: an info is
    immutable, and making one cost more than counting (a campaign counts every text)."""
    if units <= SINGLE_SEGMENT_LIMIT[Encoding.GSM7]:
        return SegmentInfo(encoding=Encoding.GSM7, segments=1, units=units)
    capacity = MULTIPART_SEGMENT_LIMIT[Encoding.GSM7]
    return SegmentInfo(encoding=Encoding.GSM7, segments=-(-units // capacity), units=units)


def count_segments_by_packing(body: str) -> SegmentInfo:
    """count_segments the long way: cost every character, then pack them into segments."""
    culprits = ucs2_culprits(body)
    if culprits:
        encoding, costs = Encoding.UCS2, [_utf16_units(char) for char in body]
    else:
        encoding, costs = Encoding.GSM7, [_septets(char) for char in body]
    units = sum(costs)
    if units <= SINGLE_SEGMENT_LIMIT[encoding]:
        segments = 1
    else:
        segments = _pack(costs, MULTIPART_SEGMENT_LIMIT[encoding])
    return SegmentInfo(encoding=encoding, segments=segments, units=units, culprits=tuple(culprits))


def _septets(char: str) -> int:
    return 2 if char in GSM7_EXTENSION else 1


def _utf16_units(char: str) -> int:
    # Characters beyond the Basic Multilingual Plane (most emoji) need a surrogate pair.
    return 2 if ord(char) > 0xFFFF else 1


def _pack(costs: Iterable[int], capacity: int) -> int:
    """Segments needed when no character may straddle two segments."""
    # A character's units are indivisible: an escape sequence or surrogate pair split across
    # segments would arrive as garbage, so a segment closes early rather than cut one in half.
    segments, used = 1, 0
    for cost in costs:
        if used + cost > capacity:
            segments, used = segments + 1, 0
        used += cost
    return segments

"""Segment and encoding counting for GSM 03.38 and UCS-2 bodies."""

from __future__ import annotations

import pytest

from bot.domain.segments import (
    Encoding,
    SegmentInfo,
    count_segments,
    count_segments_by_packing,
    ucs2_culprits,
)

GSM, UCS2 = Encoding.GSM7, Encoding.UCS2
EMOJI = "😀"  # beyond the BMP: one surrogate pair, 2 UTF-16 units

CASES: list[tuple[str, str, Encoding, int, int]] = [
    # label, body, encoding, segments, units
    ("empty body still costs one segment", "", GSM, 1, 0),
    ("plain ascii", "Reply JOIN to subscribe", GSM, 1, 23),
    ("gsm 160 fits one segment", "a" * 160, GSM, 1, 160),
    ("gsm 161 splits in two", "a" * 161, GSM, 2, 161),
    ("gsm two full multipart segments", "a" * 306, GSM, 2, 306),
    ("gsm one past two multipart segments", "a" * 307, GSM, 3, 307),
    ("extension char counts two septets", "€", GSM, 1, 2),
    ("every extension char counts two", "^{}\\[~]|€\f", GSM, 1, 20),
    ("extension char pushes 159 over 160", "a" * 159 + "€", GSM, 2, 161),
    ("extension char at 158 just fits", "a" * 158 + "€", GSM, 1, 160),
    # 152 + € would need septets 153-154: the escape pair moves whole to segment two.
    ("escape never split at segment boundary", "a" * 152 + "€" + "a" * 152, GSM, 3, 306),
    ("escape ending exactly at 153 stays", "a" * 151 + "€" + "a" * 153, GSM, 2, 306),
    ("é is in GSM", "Café", GSM, 1, 4),
    ("Ç capital is GSM", "Ç", GSM, 1, 1),
    ("greek capitals are GSM", "ΔΦΓΛΩΠΨΣΘΞ", GSM, 1, 10),
    ("newline and carriage return are GSM", "a\r\nb", GSM, 1, 4),
    ("ê is not in GSM", "Crêpe", UCS2, 1, 5),
    ("ç small is not GSM", "ç", UCS2, 1, 1),
    ("right single quote forces UCS-2", "Don’t miss out", UCS2, 1, 14),
    ("smart double quotes force UCS-2", "“Hi”", UCS2, 1, 4),
    ("ucs2 70 fits one segment", "ê" * 70, UCS2, 1, 70),
    ("ucs2 71 splits in two", "ê" * 71, UCS2, 2, 71),
    ("ucs2 two full multipart segments", "ê" * 134, UCS2, 2, 134),
    ("ucs2 one past two multipart segments", "ê" * 135, UCS2, 3, 135),
    ("emoji counts two units", EMOJI, UCS2, 1, 2),
    ("emoji at 69 pushes over 70", "ê" * 68 + EMOJI + "ê", UCS2, 2, 71),
    ("emoji filling 69-70 fits", "ê" * 68 + EMOJI, UCS2, 1, 70),
    # 66 + emoji would need units 67-68: the surrogate pair moves whole to segment two.
    ("surrogate pair never split at boundary", "ê" * 66 + EMOJI + "ê" * 66, UCS2, 3, 134),
    ("surrogate pair ending exactly at 67 stays", "ê" * 65 + EMOJI + "ê" * 67, UCS2, 2, 134),
    ("extension chars are one unit in UCS-2", "€ê", UCS2, 1, 2),
]


@pytest.mark.parametrize(
    ("body", "encoding", "segments", "units"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_count_segments(body: str, encoding: Encoding, segments: int, units: int) -> None:
    info = count_segments(body)
    assert (info.encoding, info.segments, info.units) == (encoding, segments, units)
    assert info.is_multipart == (segments > 1)


CULPRIT_CASES: list[tuple[str, str, list[str]]] = [
    ("gsm body has none", "Café {50%} €", []),
    ("in order of first appearance, once each", "’Hi’ “you” ê’", ["’", "“", "”", "ê"]),
    ("emoji is one culprit", f"Thanks {EMOJI}{EMOJI}", [EMOJI]),
]


@pytest.mark.parametrize(
    ("body", "expected"),
    [case[1:] for case in CULPRIT_CASES],
    ids=[case[0] for case in CULPRIT_CASES],
)
def test_ucs2_culprits(body: str, expected: list[str]) -> None:
    assert ucs2_culprits(body) == expected
    assert count_segments(body).culprits == tuple(expected)


def test_segment_info_is_a_plain_value() -> None:
    assert count_segments("Hi") == SegmentInfo(encoding=GSM, segments=1, units=2)
    assert str(Encoding.UCS2) == "UCS-2"


@pytest.mark.parametrize("length", range(0, 500, 7))
def test_the_quick_count_of_plain_text_agrees_with_packing(length: int) -> None:
    body = ("Reply YES to join! 0-10, ok? " * 20)[:length]
    assert count_segments(body) == count_segments_by_packing(body)

"""Cells a spreadsheet would run as formulas are made inert; numbers with a sign are not."""

from __future__ import annotations

import pytest

from bot.spreadsheet import inert


@pytest.mark.parametrize(
    ("cell", "exported"),
    [
        ('=HYPERLINK("http://evil.example")', '\'=HYPERLINK("http://evil.example")'),
        ("@SUM(A1:A9)", "'@SUM(A1:A9)"),
        ("+cmd|' /C calc'!A0", "'+cmd|' /C calc'!A0"),
        ("-2+3", "'-2+3"),
        ("\t=1", "'\t=1"),
        ("-5", "-5"),
        ("+14155550100", "+14155550100"),
        ("1e3", "1e3"),
        ("Great service", "Great service"),
        ("", ""),
    ],
)
def test_formulas_are_made_inert(cell: str, exported: str) -> None:
    assert inert(cell) == exported

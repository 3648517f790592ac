"""Cells a spreadsheet would run as formulas are made inert; numbers with a sign are not."""

from __future__ import annotations

import ast
import io
from pathlib import Path

import pytest

import bot
from bot.domain.spreadsheet import csv_writer, inert, restored


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


@pytest.mark.parametrize(
    "value", ['=HYPERLINK("http://evil.example")', "-5", "+14155550100", "'quoted", "", "Ada"]
)
def test_an_imported_export_gives_back_what_was_exported(value: str) -> None:
    assert restored(inert(value)) == value


def test_a_value_that_looks_exported_loses_its_quote() -> None:
    # The one value that cannot survive the round trip: it reads as an exported "=x".
    assert restored(inert("'=x")) == "=x"


def test_the_writer_makes_every_cell_inert() -> None:
    stream = io.StringIO()
    csv_writer(stream, lineterminator="\n").writerow(["=1+2", -5, None, "+14155550100", 7.5])
    assert stream.getvalue() == "'=1+2,-5,,+14155550100,7.5\n"


WRITERS = {"writer", "DictWriter"}


def test_only_the_spreadsheet_module_writes_csv() -> None:
    """Every export goes through csv_writer, so none can forget to make its cells inert."""
    package = Path(bot.__file__).parent
    offenders = []
    for path in sorted(package.rglob("*.py")):
        if path.name == "spreadsheet.py":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            named = (
                isinstance(node, ast.Attribute)
                and node.attr in WRITERS
                and isinstance(node.value, ast.Name)
                and node.value.id == "csv"
            )
            imported = (
                isinstance(node, ast.ImportFrom)
                and node.module == "csv"
                and any(alias.name in WRITERS for alias in node.names)
            )
            if named or imported:
                offenders.append(f"{path.relative_to(package.parent)}:{node.lineno}")
    assert offenders == [], "write CSV with bot.domain.spreadsheet.csv_writer"

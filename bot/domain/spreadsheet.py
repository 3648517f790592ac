"""CSV for spreadsheets: the one writer every export uses, with formulas made inert.

A subscriber can answer a survey with `=HYPERLINK("http://evil.example","Click")`, or sign up
with it as their first name; opened in Excel or Sheets, an export would run it (CSV injection).
OWASP's advice: start such a cell with a quote. Numbers that merely carry a sign (`-5`, a phone
number's `+1…`) are left as they are. `csv_writer` applies this to every cell it writes, so an
export cannot forget a column; `restored` undoes it when such a file is imported again.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from typing import IO

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
QUOTE = "'"


def inert(cell: str) -> str:
    """The cell as written, or prefixed with ' when a spreadsheet would take it for a formula."""
    if not cell.startswith(FORMULA_STARTS) or _is_number(cell):
        return cell
    return QUOTE + cell


def restored(cell: str) -> str:
    """The value `inert` was given: its quote removed, any other cell as it is."""
    if cell.startswith(QUOTE) and inert(cell[1:]) == cell:
        return cell[1:]
    return cell


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


class InertWriter:
    """A csv.writer whose every cell is text made inert (None is an empty cell)."""

    def __init__(self, stream: IO[str], *, lineterminator: str) -> None:
        self._writer = csv.writer(stream, lineterminator=lineterminator)

    def writerow(self, row: Iterable[object]) -> None:
        """Write one row."""
        self._writer.writerow([inert("" if cell is None else str(cell)) for cell in row])

    def writerows(self, rows: Iterable[Iterable[object]]) -> None:
        """Write each row."""
        for row in rows:
            self.writerow(row)


def csv_writer(stream: IO[str], *, lineterminator: str = "\r\n") -> InertWriter:
    """The writer for every CSV Parley hands out (exports, downloads)."""
    return InertWriter(stream, lineterminator=lineterminator)

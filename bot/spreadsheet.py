"""Cells that a spreadsheet would run as a formula, made inert (CSV injection).

A subscriber can answer a survey with `=HYPERLINK("http://evil.example","Click")`; opened in
Excel or Sheets, the export would run it. OWASP's advice: start such a cell with a quote.
Numbers that merely carry a sign (`-5`, a phone number's `+1…`) are left as they are.
"""

from __future__ import annotations

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def inert(cell: str) -> str:
    """The cell as written, or prefixed with ' when a spreadsheet would take it for a formula."""
    if not cell.startswith(FORMULA_STARTS) or _is_number(cell):
        return cell
    return "'" + cell


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True

"""An operator's sending rules file that loosens a shipped rule, with and without its override."""

from __future__ import annotations

# Florida's hours run to 20:00; this file says 21:00. Problems name the hours rule: line 3.
LOOSER_FLORIDA = """\
US-FL:
  name: Florida
  hours:
    every_day: "08:00-21:00"
    source: "counsel's memo"
    checked: "2026-11-30"
"""
OVERRIDE = '    override: "texts to our own staff only"\n'  # appended: part of the hours rule

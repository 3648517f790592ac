"""`@name` in a note names colleagues by first name or their email's local part."""

from __future__ import annotations

import pytest

from bot.domain.mentions import Colleague, mentioned

ANA = Colleague(1, "Ana Agent", "ana.s@acme.test")
DANA = Colleague(2, "Dana", "dana@acme.test")
ELI = Colleague(3, "Eli Ross", "eross@acme.test")
TEAM = [ANA, DANA, ELI]


@pytest.mark.parametrize(
    ("note", "named"),
    [
        ("@dana can you check the refund?", [DANA]),
        ("Asked @Ana and @eross.", [ANA, ELI]),
        ("cc @ana.s, @ELI!", [ANA, ELI]),
        ("(@dana) twice @dana", [DANA]),
        ("write to dana@acme.test", []),  # an address in a note names nobody
        ("@nobody here", []),
        ("no mention at all", []),
    ],
)
def test_who_a_note_mentions(note: str, named: list[Colleague]) -> None:
    assert mentioned(note, TEAM) == named

"""What no database column can hold, found in one search over many texts."""

from __future__ import annotations

import pytest

from bot.web.json_values import all_storable, problem_in

CASES = {
    "nothing": ([], True),
    "plain texts": (["MessageSid", "SM1", "Body", "Gracias 👍 ¿qué tal?\n"], True),
    "a NUL": (["Body", "a\x00b"], False),
    "a NUL in a name": (["\x00", "value"], False),
    "a lone high surrogate": (["Body", "x\ud800"], False),
    "a lone low surrogate": (["Body", "\udfffx"], False),
    # Two halves in two texts stay two lone halves: joining them makes no character.
    "halves in two texts": (["a\ud83d", "\ude00b"], False),
}


@pytest.mark.parametrize(("texts", "storable"), CASES.values(), ids=CASES.keys())
def test_all_storable_agrees_with_problem_in(texts: list[str], storable: bool) -> None:
    assert all_storable(texts) is storable
    assert all(problem_in(text, "field") is None for text in texts) is storable

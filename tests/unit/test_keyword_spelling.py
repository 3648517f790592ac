"""Reading disguised words: the quick paths give the answers the plain definitions give."""

from __future__ import annotations

import itertools
import pickle
import string
from collections.abc import Iterator

from bot.domain.keyword_spelling import one_slip
from bot.domain.keywords import classify, default_vocabulary

EDITS_FROM = 7  # typo keywords this long also forgive a missing, wrong or extra letter


def _one_slip_away(word: str) -> Iterator[str]:
    """Words one swapped, missing, wrong or extra letter away from `word`, and some further."""
    for i in range(len(word) + 1):
        yield word[:i] + word[i + 1 :]
        yield word[:i] + word[i + 1 : i + 2] + word[i : i + 1] + word[i + 2 :]
        for letter in string.ascii_lowercase:
            yield word[:i] + letter + word[i + 1 :]
            yield word[:i] + letter + word[i:]


def _first_slip(typed: str, typos: tuple[str, ...]) -> str:
    """The first listed typo keyword `typed` is a slip of, looked for the slow, plain way."""
    for keyword in typos:
        edits = len(keyword) >= EDITS_FROM
        if abs(len(keyword) - len(typed)) <= 1 and one_slip(typed, keyword, edits=edits):
            return keyword
    return typed


def test_every_slip_of_a_typo_keyword_reads_as_the_first_keyword_it_is_a_slip_of() -> None:
    spelling = default_vocabulary().spelling
    checked = 0
    for keyword in spelling.typos:
        for typed in set(_one_slip_away(keyword)):
            held_down = any(a == b for a, b in itertools.pairwise(typed))
            if typed in spelling.known or len(typed) < 4 or held_down:
                continue  # known words stay as they are; held-down letters are read first
            assert spelling.word(typed) == _first_slip(typed, spelling.typos), typed
            checked += 1
    assert checked > 5000


def test_a_vocabulary_survives_pickling() -> None:
    vocabulary = pickle.loads(pickle.dumps(default_vocabulary()))
    for text in ("sotp", "S T O P now", "unsubscibe", "take me off your list", "where is my order"):
        assert classify(text, vocabulary) == classify(text, default_vocabulary()), text

"""Read a disguised or misspelt word as the keyword-list word it stands for ("st0p", "sotp").

Pure: the keyword classifier builds a `Spelling` from its word lists and passes folded tokens
through it before looking anything up. Only words the lists do not know are changed, and only into
words they do know, so ordinary text ("shop", "10am", "$5") comes out as it went in.
"""

from __future__ import annotations

import functools
import itertools
import re
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field

__all__ = ["Spelling", "one_slip"]

# Digits people type for letters ("ST0P", "5TOP", "UN5UB"); only read that way inside a word that
# also has letters, so order numbers and prices stay numbers. ("$TOP" is handled when tokenising.)
_LEET = str.maketrans("013457", "oieast")
# A typo-tolerant keyword shorter than this only forgives two swapped letters; a missing, extra
# or wrong letter in a short word makes too many real words ("stop" -> "shop", "step", "stops").
_EDITS_FROM = 7
_NONE: frozenset[str] = frozenset()
# How many readings of words a Spelling remembers: under a megabyte, and enough for the words that
# come up again and again ("the", "order", "thanks"); the longest unused are forgotten first.
_REMEMBERED = 4096
_RUN = re.compile(r"(.)\1+")
_LONG_RUN = re.compile(r"(.)\1{2,}")


def one_slip(typed: str, word: str, *, edits: bool) -> bool:
    """Whether `typed` is `word` with two neighbouring letters swapped, or (edits) one off."""
    # "One letter off" is missing, wrong, or extra anywhere but at the end: an extra last letter
    # is more often an ending ("unsubscribed", "removes") than a slip.
    if len(typed) == len(word):
        differ = [i for i, (a, b) in enumerate(zip(typed, word, strict=True)) if a != b]
        if len(differ) == 2 and differ[1] == differ[0] + 1:
            i, j = differ
            return typed[i] == word[j] and typed[j] == word[i]
        return edits and len(differ) == 1
    if not edits:
        return False
    if len(typed) == len(word) + 1:
        return any(typed[:i] + typed[i + 1 :] == word for i in range(len(typed) - 1))
    if len(typed) == len(word) - 1:
        return any(word[:i] + word[i + 1 :] == typed for i in range(len(word)))
    return False


def _slip_index(typos: Iterable[str]) -> dict[tuple[int, str, int], frozenset[str]]:
    """Each typo keyword under its first and its last letter, with each length a slip of it has.

    A slip never changes both ends of a word of four letters or more: a swap or a wrong letter
    touches one end at most, and a missing or extra letter keeps the last letter when it is at the
    start and the first one anywhere else. So a word need only be compared, by `one_slip`, with the
    few keywords of its length that share an end with it: for most words, none.
    """
    index: dict[tuple[int, str, int], set[str]] = {}
    for keyword in typos:
        size = len(keyword)
        lengths = (size - 1, size, size + 1) if size >= _EDITS_FROM else (size,)
        for length in lengths:
            index.setdefault((0, keyword[0], length), set()).add(keyword)
            index.setdefault((-1, keyword[-1], length), set()).add(keyword)
    return {key: frozenset(keywords) for key, keywords in index.items()}


@dataclass(frozen=True)
class Spelling:
    """The words a vocabulary uses, and which of them a disguised word may be read as."""

    known: frozenset[str]  # every word the lists use: keywords, filler, words of the patterns
    targets: frozenset[str]  # keyword and filler words an unknown word may turn out to be
    typos: tuple[str, ...] = ()  # keyword words also read with one slip of the finger
    # Which typo keywords a word might be a slip of, built once (see `_slip_index`).
    _slips: Mapping[tuple[int, str, int], frozenset[str]] = field(
        init=False, repr=False, compare=False
    )
    # `_read`, remembering the words read last: the same words come in text after text.
    _remembered: Callable[[str], str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_slips", _slip_index(self.typos))
        object.__setattr__(self, "_remembered", functools.lru_cache(_REMEMBERED)(self._read))

    @classmethod
    def of(
        cls, known: Iterable[str], targets: Iterable[str], typos: Iterable[str] = ()
    ) -> Spelling:
        """A spelling for these words; targets and typo words are known words too."""
        target_set = frozenset(word for word in targets if len(word) >= 2)
        typo_words = tuple(dict.fromkeys(typos))
        return cls(frozenset(known) | target_set | set(typo_words), target_set, typo_words)

    def correct(self, tokens: list[str], breaks: Collection[str]) -> list[str]:
        """Tokens with each disguised word read as the word it stands for; breaks are kept."""
        read = self._remembered
        return [read(token) for token in self._join_spelled(tokens, breaks)]

    def word(self, word: str) -> str:
        """The known word `word` stands for, or `word` itself."""
        return self._remembered(word)

    def __reduce__(self) -> tuple[type[Spelling], tuple[object, ...]]:
        """Pickle the word lists only: the index and the remembered words are built anew."""
        return Spelling, (self.known, self.targets, self.typos)

    def _read(self, word: str) -> str:
        """`word`, without remembering."""
        if word in self.known or not word.isalnum():
            return word
        plain = word
        if not word.isalpha() and not word.isdigit():  # letters and digits: digits for letters?
            plain = word.translate(_LEET)
            if plain in self.known:
                return plain
        return self._repeats(plain) or self._typo(plain) or word

    def _repeats(self, word: str) -> str | None:
        """'stoppp' -> 'stop', 'pleeease' -> 'please', 'mee' -> 'me': emphasis, not spelling."""
        if _RUN.search(word) is None:
            return None  # nothing held down, and the word as typed is already known to be unknown
        # Each run of a letter cut to one; itertools.groupby does it three times as fast as re.sub.
        single = "".join([letter for letter, _ in itertools.groupby(word)])
        if single in self.targets:
            return single
        if _LONG_RUN.search(word) is None:
            return None
        double = _LONG_RUN.sub(r"\1\1", word)
        if double in self.known:
            return double
        return self._typo(single) or single  # no word has three letters in a row

    def _typo(self, word: str) -> str | None:
        if len(word) < 4 or not word.isalpha():
            return None
        size = len(word)
        candidates = self._slips.get((0, word[0], size), _NONE) | self._slips.get(
            (-1, word[-1], size), _NONE
        )
        if not candidates:
            return None  # the common case: an ordinary word, no slip of any keyword
        # In listed order: the first keyword it is a slip of wins.
        for keyword in sorted(candidates, key=self.typos.index):
            if abs(len(keyword) - len(word)) <= 1 and one_slip(
                word, keyword, edits=len(keyword) >= _EDITS_FROM
            ):
                return keyword
        return None

    def _join_spelled(self, tokens: list[str], breaks: Collection[str]) -> list[str]:
        """Single letters in a row ("S T O P now", "S.T.O.P. NOW") that spell a keyword join up."""
        if not _three_letters_together(tokens, breaks):
            return tokens  # nothing spelled out: most texts
        joined: list[str] = []
        for single, group in itertools.groupby(
            tokens, lambda token: token in breaks or len(token) == 1
        ):
            run = list(group)
            at = [i for i, token in enumerate(run) if token not in breaks]  # the letters
            letters = "".join(run[i] for i in at)
            if single and len(letters) >= 3 and self.word(letters) in self.targets:
                # Breaks before the first letter and after the last still end sentences.
                joined.extend([*run[: at[0]], letters, *run[at[-1] + 1 :]])
            else:
                joined.extend(run)
        return joined


def _three_letters_together(tokens: list[str], breaks: Collection[str]) -> bool:
    """Whether three single letters stand in a row with nothing but breaks between them."""
    letters_at = [i for i, token in enumerate(tokens) if len(token) == 1 and token not in breaks]
    together = 1  # letters in the current row
    for previous, letter in itertools.pairwise(letters_at):
        between = tokens[previous + 1 : letter]
        together = together + 1 if all(token in breaks for token in between) else 1
        if together == 3:
            return True
    return False

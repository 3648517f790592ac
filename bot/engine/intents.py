"""Matches a free-text message to the flow whose example phrases it resembles most."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from bot.domain.keywords import normalise

# Words that carry no meaning for matching ("i want to …" must not match every flow).
STOP_WORDS = frozenset(
    {
        "a",
        "an",
        "the",
        "i",
        "me",
        "my",
        "you",
        "your",
        "we",
        "our",
        "to",
        "of",
        "for",
        "in",
        "on",
        "at",
        "is",
        "are",
        "was",
        "be",
        "it",
        "this",
        "that",
        "and",
        "or",
        "do",
        "does",
        "did",
        "can",
        "could",
        "would",
        "please",
        "pls",
        "hi",
        "hello",
        "hey",
        "just",
        "so",
    }
)
THRESHOLD = 0.6  # share of an example's meaningful words that the message must contain


def meaningful_words(text: str) -> frozenset[str]:
    """The words of a text that say something."""
    return frozenset(word for word in normalise(text).split() if word not in STOP_WORDS)


@dataclass(frozen=True)
class IntentMatcher:
    """Example phrases per flow, ready to match."""

    examples: tuple[tuple[str, frozenset[str]], ...]  # (flow name, example words)

    @classmethod
    def build(cls, flows: Iterable[tuple[str, Iterable[str]]]) -> IntentMatcher:
        examples = tuple(
            (name, words)
            for name, phrases in flows
            for words in map(meaningful_words, phrases)
            if words
        )
        return cls(examples)

    def match(self, text: str) -> str | None:
        """The flow whose example the message covers best, if any covers enough of it."""
        words = meaningful_words(text)
        if not words:
            return None
        best_name, best_score = None, 0.0
        for name, example in self.examples:
            covered = len(words & example) / len(example)
            # Prefer the example that also explains most of the message.
            score = covered + 0.01 * len(words & example) / len(words)
            if covered >= THRESHOLD and score > best_score:
                best_name, best_score = name, score
        return best_name

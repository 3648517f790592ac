"""The keyword classifier measured on labelled real-world texts: opt-outs honoured, the rest not.

keyword_corpus.yaml and keyword_corpus_2.yaml are what the word lists were tuned on;
keyword_corpus_held_out.yaml was never tuned on. Run with `-s` to see the numbers.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from bot.domain.keywords import KeywordKind, classify
from tests.support.paths import SUPPORT

TUNING = (SUPPORT / "keyword_corpus.yaml", SUPPORT / "keyword_corpus_2.yaml")
HELD_OUT = SUPPORT / "keyword_corpus_held_out.yaml"

# Measured on the tuning set, and kept: lower them only with a reason in the commit.
TUNING_RECALL = 1.0
# The held-out set is a check on overfitting, not a target; this is its measured floor.
HELD_OUT_RECALL = 0.9


@dataclass(frozen=True)
class Labelled:
    """One text of the corpus, with where it came from."""

    group: str  # "must.en", "ordinary.de" …
    text: str

    def opts_out(self) -> bool:
        return classify(self.text).kind is KeywordKind.OPT_OUT


def _texts(group: str, by_language: Mapping[str, list[str]]) -> Iterator[Labelled]:
    for language, texts in by_language.items():
        for text in texts:
            yield Labelled(f"{group}.{language}", text)


def _corpus(*paths: Path) -> dict[str, list[Labelled]]:
    """The corpus files' texts by label: "must", "should" (opt-outs) and "ordinary"."""
    corpus: dict[str, list[Labelled]] = {"must": [], "should": [], "ordinary": []}
    for path in paths:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        opt_out = data["opt_out"]
        if "must" in opt_out or "should" in opt_out:
            labelled = {"must": opt_out.get("must", {}), "should": opt_out.get("should", {})}
        else:
            labelled = {"should": opt_out}  # a set that is not split
        labelled["ordinary"] = data["ordinary"]
        for label, texts in labelled.items():
            corpus[label].extend(_texts(label, texts))
    return corpus


@dataclass(frozen=True)
class Score:
    """Recall over the opt-outs and precision of what was taken as an opt-out."""

    missed: list[Labelled]
    caught: list[Labelled]  # ordinary texts taken as an opt-out
    opt_outs: int
    ordinary: int

    @classmethod
    def of(cls, corpus: Mapping[str, list[Labelled]]) -> Score:
        opt_outs = corpus["must"] + corpus["should"]
        return cls(
            missed=[item for item in opt_outs if not item.opts_out()],
            caught=[item for item in corpus["ordinary"] if item.opts_out()],
            opt_outs=len(opt_outs),
            ordinary=len(corpus["ordinary"]),
        )

    @property
    def recall(self) -> float:
        return (self.opt_outs - len(self.missed)) / self.opt_outs

    @property
    def precision(self) -> float:
        honoured = self.opt_outs - len(self.missed)
        return honoured / (honoured + len(self.caught)) if honoured else 0.0

    def report(self, name: str) -> str:
        honoured = self.opt_outs - len(self.missed)
        return (
            f"{name}: recall {self.recall:.3f} ({honoured}/{self.opt_outs} opt-outs honoured), "
            f"precision {self.precision:.3f} ({len(self.caught)}/{self.ordinary} ordinary texts "
            f"taken as opt-outs)\n  missed: {[item.text for item in self.missed]}\n"
            f"  caught: {[item.text for item in self.caught]}"
        )


TUNING_CORPUS = _corpus(*TUNING)


def _params(label: str) -> list[object]:
    return [
        pytest.param(item, id=f"{item.group}-{number}")
        for number, item in enumerate(TUNING_CORPUS[label])
    ]


@pytest.mark.parametrize("item", _params("must"))
def test_every_must_opt_out_is_honoured(item: Labelled) -> None:
    assert item.opts_out(), f"{item.text!r} ({item.group}) was not taken as an opt-out"


@pytest.mark.parametrize("item", _params("ordinary"))
def test_no_near_miss_is_taken_as_an_opt_out(item: Labelled) -> None:
    assert not item.opts_out(), f"{item.text!r} ({item.group}) was taken as an opt-out"


def test_recall_and_precision_on_the_tuning_set() -> None:
    score = Score.of(TUNING_CORPUS)
    print(score.report("tuning set"))
    assert score.recall >= TUNING_RECALL, score.report("tuning set")
    assert not score.caught, score.report("tuning set")


def test_recall_and_precision_on_the_held_out_set() -> None:
    score = Score.of(_corpus(HELD_OUT))
    print(score.report("held-out set"))
    assert score.recall >= HELD_OUT_RECALL, score.report("held-out set")
    assert not score.caught, score.report("held-out set")


def test_corpus_sizes() -> None:
    """The corpus stays big enough to mean something, and no text is in both sets."""
    held_out = _corpus(HELD_OUT)
    assert len(TUNING_CORPUS["must"] + TUNING_CORPUS["should"]) >= 150
    assert len(TUNING_CORPUS["ordinary"]) >= 150
    tuning_texts = {item.text for items in TUNING_CORPUS.values() for item in items}
    assert not tuning_texts & {item.text for items in held_out.values() for item in items}

"""Classify an inbound text as a consent or help keyword (STOP, START, JOIN, Y, HELP) or none.

Pure: plain strings in, values out. The word lists and phrase patterns live in keywords.yaml so an
operator can extend them; they are compiled once into a `Vocabulary`.
"""

from __future__ import annotations

import functools
import itertools
import re
import unicodedata
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import NamedTuple, NoReturn

from bot.domain.keyword_spelling import Spelling
from bot.domain.yamlsource import LocatedDict, LocatedList, YamlError, load_yaml

__all__ = [
    "NO_MATCH",
    "KeywordFileError",
    "KeywordKind",
    "KeywordMatch",
    "PhraseRule",
    "Vocabulary",
    "classify",
    "default_vocabulary",
    "load_vocabulary",
    "normalise",
]

_DEFAULT_FILE = Path(__file__).with_name("keywords.yaml")


class KeywordKind(StrEnum):
    """What a keyword asks for."""

    OPT_OUT = "opt_out"  # STOP and friends
    OPT_IN = "opt_in"  # START, UNSTOP: re-subscribe after an opt-out
    JOIN = "join"  # JOIN and brand keywords: begins double opt-in
    CONFIRM = "confirm"  # Y / YES: confirms a pending double opt-in; the caller decides the rest
    HELP = "help"  # HELP, INFO
    NONE = "none"


# When one word is listed under several kinds, the first kind here wins: STOP beats everything.
_PRECEDENCE = (
    KeywordKind.OPT_OUT,
    KeywordKind.OPT_IN,
    KeywordKind.CONFIRM,
    KeywordKind.HELP,
    KeywordKind.JOIN,
)
_KEYWORD_LISTS = ("strong", "exact", "patterns", "typos")
_LANGUAGE_LISTS = ("filler", "courtesy", "negations")


@dataclass(frozen=True)
class KeywordMatch:
    """The result of classifying one text."""

    kind: KeywordKind
    keyword: str | None  # canonical keyword, e.g. "STOP"; None for a phrase ("take me off")
    language: str | None  # "en", "es", "fr", "de", "nl"; None for brand keywords


NO_MATCH = KeywordMatch(KeywordKind.NONE, None, None)


class KeywordFileError(ValueError):
    """A keywords file is unreadable or malformed; the message names the file (and line)."""


# --- normalisation -------------------------------------------------------------------------------

# Apostrophes join rather than separate, so "don't" and "dont" read the same.
_APOSTROPHE_CHARS = "'\u2018\u2019\u02bc`\u00b4\uff07\u2032"
_APOSTROPHES = str.maketrans("", "", _APOSTROPHE_CHARS)
_ASCII_APOSTROPHES = [char for char in _APOSTROPHE_CHARS if char.isascii()]
# Accents (combining marks once decomposed), variation selectors and zero-width characters.
_INVISIBLE = re.compile(
    "[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe00-\ufe0f\ufe20-\ufe2f"
    "\u00ad\u200b-\u200f\u202a-\u202e\u2060-\u2064\ufeff]"
)
# Letters of other scripts that look like Latin ones ("SТОР" with Cyrillic ТОР), read as the Latin
# letter. Applied after case folding, so each maps to what its capital looks like (Greek ν to n,
# as Ν looks like N) and a keyword and a message always fold alike. Written by hand: Unicode's
# confusables data (as the confusable-homoglyphs package ships it) maps to prototypes for spotting
# spoofs, not to letters to read (Cyrillic т to small-capital ᴛ, m to "rn"), and is 900 KB for
# the few dozen letters that matter here.
_LOOKALIKES = str.maketrans(
    {
        look: latin
        for latin, looks in {
            # Cyrillic, Greek, Armenian, then Latin small capitals and others NFKD leaves alone
            "a": "\u0430\u03b1\u1d00\u0251",
            "b": "\u0432\u044c\u03b2\u0299",
            "c": "\u0441\u03f2\u1d04",
            "d": "\u0501\u1d05",
            "e": "\u0435\u03b5\u1d07",
            "f": "\ua730",
            "g": "\u0261\u0262",
            "h": "\u043d\u04bb\u03b7\u0570\u029c",
            "i": "\u0456\u03b9\u026a\u0131",
            "j": "\u0458\u03f3\u1d0a",
            "k": "\u043a\u03ba\u1d0b\u0138",
            "l": "\u04cf\u01c0\u029f",
            "m": "\u043c\u03bc\u1d0d",
            "n": "\u043f\u03bd\u0578\u0274",
            "o": "\u043e\u03bf\u0585\u1d0f",
            "p": "\u0440\u03c1\u1d18",
            "q": "\u051b",
            "r": "\u0433\u0280",
            "s": "\u0455\u057f\ua731",
            "t": "\u0442\u03c4\u1d1b",
            "u": "\u057d\u1d1c",
            "v": "\u1d20",
            "w": "\u051d\u1d21",
            "x": "\u0445\u03c7",
            "y": "\u0443\u04af\u03c5\u028f",
            "z": "\u03b6\u1d22",
        }.items()
        for look in looks
    }
)
_SENTENCE_BREAKS = frozenset(".!?;,\n\u00a1\u00bf\u2013\u2014\u3002")
# "$TOP": a dollar sign before a letter is an S; before a digit it is money.
_DOLLAR_S = re.compile(r"\$(?=[^\W\d_])")
# A token is a word (letters and digits) or a sentence break; anything else separates words.
_TOKEN = re.compile(rf"[^\W_]+|[{re.escape(''.join(_SENTENCE_BREAKS))}]")


def _fold(text: str) -> str:
    """Lower-case, accent-free, compatibility-mapped text with its punctuation still in place."""
    if text.isascii():
        return _fold_ascii(text)
    # NFKD maps full-width and "fancy font" letters to ASCII and splits accents off their letters;
    # the second pass catches the few characters casefold turns into decomposable ones.
    decomposed = unicodedata.normalize("NFKD", text.translate(_APOSTROPHES))
    folded = _INVISIBLE.sub("", unicodedata.normalize("NFKD", decomposed.casefold()))
    return folded.translate(_LOOKALIKES)


def _fold_ascii(text: str) -> str:
    """`_fold` for ASCII text, most texts, several times faster.

    ASCII has no accents, look-alike or invisible characters, NFKD leaves it as it is and casefold
    is lower(); that leaves the apostrophes, and str.replace beats str.translate at those.
    """
    for apostrophe in _ASCII_APOSTROPHES:
        text = text.replace(apostrophe, "")
    return text.lower()


def _tokens(text: str) -> list[str]:
    """The words and sentence breaks of a text, folded."""
    folded = _fold(text)
    if "$" in folded:
        folded = _DOLLAR_S.sub("s", folded)
    return _TOKEN.findall(folded)


def _words(tokens: list[str]) -> list[str]:
    """The words among tokens; a spelled-out message ("S.T.O.P", "s t o p") becomes one word."""
    words = [token for token in tokens if token not in _SENTENCE_BREAKS]
    if len(words) >= 3 and all(len(word) == 1 for word in words):
        return ["".join(words)]
    return words


def normalise(text: str) -> str:
    """Full-width letters to ASCII, casefold, strip accents, drop emoji/punctuation, one space."""
    return " ".join(_words(_tokens(text)))


def _squash(words: Iterable[str]) -> str:
    """Join words, dropping immediate repeats ("stop stop" -> "stop")."""
    return " ".join(word for word, _ in itertools.groupby(words))


def _core(words: Iterable[str], filler: frozenset[str]) -> str:
    """The words that are not filler, squashed ("please stop it, stop" -> "stop")."""
    return _squash(word for word in words if word not in filler)


def _trim(words: list[str], courtesy: frozenset[str]) -> str:
    """The words without courtesy words at either end, squashed ("cancel please" -> "cancel")."""
    start, end = 0, len(words)
    while start < end and words[start] in courtesy:
        start += 1
    while end > start and words[end - 1] in courtesy:
        end -= 1
    return _squash(words[start:end])


# --- the compiled vocabulary ---------------------------------------------------------------------


@dataclass(frozen=True)
class PhraseRule:
    """The phrase patterns of one kind and language, compiled into one regex."""

    kind: KeywordKind
    language: str
    pattern: re.Pattern[str]
    negation: re.Pattern[str] | None  # words just before a hit that cancel it ("don't")

    def search(self, normalised: str) -> KeywordMatch | None:
        """The match for the first hit in normalised text that no negation cancels."""
        if self.pattern.search(normalised) is None:
            return None  # most texts; search() is cheaper than finditer() for them
        for hit in self.pattern.finditer(normalised):
            if not self._negated(normalised, hit):
                return KeywordMatch(self.kind, None, self.language)
        return None

    def _negated(self, normalised: str, hit: re.Match[str]) -> bool:
        if self.negation is None:
            return False
        before = normalised[: hit.start()].rstrip()
        # A phrase that starts with its own negation ("no, no me envíes más") is emphatic.
        first_word = hit.group().split(" ", 1)[0]
        return bool(self.negation.search(before)) and not self.negation.search(first_word)


@dataclass(frozen=True, eq=False)  # compared and hashed by identity: it is built once
class Vocabulary:
    """Keyword lists and phrase patterns, compiled; build one with `load_vocabulary`."""

    exact: Mapping[str, KeywordMatch]  # whole normalised message -> match
    strong: Mapping[str, KeywordMatch]  # message with filler words removed -> match
    filler: frozenset[str]
    phrases: tuple[PhraseRule, ...]  # opt-out rules first
    opt_out_words: frozenset[str]  # the words of strong opt-out keywords, to skip work quickly
    courtesy: frozenset[str] = frozenset()  # words allowed around an exact keyword ("END please")
    # How disguised and misspelt words are read; by default, not at all.
    spelling: Spelling = field(default_factory=lambda: Spelling.of((), ()))
    # Every word a keyword lookup can use; a text with any other word is no keyword (`_keywords`).
    _lexicon: frozenset[str] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        keys = itertools.chain(self.exact, self.strong)
        words = {word for key in keys for word in key.split()}
        object.__setattr__(self, "_lexicon", frozenset(words | self.filler | self.courtesy))

    def phrase(self, normalised: str) -> KeywordMatch | None:
        """The first phrase rule that matches, opt-out rules first."""
        for rule in self.phrases:
            if (match := rule.search(normalised)) is not None:
                return match
        return None


def classify(text: str, vocabulary: Vocabulary | None = None) -> KeywordMatch:
    """Classify one inbound text; an opt-out anywhere in it wins over every other kind."""
    vocab = vocabulary or default_vocabulary()
    tokens = vocab.spelling.correct(_tokens(text), _SENTENCE_BREAKS)
    words = _words(tokens)
    if not words:
        return NO_MATCH
    keywords = _keywords(words, vocab)
    for match in keywords:
        if match.kind is KeywordKind.OPT_OUT:
            return match
    # A keyword standing as its own sentence names the keyword; a phrase only its language.
    if (sentence := _opt_out_sentence(tokens, words, vocab)) is not None:
        return sentence
    phrase = vocab.phrase(" ".join(words))
    if phrase is not None and phrase.kind is KeywordKind.OPT_OUT:
        return phrase
    return (keywords[0] if keywords else phrase) or NO_MATCH


def _keywords(words: list[str], vocab: Vocabulary) -> list[KeywordMatch]:
    """The whole text looked up as a keyword: as it is, without courtesy words, without filler."""
    if not vocab._lexicon.issuperset(words):
        # Each lookup drops only courtesy or filler words, so a word that is neither and in no
        # keyword rules them all out: the usual text, which then costs no joining at all.
        return []
    lookups = (
        vocab.exact.get(_squash(words)),
        vocab.exact.get(_trim(words, vocab.courtesy)),
        vocab.strong.get(_core(words, vocab.filler)),
    )
    return [match for match in lookups if match is not None]


def _opt_out_sentence(
    tokens: list[str], words: list[str], vocab: Vocabulary
) -> KeywordMatch | None:
    """An opt-out keyword standing as a sentence of its own: "Stop. Who is this?"."""
    if len(words) == len(tokens) or vocab.opt_out_words.isdisjoint(words):
        return None  # one sentence (already looked up whole), or no opt-out word at all
    for is_break, sentence in itertools.groupby(tokens, _SENTENCE_BREAKS.__contains__):
        match = None if is_break else vocab.strong.get(_core(sentence, vocab.filler))
        if match is not None and match.kind is KeywordKind.OPT_OUT:
            return match
    return None


# --- loading keywords files ----------------------------------------------------------------------


class _Entry(NamedTuple):
    """A string from a keywords file and where it came from."""

    text: str
    where: str  # "path:line"


@dataclass
class _Spec:
    """Keywords files read but not yet compiled: lists by (language, list name)."""

    lists: dict[tuple[str, str], list[_Entry]] = field(default_factory=dict)
    replaced: set[tuple[str, str]] = field(default_factory=set)  # (language, kind)

    @property
    def languages(self) -> list[str]:
        return list(dict.fromkeys(language for language, _ in self.lists))

    def get(self, language: str, name: str) -> list[_Entry]:
        return self.lists.get((language, name), [])

    def copy(self) -> _Spec:
        """Lists of our own, so that `update` leaves this spec as it was."""
        lists = {key: list(entries) for key, entries in self.lists.items()}
        return _Spec(lists, set(self.replaced))

    def update(self, other: _Spec) -> None:
        """Extend these lists with another file's; a `replace: true` section drops ours first."""
        for language, kind in other.replaced:
            for name in _KEYWORD_LISTS:
                self.lists.pop((language, f"{kind}.{name}"), None)
        for key, entries in other.lists.items():
            self.lists.setdefault(key, []).extend(entries)


class _Reader:
    """Walks a located YAML document so every error can name the file and line."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, line: int, problem: str) -> NoReturn:
        raise KeywordFileError(f"{self.where(line)}: {problem}")

    def where(self, line: int) -> str:
        return f"{self.source}:{line}"

    def mapping(
        self, value: object, line: int, what: str, allowed: tuple[str, ...] = ()
    ) -> Iterator[tuple[str, object, int]]:
        """The (key, value, line) of a mapping's entries; keys must be allowed, if given.

        The reader refuses a key given twice, naming its line.
        """
        if not isinstance(value, LocatedDict):
            self.fail(_line_of(value, line), f"{what} must be a mapping")
        for key, item in value.items():
            key_line = value.line_of(key)
            name = self.text(key, key_line, f"a key in {what}")
            if allowed and name not in allowed:
                self.fail(
                    key_line,
                    f"unknown key {name!r} in {what}; expected one of {', '.join(allowed)}",
                )
            yield name, item, key_line

    def text(self, value: object, line: int, what: str) -> str:
        # The reader keeps scalars as written, so unquoted YES, NO, Y and ON stay words.
        if not isinstance(value, str) or not value.strip():
            self.fail(_line_of(value, line), f"{what} must be a non-empty string")
        return value.strip()

    def entries(self, value: object, line: int, what: str) -> list[_Entry]:
        if not isinstance(value, LocatedList):
            self.fail(_line_of(value, line), f"{what} must be a list of strings")
        return [
            _Entry(self.text(item, item_line, f"each item of {what}"), self.where(item_line))
            for item, item_line in zip(value, value.item_lines, strict=True)
        ]

    def spec(self, root: object) -> _Spec:
        spec = _Spec()
        if root is None:  # an empty file adds nothing
            return spec
        top = self.mapping(root, 1, "the top level (language codes)")
        for language, sections, line in top:
            allowed = (*_LANGUAGE_LISTS, *_PRECEDENCE)
            for section, node, section_line in self.mapping(sections, line, language, allowed):
                if section in _LANGUAGE_LISTS:
                    what = f"{language}.{section}"
                    spec.lists[language, section] = self.entries(node, section_line, what)
                else:
                    self._kind(spec, language, section, node, section_line)
        return spec

    def _kind(self, spec: _Spec, language: str, kind: str, node: object, line: int) -> None:
        allowed = (*_KEYWORD_LISTS, "replace")
        for name, value, value_line in self.mapping(node, line, f"{language}.{kind}", allowed):
            what = f"{language}.{kind}.{name}"
            if name in _KEYWORD_LISTS:
                spec.lists[language, f"{kind}.{name}"] = self.entries(value, value_line, what)
                continue
            flag = self.text(value, value_line, what).lower()
            if flag not in ("true", "false"):
                self.fail(value_line, f"{what} must be true or false")
            if flag == "true":
                spec.replaced.add((language, kind))


def _line_of(value: object, line: int) -> int:
    """A located mapping or list knows its line; a scalar goes by its key's."""
    return value.line if isinstance(value, LocatedDict | LocatedList) else line


def _read(path: Path) -> _Spec:
    """Read one keywords file."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise KeywordFileError(f"{path}: cannot read keywords file: {exc}") from exc
    try:
        root = load_yaml(text, scalars_as_text=True)
    except YamlError as error:
        raise KeywordFileError(f"{path}:{error.line}: {error.message}") from error
    return _Reader(str(path)).spec(root)


def load_vocabulary(
    path: str | Path | None = None, *, extra_join: Iterable[str] = ()
) -> Vocabulary:
    """The shipped lists, extended by the keywords file at `path` and brand JOIN keywords."""
    if path is None:
        return _shipped_vocabulary(tuple(extra_join))
    spec = _shipped_spec().copy()
    spec.update(_read(Path(path)))
    return _compile(spec, tuple(extra_join))


@functools.cache
def _shipped_vocabulary(extra_join: tuple[str, ...]) -> Vocabulary:
    """The shipped lists with these brand keywords, compiled once a process (a Vocabulary is
    frozen): every app made in one process, as the tests make hundreds, compiles the same."""
    return _compile(_shipped_spec(), extra_join)


@functools.cache
def _shipped_spec() -> _Spec:
    """The shipped keywords file, read once: it changes only with Parley itself, and reading it
    was 40 ms of every app's start (the YAML reader is pure Python, for the line numbers)."""
    return _read(_DEFAULT_FILE)


@functools.cache
def default_vocabulary() -> Vocabulary:
    """The shipped vocabulary, loaded once."""
    return load_vocabulary()


# --- compiling -----------------------------------------------------------------------------------


def _key(entry: _Entry) -> str:
    """The normalised form a keyword is looked up by."""
    key = _squash(normalise(entry.text).split())
    if not key:
        raise KeywordFileError(f"{entry.where}: {entry.text!r} has no letters or digits")
    return key


def _compile(spec: _Spec, extra_join: tuple[str, ...]) -> Vocabulary:
    filler_entries = {
        word: entry
        for language in spec.languages
        for entry in spec.get(language, "filler")
        for word in _key(entry).split()
    }
    filler = frozenset(filler_entries)
    exact: dict[str, KeywordMatch] = {}
    strong: dict[str, KeywordMatch] = {}
    for kind, language, name, entry in _keyword_entries(spec):
        match = KeywordMatch(kind, entry.text.upper(), language)
        key = _key(entry)
        if exact.setdefault(key, match) is not match or name == "exact":
            continue
        if key in filler_entries:
            # "yes" as filler would leave nothing of "yes please" to match.
            clash = filler_entries[key].where
            raise KeywordFileError(f"{entry.where}: {entry.text!r} is also filler ({clash})")
        if not (core := _core(key.split(), filler)):
            raise KeywordFileError(f"{entry.where}: {entry.text!r} is all filler words")
        strong.setdefault(core, match)
    strong_words = {word for key in strong for word in key.split()}
    for brand in extra_join:
        key = normalise(brand)
        if not key:
            raise ValueError(f"brand keyword {brand!r} has no letters or digits")
        exact.setdefault(key, KeywordMatch(KeywordKind.JOIN, brand.strip().upper(), None))
        # The brand's name around a keyword is filler: "STOP ACME" opts out of Acme.
        filler |= set(key.split()) - strong_words
    opt_out_words = frozenset(
        word
        for key, match in strong.items()
        if match.kind is KeywordKind.OPT_OUT
        for word in key.split()
    )
    courtesy = frozenset(
        word
        for language in spec.languages
        for entry in spec.get(language, "courtesy")
        for word in _key(entry).split()
    )
    keyword_words = {word for key in exact for word in key.split()}
    spelling = Spelling.of(
        known=keyword_words | filler | courtesy | set(_pattern_words(spec)),
        targets=keyword_words | filler | courtesy,
        typos=_typo_words(spec, exact),
    )
    return Vocabulary(
        exact, strong, filler, tuple(_phrase_rules(spec)), opt_out_words, courtesy, spelling
    )


def _typo_words(spec: _Spec, exact: Mapping[str, KeywordMatch]) -> Iterator[str]:
    """The keywords listed under `typos`: one word each, of four letters or more, and listed."""
    for kind in _PRECEDENCE:
        for language in spec.languages:
            for entry in spec.get(language, f"{kind}.typos"):
                key = _key(entry)
                if " " in key or len(key) < 4 or not key.isalpha():
                    raise KeywordFileError(
                        f"{entry.where}: typos entry {entry.text!r} must be one word of four "
                        "letters or more"
                    )
                if key not in exact:
                    raise KeywordFileError(
                        f"{entry.where}: typos entry {entry.text!r} is not a keyword; list it "
                        f"under {language}.{kind}.strong or .exact too"
                    )
                yield key


def _pattern_words(spec: _Spec) -> Iterator[str]:
    """The literal words of phrase patterns and negations: words the spelling pass leaves alone."""
    for (_, name), entries in spec.lists.items():
        if name.endswith(".patterns") or name == "negations":
            for entry in entries:
                yield from re.findall(r"[a-z]{2,}", re.sub(r"\\.", " ", entry.text))


def _keyword_entries(spec: _Spec) -> Iterator[tuple[KeywordKind, str, str, _Entry]]:
    """Every keyword with its kind, language and list, in order of precedence."""
    for kind in _PRECEDENCE:
        for language in spec.languages:
            for name in ("strong", "exact"):
                for entry in spec.get(language, f"{kind}.{name}"):
                    yield kind, language, name, entry


def _phrase_rules(spec: _Spec) -> Iterator[PhraseRule]:
    for kind in _PRECEDENCE:
        for language in spec.languages:
            patterns = spec.get(language, f"{kind}.patterns")
            if patterns:
                negations = spec.get(language, "negations")
                yield PhraseRule(
                    kind,
                    language,
                    # Whole words only; normalised text has single spaces between words.
                    _regex(patterns, r"(?<![^ ])(?:{})(?![^ ])"),
                    _regex(negations, r"\b(?:{})$") if negations else None,
                )


def _regex(entries: list[_Entry], template: str) -> re.Pattern[str]:
    """One regex for a list of patterns; each is checked alone first so errors name its line."""
    for entry in entries:
        literal = re.sub(r"\\.", "", entry.text)  # escapes such as \b are not words
        if _fold(literal) != literal:
            raise KeywordFileError(
                f"{entry.where}: pattern {entry.text!r} must be written in normalised form "
                "(lower case, no accents or apostrophes), as messages are matched that way"
            )
        try:
            re.compile(entry.text)
        except re.error as exc:
            raise KeywordFileError(f"{entry.where}: bad pattern {entry.text!r}: {exc}") from exc
    alternatives = "|".join(f"(?:{entry.text})" for entry in entries)
    try:
        return re.compile(template.format(alternatives))
    except re.error as exc:  # e.g. the same group name in two patterns
        raise KeywordFileError(f"{entries[0].where}: patterns cannot be combined: {exc}") from exc

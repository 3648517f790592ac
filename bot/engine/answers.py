"""Check a consumer's SMS answer to a survey question and turn it into the value to store.

Pure: the text, the question's `AnswerSpec` and today's date in; `Valid(value)` or
`Invalid(reason)` out. People answer in everyday SMS language, so each kind accepts the usual
ways of saying a thing ("#2", "yep 👍", "7,5", "⭐⭐⭐⭐", "my email is ann@x.com", "tomorrow") and
rejects anything it would have to guess at ("between 5 and 6", "friday or saturday").

Choices: the option's own text wins over a position, so options written as numbers ("0" … "10")
mean what they say. Numbers: a comma before exactly three digits groups thousands ("1,000");
any other comma is a decimal point ("7,5").

Dates: numeric dates are read month first, US style ("12/1" is December 1st), unless the first
number cannot be a month ("25/12" is December 25th). A date without a year is the one nearest to
today ("Jan 3" said on December 20th is next January). Weekday names mean the next such day after
today, today excluded, with or without "next"/"this". Two-digit years are 20xx.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from enum import StrEnum

from bot.domain.keywords import normalise

__all__ = [
    "AnswerKind",
    "AnswerSpec",
    "Invalid",
    "Valid",
    "describe",
    "show_answer",
    "validate_answer",
]


class AnswerKind(StrEnum):
    """What a question expects back."""

    CHOICE = "choice"
    YES_NO = "yes_no"
    NUMBER = "number"
    RATING = "rating"
    TEXT = "text"
    EMAIL = "email"
    DATE = "date"


@dataclass(frozen=True)
class AnswerSpec:
    """What counts as a valid answer to one question."""

    kind: AnswerKind
    options: tuple[str, ...] = ()  # CHOICE
    minimum: float | None = None  # NUMBER (inclusive); RATING default 1
    maximum: float | None = None  # NUMBER (inclusive); RATING default 5
    max_length: int = 500  # TEXT, in characters
    min_length: int = 1  # TEXT
    integer: bool = False  # NUMBER: only whole numbers (RATING always)


@dataclass(frozen=True)
class Valid:
    """The answer was understood; `value` is what to store."""

    value: object


@dataclass(frozen=True)
class Invalid:
    """The answer was not understood; `reason` is short, for logs and tests."""

    reason: str


Outcome = Valid | Invalid

# "I'd say 8" is an answer; a paragraph that happens to hold one number or option is not.
_SHORT_TEXT_WORDS = 10
RATING_MINIMUM = 1
RATING_MAXIMUM = 5


def validate_answer(text: str, spec: AnswerSpec, *, today: date) -> Valid | Invalid:
    """Parse one SMS answer against the question's spec."""
    return _VALIDATORS[spec.kind](text, spec, today)


def describe(spec: AnswerSpec) -> str:
    """What the question expects, for docs and retry prompts ("Please reply with …")."""
    match spec.kind:
        case AnswerKind.CHOICE:
            count = len(spec.options)
            numbers = "1" if count == 1 else f"1-{count}"
            return f"one of: {', '.join(spec.options)} (or {numbers})"
        case AnswerKind.YES_NO:
            return "yes or no"
        case AnswerKind.NUMBER:
            return _describe_number(spec)
        case AnswerKind.RATING:
            low, high = _rating_range(spec)
            return f"{_show(low)}-{_show(high)}"
        case AnswerKind.TEXT:
            if spec.min_length > 1:
                return f"a reply of {spec.min_length} to {spec.max_length} characters"
            return f"a reply of up to {spec.max_length} characters"
        case AnswerKind.EMAIL:
            return "an email address, e.g. name@example.com"
        case AnswerKind.DATE:
            return "a date, e.g. 12/1, Dec 1 or 2026-12-01"
    raise ValueError(f"unknown answer kind {spec.kind!r}")


def _describe_number(spec: AnswerSpec) -> str:
    noun = "a whole number" if spec.integer else "a number"
    low, high = spec.minimum, spec.maximum
    if low is not None and high is not None:
        return f"{noun} from {_show(low)} to {_show(high)}"
    if low is not None:
        return f"{noun} of {_show(low)} or more"
    if high is not None:
        return f"{noun} of {_show(high)} or less"
    return noun


def show_answer(value: object) -> str:
    """A stored answer as a person reads it: Yes/No, 4.5 (not 4.5000), 1 Dec 2026, text as is."""
    if value is None:
        return ""
    if isinstance(value, bool):  # before numbers: True is also the number 1
        return "Yes" if value else "No"
    if isinstance(value, int | float):
        return _show(value)
    if isinstance(value, list):
        return ", ".join(show_answer(item) for item in value)
    if isinstance(value, dict):
        return ", ".join(f"{key}: {show_answer(item)}" for key, item in value.items())
    text = str(value)
    if _STORED_DATE.fullmatch(text):  # a date answer is stored as 2026-12-01
        try:
            day = date.fromisoformat(text)
        except ValueError:
            return text
        return f"{day.day} {_MONTH_ABBREVIATIONS[day.month - 1]} {day.year}"
    return text


_STORED_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_MONTH_ABBREVIATIONS = (
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
)  # fmt: skip


def _show(number: float) -> str:
    """A bound as people write it: 10, not 10.0."""
    return str(int(number)) if float(number).is_integer() else str(number)


# --- shared text handling ------------------------------------------------------------------------

# Keycap marks ("2️⃣"), emoji variation selectors and zero-width characters carry no meaning here.
_DECORATION = dict.fromkeys(map(ord, "\ufe0e\ufe0f\u20e3\u200b\u200c\u200d\u2060\ufeff"))
_MINUS = {ord("\u2212"): "-"}


def _clean(text: str) -> str:
    """NFKC-folded (full-width digits, "＠" and "／" become ASCII), undecorated, stripped."""
    return unicodedata.normalize("NFKC", text).translate(_DECORATION).translate(_MINUS).strip()


def _is_short(text: str) -> bool:
    return len(text.split()) <= _SHORT_TEXT_WORDS


# --- choice --------------------------------------------------------------------------------------

# "2", "#2", "2)", "(b)", "B.", "option 2", "2 - Medium": a position, perhaps echoing its option.
_POSITION = re.compile(
    r"(?:#|(?:number|option|choice)\s*)?\(?\s*(?P<mark>\d{1,3}(?!\d)|[a-z](?![a-z]))\s*\)?"
    r"\s*[.:\-\u2013]?\s*(?P<echo>.*)",
    re.IGNORECASE | re.ASCII | re.DOTALL,  # ASCII: no Unicode look-alikes of a letter
)
_LETTERS = "abcdefghijklmnopqrstuvwxyz"
_NEGATORS = frozenset({"not", "no", "dont", "never", "neither", "nor", "without"})


def _choice(text: str, spec: AnswerSpec, today: date) -> Outcome:
    options = spec.options
    keys = [normalise(option) for option in options]
    said = normalise(text)
    raw = text.strip().casefold()
    # The option's own text wins over its position: options may be numbers ("1", "2", "5+").
    for option, key in zip(options, keys, strict=True):
        if (key and key == said) or option.strip().casefold() == raw:
            return Valid(option)
    by_position = _choice_by_position(text, options, keys)
    if by_position is not None:
        return by_position
    matches = _choice_by_prefix(said, options, keys) or _choice_by_mention(said, options, keys)
    if len(matches) == 1:
        return Valid(matches[0])
    if matches:
        return Invalid(f"ambiguous: {', '.join(matches)}")
    return Invalid("not one of the options")


def _choice_by_position(text: str, options: tuple[str, ...], keys: list[str]) -> Outcome | None:
    """The option picked by number or letter, or None when the text is not a position."""
    found = _POSITION.fullmatch(_clean(text))
    if found is None:
        return None
    mark = found["mark"].lower()
    if mark.isdigit():
        position = int(mark)
    elif len(options) <= len(_LETTERS):
        position = _LETTERS.index(mark) + 1
    else:
        return None
    echo = normalise(found["echo"])
    if not 1 <= position <= len(options):
        return None if echo else Invalid(f"no option {mark}")
    option = options[position - 1]
    if echo and echo != keys[position - 1]:
        if echo in keys:  # "1 Large": the number and the text disagree
            return Invalid(f"ambiguous: {option}, {options[keys.index(echo)]}")
        return None  # "a large one", "1 more thing": not a position after all
    return Valid(option)


def _choice_by_prefix(said: str, options: tuple[str, ...], keys: list[str]) -> list[str]:
    """Options that start with what was said, when it has at least three letters ("med")."""
    if len(said.replace(" ", "")) < 3:
        return []
    return [option for option, key in zip(options, keys, strict=True) if key.startswith(said)]


def _choice_by_mention(said: str, options: tuple[str, ...], keys: list[str]) -> list[str]:
    """Options named as whole words in a short text ("Large please"), unless negated."""
    if not said or not _is_short(said):
        return []
    named = {key: option for option, key in zip(options, keys, strict=True) if _names(said, key)}
    # "extra large" also names "large"; the longer name is the one meant.
    meant = {
        key: option
        for key, option in named.items()
        if not any(_names(k, key) for k in named if k != key)
    }
    if len(meant) == 1:
        (key,) = meant
        rest = f" {said} ".replace(f" {key} ", " ", 1).split()
        if _NEGATORS.intersection(rest):
            return []  # "not large": too risky to guess
    return list(meant.values())


def _names(said: str, key: str) -> bool:
    """True when normalised text holds the option's words as a whole-word run."""
    return bool(key) and f" {key} " in f" {said} "


# --- yes / no ------------------------------------------------------------------------------------

_YES = (
    "yes", "y", "yeah", "yea", "ya", "yah", "yep", "yup", "yas", "sure", "ok", "okay", "k",
    "of course", "absolutely", "definitely", "certainly", "sure thing", "for sure", "why not",
    "no problem", "no worries", "sounds good", "go ahead", "aye", "si", "oui", "ja", "claro",
)  # fmt: skip
_NO = (
    "no", "n", "nope", "nah", "naw", "no thanks", "no thank you", "not really", "not at all",
    "not now", "no way", "never", "absolutely not", "of course not", "definitely not",
    "certainly not", "hell no", "non", "nee", "nein",
)  # fmt: skip
_YES_NO_TERMS: dict[str, bool] = {**dict.fromkeys(_YES, True), **dict.fromkeys(_NO, False)}
_LONGEST_TERM = max(len(term.split()) for term in _YES_NO_TERMS)
_YES_NO_EMOJI: dict[str, bool] = {
    **dict.fromkeys("👍👌✅✔☑", True),
    **dict.fromkeys("👎❌❎✖🚫", False),
}
# Words people put before their answer: "hmm, yes", "oh no".
_INTERJECTIONS = frozenset({"um", "uh", "erm", "hm", "hmm", "oh", "ah", "well", "lol", "haha"})
_ACKNOWLEDGEMENTS = frozenset({"ok", "okay", "k"})
_YES_NO_NEGATORS = frozenset({"not", "dont", "didnt", "isnt", "cant", "wont", "never"})
_REPEATS = re.compile(r"(.)\1+")


def _yes_no(text: str, spec: AnswerSpec, today: date) -> Outcome:
    emoji = {_YES_NO_EMOJI[char] for char in text if char in _YES_NO_EMOJI}
    words = normalise(text).split()
    start = next((i for i, word in enumerate(words) if word not in _INTERJECTIONS), len(words))
    votes, acknowledgements = set(emoji), set[bool]()
    leads = False
    for position, term in _yes_no_terms(words):
        # "not sure" is neither; "not really" and "no way" are terms of their own.
        if position > 0 and words[position - 1] in _YES_NO_NEGATORS:
            continue
        (acknowledgements if term in _ACKNOWLEDGEMENTS else votes).add(_YES_NO_TERMS[term])
        leads = leads or position == start
    # "ok" on its own is a yes, but "ok, no thanks" acknowledges and then answers.
    votes = votes or acknowledgements
    if len(votes) > 1:
        return Invalid("both yes and no")
    # Words must open with the answer ("yes, who is this?"), unless an emoji gave it.
    if not votes or (start < len(words) and not leads and not emoji):
        return Invalid("not yes or no")
    return Valid(votes.pop())


def _yes_no_terms(words: list[str]) -> Iterator[tuple[int, str]]:
    """(position, term) of each yes/no term, longest first, stretched words squeezed."""
    position = 0
    while position < len(words):
        for length in range(_LONGEST_TERM, 0, -1):
            phrase = " ".join(words[position : position + length])
            # "yesss", "nooo", "okk": try the word as written first, so "nee" stays "nee".
            term = next(
                (t for t in (phrase, _REPEATS.sub(r"\1", phrase)) if t in _YES_NO_TERMS), None
            )
            if term is not None:
                yield position, term
                position += length
                break
        else:
            position += 1


# --- numbers and ratings -------------------------------------------------------------------------

# A thousands separator needs three digits after the comma ("1,000"); otherwise a comma is a
# decimal point ("7,5"). Numbers glued to letters ("1st", "v2", "20k") are not answers.
_NUMBER = re.compile(
    r"(?<![\w.,])(?P<sign>[-+]?)(?P<whole>\d{1,3}(?:,\d{3})+(?![\d,])|\d+)(?:[.,](?P<part>\d+))?"
    r"(?!\w|[.,]\d)"
)
# "10/10", "8 out of 10", "4 of 5": keep the score, drop what it is out of.
_OUT_OF = re.compile(r"(\d)\s*(?:/|\bout of\b|\bof\b)\s*\d+(?:[.,]\d+)?(?![\w.,])")
_NUMBER_WORDS = {
    word: str(value)
    for value, word in enumerate(
        ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten")
    )
}
_NUMBER_WORD = re.compile(rf"\b(?:{'|'.join(_NUMBER_WORDS)})\b")
_DIGIT = re.compile(r"\d")
_FILLED_STARS = frozenset("⭐★*🌟")
_EMPTY_STARS = frozenset("☆✩")


def _number(text: str, spec: AnswerSpec, today: date) -> Outcome:
    number = _read_number(text)
    if isinstance(number, Invalid):
        return number
    return _in_range(number, spec.minimum, spec.maximum, whole=spec.integer)


def _rating(text: str, spec: AnswerSpec, today: date) -> Outcome:
    stars = _count_stars(text)
    number = _read_number(text) if stars is None else stars
    if isinstance(number, Invalid):
        return number
    low, high = _rating_range(spec)
    return _in_range(number, low, high, whole=True)


def _rating_range(spec: AnswerSpec) -> tuple[float, float]:
    low = RATING_MINIMUM if spec.minimum is None else spec.minimum
    high = RATING_MAXIMUM if spec.maximum is None else spec.maximum
    return low, high


def _count_stars(text: str) -> Decimal | None:
    """The filled stars of "⭐⭐⭐⭐" or "★★★☆☆"; None when stars are not how it was said."""
    if _DIGIT.search(text) or not any(c in _FILLED_STARS or c in _EMPTY_STARS for c in text):
        return None
    return Decimal(sum(char in _FILLED_STARS for char in text))


def _read_number(text: str) -> Decimal | Invalid:
    """The single number in a short text: digits, or a word from zero to ten."""
    folded = _clean(text).casefold()
    if not _DIGIT.search(folded):
        # Only without digits: "that one, 8" means 8, not one and 8.
        folded = _NUMBER_WORD.sub(lambda word: _NUMBER_WORDS[word[0]], folded)
    folded = _OUT_OF.sub(r"\1", folded)
    found = list(_NUMBER.finditer(folded))
    if not found:
        return Invalid("not a number")
    if len(found) > 1:
        return Invalid("more than one number")
    if not _is_short(folded):
        return Invalid("too many words around the number")
    number = found[0]
    whole = number["whole"].replace(",", "")
    return Decimal(f"{number['sign']}{whole}.{number['part'] or 0}")


def _in_range(number: Decimal, low: float | None, high: float | None, *, whole: bool) -> Outcome:
    is_whole = number == number.to_integral_value()
    if whole and not is_whole:
        return Invalid("not a whole number")
    # Through str, so a bound of 0.1 means the 0.1 its author wrote, not the nearest float.
    if low is not None and number < Decimal(str(low)):
        return Invalid(f"below {_show(low)}")
    if high is not None and number > Decimal(str(high)):
        return Invalid(f"above {_show(high)}")
    return Valid(int(number) if is_whole else float(number))


# --- text and email ------------------------------------------------------------------------------


def _text(text: str, spec: AnswerSpec, today: date) -> Outcome:
    value = text.strip()
    # Composed form, so "é" typed as e + accent counts as the one character it looks like.
    length = len(unicodedata.normalize("NFC", value))
    if length < spec.min_length:
        return Invalid("empty" if not value else f"shorter than {spec.min_length} characters")
    if length > spec.max_length:
        return Invalid(f"longer than {spec.max_length} characters")
    return Valid(value)


_LOCAL_CHAR = r"[\w!#$%&'*+/=?^`{|}~-]"
_EMAIL = re.compile(
    rf"(?<![\w.!#$%&'*+/=?^`{{|}}~@-])(?P<local>{_LOCAL_CHAR}+(?:\.{_LOCAL_CHAR}+)*)"
    r"@(?P<domain>(?:[^\W_]+(?:-+[^\W_]+)*\.)+[^\W\d_]{2,63})(?![\w@-]|\.[^\W_])"
)
_MAX_LOCAL_PART = 64
_MAX_ADDRESS = 254


def _email(text: str, spec: AnswerSpec, today: date) -> Outcome:
    found = {
        f"{match['local']}@{match['domain'].lower()}": match
        for match in _EMAIL.finditer(_clean(text))
    }
    if not found:
        return Invalid("not an email address")
    if len(found) > 1:
        return Invalid("more than one email address")
    address, match = found.popitem()
    if len(match["local"]) > _MAX_LOCAL_PART or len(address) > _MAX_ADDRESS:
        return Invalid("too long for an email address")
    return Valid(address)


# --- dates ---------------------------------------------------------------------------------------

_MONTHS = {
    name: number
    for number, names in enumerate(
        (
            ("jan", "january"), ("feb", "february"), ("mar", "march"), ("apr", "april"),
            ("may",), ("jun", "june"), ("jul", "july"), ("aug", "august"),
            ("sep", "sept", "september"), ("oct", "october"), ("nov", "november"),
            ("dec", "december"),
        ),
        start=1,
    )
    for name in names
}  # fmt: skip
_WEEKDAYS = {
    name: number
    for number, names in enumerate(
        (
            ("mon", "monday"), ("tue", "tues", "tuesday"), ("wed", "weds", "wednesday"),
            ("thu", "thur", "thurs", "thursday"), ("fri", "friday"), ("sat", "saturday"),
            ("sun", "sunday"),
        )
    )
    for name in names
}  # fmt: skip
_RELATIVE_DAYS = {
    "day after tomorrow": 2, "tomorrow": 1, "tmrw": 1, "tmr": 1, "tomorow": 1, "tommorow": 1,
    "tommorrow": 1, "today": 0, "tonight": 0, "yesterday": -1,
}  # fmt: skip
_WEEKDAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def _alternatives(names: dict[str, int]) -> str:
    return "|".join(sorted(names, key=len, reverse=True))  # longest first: "sept" before "sep"


_MONTH = rf"(?P<month>{_alternatives(_MONTHS)})(?![a-z])\.?"
_DAY = r"(?P<day>\d{1,2})(?:st|nd|rd|th)?(?!\w)"
_YEAR = r"(?P<year>\d{4}|['\u2019]?\d{2})(?![\w:])"  # not the "20" of "20:00"
_ISO_DATE = re.compile(
    r"(?<![\d/.-])(?P<year>\d{4})(?P<sep>[-/.])(?P<month>\d{1,2})(?P=sep)(?P<day>\d{1,2})"
    r"(?![\d/-])"
)
_NUMERIC_DATE = re.compile(
    r"(?<![\d/.-])(?P<first>\d{1,2})(?P<sep>[/-])(?P<second>\d{1,2})"
    r"(?:(?P=sep)(?P<year>\d{4}|\d{2}))?(?![\d/-])"
)
_DAY_MONTH = re.compile(rf"(?<![\w/.-]){_DAY}\s*(?:of\s+)?{_MONTH}(?:,?\s*{_YEAR})?")
_MONTH_DAY = re.compile(rf"(?<![a-z]){_MONTH}\s*(?:the\s+)?{_DAY}(?:,?\s*{_YEAR})?")
_RELATIVE = re.compile(rf"\b(?P<relative>{_alternatives(_RELATIVE_DAYS)})\b")
_WEEKDAY = re.compile(rf"\b(?P<weekday>{_alternatives(_WEEKDAYS)})\b")


@dataclass(frozen=True)
class _Mention:
    """A date (or a weekday) found in the text, and where."""

    start: int
    end: int
    day: date | Invalid | None  # None for a bare weekday
    weekday: int | None = None

    def inside(self, other: _Mention) -> bool:
        """True when `other` covers this mention and more."""
        covers = other.start <= self.start and self.end <= other.end
        return covers and (other.start, other.end) != (self.start, self.end)


def _date(text: str, spec: AnswerSpec, today: date) -> Outcome:
    folded = _clean(text).casefold()
    found = list(_date_mentions(folded, today))
    # "tomorrow" inside "day after tomorrow", "dec 1" inside "dec 1 2026": the longer one counts.
    mentions = [m for m in found if not any(m.inside(other) for other in found)]
    dated = [m.day for m in mentions if m.day is not None]
    weekdays = {m.weekday for m in mentions if m.weekday is not None}
    problem = next((day for day in dated if isinstance(day, Invalid)), None)
    if problem is not None:
        return problem
    days = {day for day in dated if isinstance(day, date)}
    if not days:
        if len(weekdays) > 1:
            return Invalid("more than one date")
        if not weekdays:
            return Invalid("not a date")
        # The next such day after today: "friday" said on a Friday is a week away.
        days = {today + timedelta(days=(weekdays.pop() - today.weekday() - 1) % 7 + 1)}
    if len(days) > 1:
        return Invalid("more than one date")
    day = days.pop()
    if weekdays - {day.weekday()}:  # "Friday Dec 4" must fall on a Friday
        return Invalid(f"{day.isoformat()} is a {_WEEKDAY_NAMES[day.weekday()]}")
    return Valid(day.isoformat())


def _date_mentions(folded: str, today: date) -> Iterator[_Mention]:
    for pattern, read in _DATE_READERS:
        for match in pattern.finditer(folded):
            yield _Mention(match.start(), match.end(), read(match, today))
    for match in _WEEKDAY.finditer(folded):
        yield _Mention(match.start(), match.end(), None, _WEEKDAYS[match["weekday"]])


def _read_iso(match: re.Match[str], today: date) -> date | Invalid:
    return _make_date(int(match["year"]), int(match["month"]), int(match["day"]))


def _read_numeric(match: re.Match[str], today: date) -> date | Invalid:
    month, day = int(match["first"]), int(match["second"])
    if month > 12 >= day:  # "25/12" can only be day first
        month, day = day, month
    return _dated(month, day, match["year"], today)


def _read_named(match: re.Match[str], today: date) -> date | Invalid:
    return _dated(_MONTHS[match["month"]], int(match["day"]), match["year"], today)


def _read_relative(match: re.Match[str], today: date) -> date:
    return today + timedelta(days=_RELATIVE_DAYS[match["relative"]])


_DateReader = Callable[[re.Match[str], date], date | Invalid]
_DATE_READERS: tuple[tuple[re.Pattern[str], _DateReader], ...] = (
    (_ISO_DATE, _read_iso),
    (_NUMERIC_DATE, _read_numeric),
    (_DAY_MONTH, _read_named),
    (_MONTH_DAY, _read_named),
    (_RELATIVE, _read_relative),
)


def _dated(month: int, day: int, year: str | None, today: date) -> date | Invalid:
    """The date of a day and month, in the given year (two digits are 20xx) or nearest today."""
    if year is not None:
        digits = year.lstrip("'\u2019")
        return _make_date(int(digits) + (2000 if len(digits) == 2 else 0), month, day)
    candidates = [
        candidate
        for offset in (-1, 0, 1)
        if isinstance(candidate := _make_date(today.year + offset, month, day), date)
    ]
    if not candidates:
        return Invalid("no such date")
    # Nearest first; on a tie, the future.
    return min(candidates, key=lambda candidate: (abs(candidate - today), candidate < today))


def _make_date(year: int, month: int, day: int) -> date | Invalid:
    try:
        return date(year, month, day)
    except ValueError:
        return Invalid("no such date")


_VALIDATORS: dict[AnswerKind, Callable[[str, AnswerSpec, date], Outcome]] = {
    AnswerKind.CHOICE: _choice,
    AnswerKind.YES_NO: _yes_no,
    AnswerKind.NUMBER: _number,
    AnswerKind.RATING: _rating,
    AnswerKind.TEXT: _text,
    AnswerKind.EMAIL: _email,
    AnswerKind.DATE: _date,
}

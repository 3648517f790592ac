"""Survey answers: tables of real-world SMS replies and what each question kind makes of them."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date

import pytest

from bot.engine.answers import (
    AnswerKind,
    AnswerSpec,
    Invalid,
    Valid,
    describe,
    show_answer,
    validate_answer,
)

TODAY = date(2026, 11, 25)  # a Wednesday


def cases(table: Mapping[str, tuple[object, ...]]) -> list[object]:
    """Parametrize rows keyed by a readable id."""
    return [pytest.param(*row, id=case_id) for case_id, row in table.items()]


def check(text: str, spec: AnswerSpec, expected: object) -> None:
    """A Valid/Invalid expected as such; any other expected value is the Valid value to store."""
    want = expected if isinstance(expected, Valid | Invalid) else Valid(expected)
    assert validate_answer(text, spec, today=TODAY) == want


SIZES = AnswerSpec(AnswerKind.CHOICE, options=("Small", "Medium", "Large", "Extra Large"))

CHOICE: dict[str, tuple[str, object]] = {
    # the option's text, however it is typed
    "text": ("Medium", "Medium"),
    "lower-case": ("medium", "Medium"),
    "shouting": ("MEDIUM!!", "Medium"),
    "accented": ("Médium", "Medium"),
    "full-width": ("Ｌａｒｇｅ", "Large"),
    "padded": ("  large  ", "Large"),
    "two-words": ("extra large", "Extra Large"),
    "hyphenated": ("EXTRA-LARGE", "Extra Large"),
    "with-emoji": ("Small 😊", "Small"),
    # a unique prefix of three letters or more
    "prefix-med": ("med", "Medium"),
    "prefix-lar": ("lar", "Large"),
    "prefix-extra": ("Extra", "Extra Large"),
    "prefix-two-letters": ("sm", Invalid("not one of the options")),
    # its number
    "number": ("2", "Medium"),
    "hash-number": ("#2", "Medium"),
    "number-paren": ("2)", "Medium"),
    "number-in-parens": ("(2)", "Medium"),
    "number-dot": ("3.", "Large"),
    "keycap": ("2️⃣", "Medium"),
    "option-word": ("option 3", "Large"),
    "number-word": ("Number 4", "Extra Large"),
    "number-echo": ("2 - Medium", "Medium"),
    "number-paren-echo": ("3) Large", "Large"),
    "number-out-of-range": ("5", Invalid("no option 5")),
    "number-zero": ("0", Invalid("no option 0")),
    # its letter
    "letter": ("b", "Medium"),
    "letter-upper-paren": ("B)", "Medium"),
    "letter-in-parens": ("(c)", "Large"),
    "letter-dot": ("D.", "Extra Large"),
    "letter-out-of-range": ("e", Invalid("no option e")),
    # the option named in a short text
    "option-please": ("Large please", "Large"),
    "option-in-sentence": ("I'll take the medium one", "Medium"),
    "longer-name-wins": ("I want the extra large", "Extra Large"),
    # anything we would have to guess at
    "two-options": ("small or large", Invalid("ambiguous: Small, Large")),
    "negated": ("not large", Invalid("not one of the options")),
    "other-words": ("whatever is cheapest", Invalid("not one of the options")),
    "number-and-text-disagree": ("1 Large", Invalid("ambiguous: Small, Large")),
    "number-and-other-words": ("1 more question", Invalid("not one of the options")),
    "empty": ("", Invalid("not one of the options")),
    "emoji-only": ("🤷", Invalid("not one of the options")),
}


@pytest.mark.parametrize(("text", "expected"), cases(CHOICE))
def test_choice(text: str, expected: object) -> None:
    check(text, SIZES, expected)


STORES = tuple(f"Store {number}" for number in range(1, 28))  # more options than letters
SHIRTS = ("T-shirt (cotton)", "Hoodie")

CHOICE_EDGES: dict[str, tuple[tuple[str, ...], str, object]] = {
    "option-text-beats-its-position": (("0", "1", "2"), "2", "2"),
    "digit-led-options-go-by-position": (("1-2 times", "3+ times", "Never"), "3", "Never"),
    "ambiguous-prefix": (("Smaller", "Smallest"), "small", Invalid("ambiguous: Smaller, Smallest")),
    "emoji-option-by-text": (("👍", "👎"), "👎", "👎"),
    "emoji-option-by-number": (("👍", "👎"), "1", "👍"),
    "marketer-spelling-kept": (SHIRTS, "t shirt cotton", "T-shirt (cotton)"),
    "no-letters-past-26": (STORES, "b", Invalid("not one of the options")),
    "number-past-26": (STORES, "27", "Store 27"),
}


@pytest.mark.parametrize(("options", "text", "expected"), cases(CHOICE_EDGES))
def test_choice_edges(options: tuple[str, ...], text: str, expected: object) -> None:
    check(text, AnswerSpec(AnswerKind.CHOICE, options=options), expected)


NOT_YES_OR_NO = Invalid("not yes or no")
BOTH = Invalid("both yes and no")

YES_NO: dict[str, tuple[str, object]] = {
    "yes": ("yes", True),
    "YES": ("YES", True),
    "y": ("Y", True),
    "yes-bang": ("Yes!", True),
    "yesss": ("yesss!!", True),
    "yeah": ("yeah", True),
    "yep": ("Yep.", True),
    "yup": ("yup", True),
    "sure": ("sure", True),
    "ok": ("ok", True),
    "okay": ("Okay", True),
    "kk": ("kk", True),
    "of-course": ("Of course!", True),
    "absolutely": ("absolutely", True),
    "yes-please": ("Yes please", True),
    "yeah-sure": ("Yeah sure", True),
    "sure-no-problem": ("Sure, no problem", True),
    "sure-why-not": ("sure why not", True),
    "yes-then-question": ("Yes, who is this?", True),
    "hmm-yes": ("hmm, yes", True),
    "thumbs-up": ("👍", True),
    "thumbs-up-skin-tone": ("👍🏽", True),
    "check-mark": ("✅", True),
    "heavy-check": ("✔️", True),
    "ok-thumbs-up": ("ok 👍", True),
    "spanish-si": ("sí", True),
    "spanish-si-claro": ("Si, claro", True),
    "french-oui": ("Oui", True),
    "german-ja": ("ja", True),
    "spelled-out": ("y e s", True),
    "full-width": ("ｙｅｓ", True),
    "no": ("no", False),
    "NO-bang": ("NO!!!", False),
    "n": ("n", False),
    "nooo": ("Nooo", False),
    "nope": ("nope", False),
    "nah": ("nah", False),
    "no-thanks": ("no thanks", False),
    "no-thank-you": ("No, thank you", False),
    "not-really": ("not really", False),
    "no-way": ("no way", False),
    "never": ("never", False),
    "of-course-not": ("of course not", False),
    "absolutely-not": ("Absolutely not", False),
    "nope-not-interested": ("nope, not interested", False),
    "ok-no-thanks": ("Ok, no thanks", False),
    "lol-no": ("lol no", False),
    "thumbs-down": ("👎", False),
    "cross": ("❌", False),
    "french-non": ("non", False),
    "dutch-nee": ("nee", False),
    "german-nein": ("Nein", False),
    "maybe": ("maybe", NOT_YES_OR_NO),
    "not-sure": ("not sure", NOT_YES_OR_NO),
    "idk": ("idk", NOT_YES_OR_NO),
    "question": ("what is this about?", NOT_YES_OR_NO),
    "yes-buried": ("who is this? yes", NOT_YES_OR_NO),
    "empty": ("", NOT_YES_OR_NO),
    "shrug": ("🤷", NOT_YES_OR_NO),
    "yes-and-no": ("yes and no", BOTH),
    "yeah-nah": ("yeah nah", BOTH),
    "yes-thumbs-down": ("yes 👎", BOTH),
    "both-emoji": ("👍👎", BOTH),
}


@pytest.mark.parametrize(("text", "expected"), cases(YES_NO))
def test_yes_no(text: str, expected: object) -> None:
    check(text, AnswerSpec(AnswerKind.YES_NO), expected)


SCORE = AnswerSpec(AnswerKind.NUMBER, minimum=0, maximum=10)
NOT_A_NUMBER = Invalid("not a number")
TWO_NUMBERS = Invalid("more than one number")

NUMBER: dict[str, tuple[str, object]] = {
    "digit": ("7", 7),
    "padded": (" 7 ", 7),
    "decimal": ("7.5", 7.5),
    "comma-decimal": ("7,5", 7.5),
    "whole-decimal-is-int": ("7.0", 7),
    "bang": ("10!", 10),
    "trailing-dot": ("8.", 8),
    "plus": ("+5", 5),
    "zero": ("0", 0),
    "full-width": ("１０", 10),
    "keycap": ("8️⃣", 8),
    "word": ("seven", 7),
    "word-capital": ("Eight", 8),
    "word-in-sentence": ("I'd give it a nine", 9),
    "out-of-slash": ("10/10", 10),
    "out-of-words": ("8 out of 10", 8),
    "out-of-number-words": ("ten out of ten", 10),
    "in-short-text": ("I'd say 8", 8),
    "with-filler": ("about 8, maybe", 8),
    "pronoun-one-and-digit": ("that one, 8", 8),
    "below": ("-3", Invalid("below 0")),
    "unicode-minus": ("−2", Invalid("below 0")),
    "above": ("11", Invalid("above 10")),
    "above-decimal": ("10.5", Invalid("above 10")),
    "thousands": ("1,000", Invalid("above 10")),
    "two-numbers": ("between 5 and 6", TWO_NUMBERS),
    "range": ("5-6", TWO_NUMBERS),
    "either": ("3 or 4", TWO_NUMBERS),
    "two-number-words": ("seven or eight", TWO_NUMBERS),
    "time": ("7:30", TWO_NUMBERS),
    "letters": ("abc", NOT_A_NUMBER),
    "empty": ("", NOT_A_NUMBER),
    "ordinal": ("2nd", NOT_A_NUMBER),
    "version-like": ("1.5.3", NOT_A_NUMBER),
    "long-story": (
        "I called 3 times and nobody answered and it was honestly the worst service",
        Invalid("too many words around the number"),
    ),
}


@pytest.mark.parametrize(("text", "expected"), cases(NUMBER))
def test_number(text: str, expected: object) -> None:
    check(text, SCORE, expected)


NUMBER_SPECS: dict[str, tuple[AnswerSpec, str, object]] = {
    "integer-rejects-fraction": (
        AnswerSpec(AnswerKind.NUMBER, integer=True),
        "7.5",
        Invalid("not a whole number"),
    ),
    "integer-takes-whole": (AnswerSpec(AnswerKind.NUMBER, integer=True), "7", 7),
    "unbounded-negative": (AnswerSpec(AnswerKind.NUMBER), "-3", -3),
    "unbounded-thousands": (AnswerSpec(AnswerKind.NUMBER), "1,250", 1250),
    "unbounded-thousands-decimal": (AnswerSpec(AnswerKind.NUMBER), "1,250.5", 1250.5),
    "fractional-bound-exact": (AnswerSpec(AnswerKind.NUMBER, minimum=0.1), "0.1", 0.1),
    "fractional-bound-below": (
        AnswerSpec(AnswerKind.NUMBER, minimum=0.1),
        "0.05",
        Invalid("below 0.1"),
    ),
    "money": (AnswerSpec(AnswerKind.NUMBER), "$25", 25),
    "percent": (AnswerSpec(AnswerKind.NUMBER, maximum=100), "50%", 50),
}


@pytest.mark.parametrize(("spec", "text", "expected"), cases(NUMBER_SPECS))
def test_number_specs(spec: AnswerSpec, text: str, expected: object) -> None:
    check(text, spec, expected)


RATING: dict[str, tuple[str, object]] = {
    "digit": ("4", 4),
    "stars-emoji": ("⭐⭐⭐⭐", 4),
    "stars-asterisks": ("****", 4),
    "stars-five": ("*****", 5),
    "stars-filled-and-empty": ("★★★☆☆", 3),
    "stars-with-words": ("⭐⭐⭐⭐⭐ amazing!", 5),
    "out-of": ("4/5", 4),
    "out-of-words": ("4 out of 5 stars", 4),
    "n-stars": ("4 stars", 4),
    "digit-and-star": ("3*", 3),
    "digit-and-star-emoji": ("5 ⭐", 5),
    "word": ("five stars", 5),
    "fraction": ("4.5", Invalid("not a whole number")),
    "above": ("6", Invalid("above 5")),
    "ten-out-of-ten": ("10/10", Invalid("above 5")),
    "zero": ("0", Invalid("below 1")),
    "empty-stars": ("☆☆☆", Invalid("below 1")),
    "words": ("pretty good", Invalid("not a number")),
}


@pytest.mark.parametrize(("text", "expected"), cases(RATING))
def test_rating(text: str, expected: object) -> None:
    check(text, AnswerSpec(AnswerKind.RATING), expected)


def test_rating_takes_its_own_range() -> None:
    spec = AnswerSpec(AnswerKind.RATING, minimum=0, maximum=10)
    assert validate_answer("⭐" * 10, spec, today=TODAY) == Valid(10)
    assert validate_answer("0", spec, today=TODAY) == Valid(0)
    assert validate_answer("11", spec, today=TODAY) == Invalid("above 10")


TEXT: dict[str, tuple[AnswerSpec, str, object]] = {
    "stripped": (AnswerSpec(AnswerKind.TEXT), "  Loved it!  ", "Loved it!"),
    "emoji": (AnswerSpec(AnswerKind.TEXT), "🔥🔥", "🔥🔥"),
    "multi-line": (AnswerSpec(AnswerKind.TEXT), "Fast.\nFriendly.\n", "Fast.\nFriendly."),
    "empty": (AnswerSpec(AnswerKind.TEXT), "", Invalid("empty")),
    "blank": (AnswerSpec(AnswerKind.TEXT), "   ", Invalid("empty")),
    "at-limit": (AnswerSpec(AnswerKind.TEXT, max_length=5), "hello", "hello"),
    "over-limit": (
        AnswerSpec(AnswerKind.TEXT, max_length=5),
        "hello!",
        Invalid("longer than 5 characters"),
    ),
    # "é" typed as e + combining accent is one character to the person typing it
    "decomposed-accent": (AnswerSpec(AnswerKind.TEXT, max_length=4), "cafe\u0301", "cafe\u0301"),
    "too-short": (
        AnswerSpec(AnswerKind.TEXT, min_length=3),
        "ok",
        Invalid("shorter than 3 characters"),
    ),
    "optional-empty": (AnswerSpec(AnswerKind.TEXT, min_length=0), "  ", ""),
}


@pytest.mark.parametrize(("spec", "text", "expected"), cases(TEXT))
def test_text(spec: AnswerSpec, text: str, expected: object) -> None:
    check(text, spec, expected)


NOT_AN_EMAIL = Invalid("not an email address")

EMAIL: dict[str, tuple[str, object]] = {
    "plain": ("ann@example.com", "ann@example.com"),
    "padded": ("  ann@example.com ", "ann@example.com"),
    "domain-lower-cased": ("Ann.Lee@Example.COM", "Ann.Lee@example.com"),
    "in-a-sentence": ("my email is ann@x.com", "ann@x.com"),
    "sentence-full-stop": ("It's ann@x.com.", "ann@x.com"),
    "angle-brackets": ("<ann@x.com>", "ann@x.com"),
    "plus-tag": ("ann+sms@mail.example.co.uk", "ann+sms@mail.example.co.uk"),
    "hyphenated-domain": ("bob@my-shop.io", "bob@my-shop.io"),
    "full-width": ("ａｎｎ＠ｘ．ｃｏｍ", "ann@x.com"),
    "same-twice": ("ann@x.com ann@x.com", "ann@x.com"),
    "international-domain": ("ann@bücher.de", "ann@bücher.de"),
    "spaces": ("ann @ x.com", NOT_AN_EMAIL),
    "no-tld": ("ann@x", NOT_AN_EMAIL),
    "no-at": ("ann.x.com", NOT_AN_EMAIL),
    "double-at": ("ann@@x.com", NOT_AN_EMAIL),
    "double-dot": ("ann..lee@x.com", NOT_AN_EMAIL),
    "numeric-tld": ("ann@x.c0m", NOT_AN_EMAIL),
    "handle": ("@ann", NOT_AN_EMAIL),
    "empty": ("", NOT_AN_EMAIL),
    "two": ("ann@x.com, bob@y.com", Invalid("more than one email address")),
    "local-too-long": (f"{'a' * 65}@x.com", Invalid("too long for an email address")),
}


@pytest.mark.parametrize(("text", "expected"), cases(EMAIL))
def test_email(text: str, expected: object) -> None:
    check(text, AnswerSpec(AnswerKind.EMAIL), expected)


NOT_A_DATE = Invalid("not a date")
NO_SUCH_DATE = Invalid("no such date")
TWO_DATES = Invalid("more than one date")

# Today is Wednesday 2026-11-25.
DATE: dict[str, tuple[str, object]] = {
    "iso": ("2026-12-01", "2026-12-01"),
    "iso-slashes": ("2026/12/01", "2026-12-01"),
    "us": ("12/1/2026", "2026-12-01"),
    "us-padded": ("12/01/2026", "2026-12-01"),
    "us-dashes": ("12-1-2026", "2026-12-01"),
    "us-short-year": ("12/1/26", "2026-12-01"),
    "us-no-year": ("12/1", "2026-12-01"),
    "day-first-when-it-must-be": ("25/12", "2026-12-25"),
    "day-month": ("1 Dec", "2026-12-01"),
    "month-day": ("Dec 1", "2026-12-01"),
    "month-dot-day": ("Dec. 1", "2026-12-01"),
    "long-ordinal-year": ("December 1st 2026", "2026-12-01"),
    "long-ordinal-comma-year": ("December 1st, 2026", "2026-12-01"),
    "ordinal-of-month": ("1st of December", "2026-12-01"),
    "day-month-year": ("1 December 2026", "2026-12-01"),
    "apostrophe-year": ("May 5th '27", "2027-05-05"),
    "in-a-sentence": ("how about dec 3?", "2026-12-03"),
    "with-a-time": ("dec 1 at 20:00", "2026-12-01"),
    "full-width": ("１２／１", "2026-12-01"),
    # no year: the nearest such day
    "no-year-next-january": ("Jan 3", "2027-01-03"),
    "no-year-last-month": ("Oct 30", "2026-10-30"),
    # words
    "today": ("today", "2026-11-25"),
    "tonight": ("Tonight", "2026-11-25"),
    "tomorrow": ("tomorrow", "2026-11-26"),
    "tmrw": ("tmrw", "2026-11-26"),
    "day-after-tomorrow": ("the day after tomorrow", "2026-11-27"),
    "yesterday": ("yesterday", "2026-11-24"),
    # weekdays: the next one after today
    "friday": ("friday", "2026-11-27"),
    "friday-abbreviated": ("Fri", "2026-11-27"),
    "next-friday": ("next friday", "2026-11-27"),
    "on-sunday": ("on sunday", "2026-11-29"),
    "tues": ("Tues", "2026-12-01"),
    "today-is-wednesday": ("Wednesday", "2026-12-02"),
    "weekday-agrees": ("Friday, Nov 27", "2026-11-27"),
    "weekday-agrees-with-tomorrow": ("tomorrow (thursday)", "2026-11-26"),
    # invalid
    "feb-30": ("Feb 30", NO_SUCH_DATE),
    "feb-30-numeric": ("2/30/2026", NO_SUCH_DATE),
    "nov-31": ("31 Nov", NO_SUCH_DATE),
    "month-13": ("13/13", NO_SUCH_DATE),
    "feb-29-no-leap-year-near": ("Feb 29", NO_SUCH_DATE),
    "feb-29-not-leap": ("2/29/2027", NO_SUCH_DATE),
    "weekday-disagrees": ("Monday, Nov 27", Invalid("2026-11-27 is a Friday")),
    "two-weekdays": ("friday or saturday", TWO_DATES),
    "two-dates": ("12/1 or 12/2", TWO_DATES),
    "month-and-year-only": ("Dec 2026", NOT_A_DATE),
    "not-a-month": ("1 decent", NOT_A_DATE),
    "asap": ("asap", NOT_A_DATE),
    "empty": ("", NOT_A_DATE),
    "dotted-european": ("1.12.2026", NOT_A_DATE),
}


@pytest.mark.parametrize(("text", "expected"), cases(DATE))
def test_date(text: str, expected: object) -> None:
    check(text, AnswerSpec(AnswerKind.DATE), expected)


def test_leap_day_without_a_year_finds_the_leap_year() -> None:
    spec = AnswerSpec(AnswerKind.DATE)
    assert validate_answer("Feb 29", spec, today=date(2027, 11, 1)) == Valid("2028-02-29")


def test_weekday_said_on_that_weekday_is_a_week_away() -> None:
    spec = AnswerSpec(AnswerKind.DATE)
    assert validate_answer("friday", spec, today=date(2026, 11, 27)) == Valid("2026-12-04")


DESCRIBE: dict[str, tuple[AnswerSpec, str]] = {
    "choice": (SIZES, "one of: Small, Medium, Large, Extra Large (or 1-4)"),
    "yes-no": (AnswerSpec(AnswerKind.YES_NO), "yes or no"),
    "number-range": (SCORE, "a number from 0 to 10"),
    "number-whole": (
        AnswerSpec(AnswerKind.NUMBER, minimum=1, maximum=3, integer=True),
        "a whole number from 1 to 3",
    ),
    "number-at-least": (AnswerSpec(AnswerKind.NUMBER, minimum=0.5), "a number of 0.5 or more"),
    "number-at-most": (AnswerSpec(AnswerKind.NUMBER, maximum=100.0), "a number of 100 or less"),
    "number-any": (AnswerSpec(AnswerKind.NUMBER), "a number"),
    "rating-default": (AnswerSpec(AnswerKind.RATING), "1-5"),
    "rating-float-bounds": (AnswerSpec(AnswerKind.RATING, minimum=0.0, maximum=10.0), "0-10"),
    "text": (AnswerSpec(AnswerKind.TEXT, max_length=160), "a reply of up to 160 characters"),
    "text-min": (
        AnswerSpec(AnswerKind.TEXT, min_length=10),
        "a reply of 10 to 500 characters",
    ),
    "email": (AnswerSpec(AnswerKind.EMAIL), "an email address, e.g. name@example.com"),
    "date": (AnswerSpec(AnswerKind.DATE), "a date, e.g. 12/1, Dec 1 or 2026-12-01"),
}


@pytest.mark.parametrize(("spec", "expected"), cases(DESCRIBE))
def test_describe(spec: AnswerSpec, expected: str) -> None:
    assert describe(spec) == expected


@pytest.mark.parametrize("kind", list(AnswerKind))
def test_every_kind_is_validated_and_described(kind: AnswerKind) -> None:
    spec = AnswerSpec(kind, options=("Red", "Blue") if kind is AnswerKind.CHOICE else ())
    assert isinstance(validate_answer("", spec, today=TODAY), Valid | Invalid)
    assert describe(spec)


# How a stored answer reads on the inbox's pages

SHOWN: dict[str, tuple[object, str]] = {
    "yes": (True, "Yes"),
    "no": (False, "No"),
    "no answer": (None, ""),
    "whole number": (5, "5"),
    "whole number stored as a float": (5.0, "5"),
    "decimal": (7.5, "7.5"),
    "date": ("2026-12-01", "1 Dec 2026"),
    "not a date after all": ("2026-13-01", "2026-13-01"),
    "text": ("The box was crushed", "The box was crushed"),
    "text that says True": ("True", "True"),
    "list": ([1, True], "1, Yes"),
}


@pytest.mark.parametrize(("value", "expected"), cases(SHOWN))
def test_show_answer(value: object, expected: str) -> None:
    assert show_answer(value) == expected

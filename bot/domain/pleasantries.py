"""Texts that need no human: "ok", "thanks", "👍". Pure: a text in, a yes or no out.

A text no flow step can take goes to the agents' queue, unless it only says thanks or
acknowledges something: then nobody needs to read it, and nobody tells the person that a human
will get back to them. Anything else needs a human: a question (it has a question mark), a
number, a word we do not know, a long text, an emoji that is not a friendly one (😡, 👎).
"""

from __future__ import annotations

import re
import unicodedata

MAX_WORDS = 8  # longer than this, it says something: let a person read it
QUESTION_MARKS = frozenset("?¿？")

# Whole phrases, in the five languages of the keyword lists (en, es, fr, de, nl). Written as
# people write them; matched after the same normalisation as the text (no case, no accents, no
# apostrophes), so "D'accord", "dacc" and "génial" need no variants.
PLEASANTRIES = (
    # English
    "ok", "okay", "okey", "okie", "oki", "k", "kk", "kay", "alright", "all right", "sure",
    "fine", "cool", "great", "nice", "awesome", "perfect", "good", "lovely", "excellent",
    "amazing", "wonderful", "brilliant", "sweet", "fab", "thanks", "thank you", "thank u",
    "thankyou", "thanku", "thanx", "thx", "thnx", "thnks", "tnx", "tx", "ty", "tyvm", "tysm",
    "cheers", "much appreciated", "appreciate it", "appreciated", "got it", "gotcha",
    "understood", "noted", "sounds good", "sounds great", "will do", "no problem", "np",
    "no worries", "all good", "you too", "same to you", "you as well", "no thanks",
    "no thank you", "lol", "lmao", "yay", "wow", "bye", "goodbye", "good night",
    "have a nice day", "have a good day", "have a great day",
    # Spanish
    "gracias", "muchas gracias", "mil gracias", "vale", "bueno", "perfecto", "genial",
    "de nada", "entendido", "listo", "claro", "muy bien", "de acuerdo", "igualmente",
    "buenas noches", "adios", "no gracias",
    # French
    "merci", "merci beaucoup", "merci bien", "d'accord", "dac", "dacc", "parfait", "super",
    "génial", "entendu", "compris", "top", "très bien", "bonne journée", "bonne soirée",
    "au revoir", "de rien", "nickel", "non merci",
    # German
    "danke", "danke schön", "dankeschön", "danke sehr", "vielen dank", "alles klar", "prima",
    "gut", "sehr gut", "perfekt", "verstanden", "passt", "klasse", "toll", "tschüss",
    "bis dann", "nein danke",
    # Dutch
    "dank je", "dank je wel", "dankjewel", "dank u", "dank u wel", "bedankt", "oké", "goed",
    "begrepen", "helemaal goed", "nee dank je",
)  # fmt: skip
# Words that only strengthen a pleasantry ("thanks so much again"): alone they are nothing.
FILLERS = frozenset(
    {"so", "very", "much", "a", "lot", "lots", "again", "all", "guys", "really", "oh", "ah",
     "and", "y", "et", "und", "en", "muy", "tres", "vraiment", "sehr", "echt", "heel", "erg"}
)  # fmt: skip
# Friendly emoji, as NFKD leaves them (the variation selector and skin tones are dropped).
FRIENDLY_EMOJI = frozenset(
    "👍👌🙏❤♥💕💖💗💙💚💛💜🧡🖤🤍😊🙂😀😃😄😁☺😉😍🥰😘👏✅✔💯🎉🥳💪✌👋🤗😎🆗😂🤣🙌⭐🌟"
)
_DROPPED = frozenset({"\ufe0f", "\ufe0e", "\u200d"} | {chr(c) for c in range(0x1F3FB, 0x1F400)})
_APOSTROPHES = frozenset("'’‘`´")
_LAUGHTER = re.compile(r"^(?:ha|he|ja|je|hi|ho|ah){2,}h?$|^l+o+l+$")
_RUNS = re.compile(r"(.)\1{2,}")  # "thanksss", "okkk", "coooool"


def needs_a_human(text: str) -> bool:
    """Whether a person should read this text; False for "ok", "thanks", 👍 and the like."""
    if any(char in QUESTION_MARKS for char in text):
        return True
    tokens = _tokens(text)
    if len(tokens) > MAX_WORDS:
        return True
    return not _only_pleasantries(tokens)


def _only_pleasantries(tokens: list[str]) -> bool:
    """Whether pleasantries and friendly emoji, with fillers around them, make up the text."""
    position, pleasant = 0, False
    while position < len(tokens):
        length = _phrase_at(tokens, position)
        if length:
            position, pleasant = position + length, True
        elif tokens[position] in FILLERS:
            position += 1
        else:
            return False
    return pleasant or not tokens  # a text of only punctuation says nothing either


def _phrase_at(tokens: list[str], position: int) -> int:
    """The length of the longest pleasantry starting at `position` (0 when none does)."""
    first = tokens[position]
    if first in FRIENDLY_EMOJI or _LAUGHTER.match(first):
        return 1
    for length in range(min(_LONGEST, len(tokens) - position), 0, -1):
        if tuple(tokens[position : position + length]) in _PHRASES:
            return length
    return 0


def _tokens(text: str) -> list[str]:
    """Words (lower case, no accents or apostrophes, stretched letters shortened) and symbols."""
    tokens: list[str] = []
    word: list[str] = []
    for char in _normalise(text):
        if char.isalnum():
            word.append(char)
            continue
        if word:
            tokens.append(_known_form("".join(word)))
            word = []
        if not char.isspace() and unicodedata.category(char)[0] not in "PZC":
            tokens.append(char)  # an emoji or other symbol stands on its own
    if word:
        tokens.append(_known_form("".join(word)))
    return tokens


def _normalise(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", unicodedata.normalize("NFKC", text).casefold())
    return "".join(
        char
        for char in decomposed
        if not unicodedata.combining(char) and char not in _DROPPED and char not in _APOSTROPHES
    )


def _known_form(word: str) -> str:
    """The word as we know it when stretched: "thanksss" is "thanks", "coooool" is "cool"."""
    for candidate in (word, _RUNS.sub(r"\1\1", word), _RUNS.sub(r"\1", word)):
        if candidate in _WORDS:
            return candidate
    return word


def _phrase_tokens(phrase: str) -> tuple[str, ...]:
    words = "".join(char if char.isalnum() else " " for char in _normalise(phrase))
    return tuple(words.split())


_PHRASES = frozenset(_phrase_tokens(phrase) for phrase in PLEASANTRIES)
_LONGEST = max(len(phrase) for phrase in _PHRASES)
_WORDS = frozenset(word for phrase in _PHRASES for word in phrase) | FILLERS

"""URLs in a text, and which of them the brand wrote. Pure: strings and spans in, spans out."""

from __future__ import annotations

import re
from collections.abc import Sequence

Span = tuple[int, int]  # [start, end) offsets into a text

# A URL starts with http:// or https:// (not inside a word or an e-mail address) and runs to
# the next space or a character that cannot appear in one unescaped.
_URL = re.compile(r"(?<![\w@.])https?://[0-9a-z][^\s<>\"'`{}|\\^]*", re.IGNORECASE)
_TRAILING = ".,;:!?'\"*"  # sentence punctuation after a URL is not part of it
_CLOSERS = {")": "(", "]": "["}


def find_urls(text: str) -> list[Span]:
    """Where the http(s) URLs in a text are, as (start, end) spans, in order."""
    return [
        (match.start(), match.start() + len(_trim(match.group()))) for match in _URL.finditer(text)
    ]


def _trim(url: str) -> str:
    """Drop trailing punctuation; a closing bracket stays when the URL opened it (Wikipedia)."""
    while url:
        last = url[-1]
        unopened = last in _CLOSERS and url.count(_CLOSERS[last]) < url.count(last)
        if last not in _TRAILING and not unopened:
            break
        url = url[:-1]
    return url


def urls_written_by_brand(text: str, brand_spans: Sequence[Span]) -> list[Span]:
    """The URLs that lie wholly inside what the brand wrote: the only ones worth a brand link.

    A URL that a person's value reaches into (their name, an answer, an imported attribute)
    could lead anywhere they like, so it stays plain text.
    """
    return [
        (start, end)
        for start, end in find_urls(text)
        if any(first <= start and end <= last for first, last in brand_spans)
    ]


def urls_touching(text: str, spans: Sequence[Span]) -> list[Span]:
    """The URLs that overlap or directly abut one of `spans` (no space between them)."""
    return [
        (start, end)
        for start, end in find_urls(text)
        if any(first <= end and start <= last for first, last in spans)
    ]

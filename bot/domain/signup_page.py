"""What the sign-up page says and links to: its consent wording, its source tags, its sms: link.

Pure: the page's edge (`bot/web/join.py`) renders these values, and the consent ledger keeps
the very wording returned here, so what a person ticked and what is stored are one string.
"""

from __future__ import annotations

import hashlib
import re
from urllib.parse import quote

PAGE_SOURCE = "join-page"  # the consent ledger's `source` for a sign-up on /join
MAX_TAG_CHARS = 24  # "join-page:" plus a tag fits the ledger's 40-character `source`
TAG_SHAPE = re.compile(rf"^[a-z0-9][a-z0-9_-]{{0,{MAX_TAG_CHARS - 1}}}$")
DEFAULT_CONSENT_TEXT = (
    "By checking this box, I agree to receive recurring automated marketing text messages "
    "from {brand} at the number provided. Consent is not a condition of purchase. "
    "Msg frequency varies. Msg & data rates may apply. Reply HELP for help, STOP to cancel."
)


class InvalidSource(ValueError):
    """A `?source=` tag the page does not take; says what a tag may be."""


def consent_wording(template: str, *, brand: str) -> str:
    """The consent text shown beside the checkbox, with `{brand}` filled in."""
    return template.replace("{brand}", brand).strip()


def wording_digest(wording: str) -> str:
    """A short fingerprint of the wording a form showed: a changed wording is a new consent."""
    return hashlib.sha256(wording.encode("utf-8")).hexdigest()[:16]


def page_source(tag: str | None) -> str:
    """The ledger's source for a sign-up with this `?source=` tag ("join-page:instagram").

    Raises InvalidSource for a tag that is not 1 to 24 lower-case letters, digits, - or _.
    """
    if tag is None or not tag.strip():
        return PAGE_SOURCE
    cleaned = tag.strip().lower()
    if not TAG_SHAPE.match(cleaned):
        raise InvalidSource(
            f"source: {tag[:40]!r} is not a source tag (1 to {MAX_TAG_CHARS} letters, digits,"
            " - or _, such as 'instagram' or 'till-receipt')"
        )
    return f"{PAGE_SOURCE}:{cleaned}"


def sms_link(number: str, keyword: str) -> str:
    """An `sms:` link that opens a text to `number` with `keyword` typed in.

    `?&body=` is the one spelling both iOS (which reads `&body=`) and Android (`?body=`,
    RFC 5724) open with the body filled in.
    """
    return f"sms:{number}?&body={quote(keyword, safe='')}"

"""Tracked links: URLs in outbound texts become short /l/<code> links that count clicks."""

from __future__ import annotations

import re
import secrets
import string
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.engine import Connection
from sqlalchemy.sql import ColumnElement

from bot.tables import CLICKS, LINKS

CODE_LENGTH = 7  # 62**7 ≈ 3.5e12 codes: unguessable enough, and short enough for a segment
CODE_ALPHABET = string.digits + string.ascii_letters
LINK_PATH = "/l/"
USER_AGENT_LIMIT = 255
_CODE = re.compile(rf"[0-9A-Za-z]{{{CODE_LENGTH}}}")
_MINT_ATTEMPTS = 5

# A URL starts with http:// or https:// (not inside a word or an e-mail address) and runs to
# the next space or a character that cannot appear in one unescaped.
_URL = re.compile(r"(?<![\w@.])https?://[0-9a-z][^\s<>\"'`{}|\\^]*", re.IGNORECASE)
_TRAILING = ".,;:!?'\"*"  # sentence punctuation after a URL is not part of it
_CLOSERS = {")": "(", "]": "["}


def find_urls(text: str) -> list[tuple[int, int]]:
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


def shorten_links(
    connection: Connection,
    text: str,
    *,
    phone: str,
    public_url: str | None,
    flow: str | None = None,
    campaign: str | None = None,
    now: datetime,
) -> tuple[str, list[int]]:
    """Rewrite each URL in `text` to this person's tracked link; returns the text and link ids.

    The same person, URL and flow (or campaign) always get the same code, so a retried step or a
    second reminder with the same URL mints nothing new. Without a public URL nothing changes.
    """
    if not public_url:
        return text, []
    spans = find_urls(text)
    if not spans:
        return text, []
    base = public_url.rstrip("/") + LINK_PATH
    pieces: list[str] = []
    link_ids: list[int] = []
    position = 0
    for start, end in spans:
        link_id, code = _link_for(
            connection, text[start:end], phone=phone, flow=flow, campaign=campaign, now=now
        )
        pieces.extend((text[position:start], base, code))
        if link_id not in link_ids:
            link_ids.append(link_id)
        position = end
    pieces.append(text[position:])
    return "".join(pieces), link_ids


def _link_for(
    connection: Connection,
    url: str,
    *,
    phone: str,
    flow: str | None,
    campaign: str | None,
    now: datetime,
) -> tuple[int, str]:
    existing = connection.execute(
        select(LINKS.c.id, LINKS.c.code)
        .where(
            LINKS.c.phone == phone,
            LINKS.c.url == url,
            _same(LINKS.c.flow, flow),
            _same(LINKS.c.campaign, campaign),
        )
        .order_by(LINKS.c.id)
        .limit(1)
    ).first()
    if existing is not None:
        return existing.id, existing.code
    code = _fresh_code(connection)
    link_id = connection.execute(
        LINKS.insert().returning(LINKS.c.id),
        {
            "code": code,
            "url": url,
            "phone": phone,
            "flow": flow,
            "campaign": campaign,
            "created_at": now,
        },
    ).scalar_one()
    return link_id, code


def _same(column: ColumnElement[str | None], value: str | None) -> ColumnElement[bool]:
    return column.is_(None) if value is None else column == value


def _fresh_code(connection: Connection) -> str:
    """A random code no link has yet (a clash is a one-in-trillions event: try again)."""
    for _ in range(_MINT_ATTEMPTS):
        code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
        taken = connection.execute(select(LINKS.c.id).where(LINKS.c.code == code)).first()
        if taken is None:
            return code
    raise RuntimeError("could not mint an unused link code")  # pragma: no cover


def attach_message(connection: Connection, link_ids: Iterable[int], message_id: int) -> None:
    """Note the text a link first went out in (a reused link keeps its first message)."""
    ids = list(link_ids)
    if ids:
        connection.execute(
            update(LINKS)
            .where(LINKS.c.id.in_(ids), LINKS.c.message_id.is_(None))
            .values(message_id=message_id)
        )


def follow(
    connection: Connection, code: str, *, user_agent: str | None, now: datetime
) -> str | None:
    """Record a click on a code and return where it leads; None for a code that does not exist."""
    if not _CODE.fullmatch(code):
        return None
    link = connection.execute(select(LINKS.c.id, LINKS.c.url).where(LINKS.c.code == code)).first()
    if link is None:
        return None
    connection.execute(
        CLICKS.insert(),
        {
            "link_id": link.id,
            "clicked_at": now,
            "user_agent": user_agent[:USER_AGENT_LIMIT] if user_agent else None,
        },
    )
    return link.url

"""Tracked links: URLs the brand wrote become short /l/<code> links that count clicks."""

from __future__ import annotations

import re
import secrets
import string
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

from sqlalchemy import func, or_, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.sql import ColumnElement

from bot.domain.link_previews import is_link_preview
from bot.domain.urls import Span, urls_written_by_brand
from bot.domain.vocabulary import WebhookEventType
from bot.store.tables import CLICKS, LINKS
from bot.store.webhook_events import record_webhook_event

CODE_LENGTH = 7  # 62**7 ≈ 3.5e12 codes: unguessable enough, and short enough for a segment
CODE_ALPHABET = string.digits + string.ascii_letters
LINK_PATH = "/l/"
USER_AGENT_LIMIT = 255
_CODE = re.compile(rf"[0-9A-Za-z]{{{CODE_LENGTH}}}")
_MINT_ATTEMPTS = 5
# A person's repeat taps (a double tap, a browser that loads a page twice, back and forth) fall
# within a minute of the first and are one click; a later visit is a new one.
CLICK_WINDOW = timedelta(minutes=1)
# Click rows kept per link: far more than a person clicks their own link; a script cannot grow
# the table past it (link.clicks keeps counting).
CLICK_ROWS_PER_LINK = 50


def shorten_links(
    connection: Connection,
    text: str,
    *,
    brand_spans: Sequence[Span],
    phone: str,
    public_url: str | None,
    flow: str | None = None,
    campaign: str | None = None,
    now: datetime,
) -> tuple[str, list[int]]:
    """Rewrite each URL the brand wrote to this person's tracked link; the text and link ids.

    Only a URL wholly inside `brand_spans` counts: one a person's value reaches into stays
    plain text, so nobody can make a brand link lead to a site of their choosing.

    The same person, URL and flow (or campaign) always get the same code, so a retried step or a
    second reminder with the same URL mints nothing new. Without a public URL nothing changes.
    """
    if not public_url:
        return text, []
    spans = urls_written_by_brand(text, brand_spans)
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
    """Count a click on a code and return where it leads; None for a code that does not exist.

    A link-preview fetcher is sent on too, but it is not a click. A counted click is told to
    webhooks (`link.clicked`).
    """
    if not _CODE.fullmatch(code):
        return None
    link = connection.execute(
        select(LINKS.c.id, LINKS.c.url, LINKS.c.phone, LINKS.c.flow, LINKS.c.campaign).where(
            LINKS.c.code == code
        )
    ).first()
    if link is None:
        return None
    if not is_link_preview(user_agent) and _count_click(
        connection, link.id, user_agent=user_agent, now=now
    ):
        record_webhook_event(
            connection,
            WebhookEventType.LINK_CLICKED,
            phone=link.phone,
            data={"url": link.url, "flow": link.flow, "campaign": link.campaign},
            now=now,
        )
    return link.url


def _count_click(
    connection: Connection, link_id: int, *, user_agent: str | None, now: datetime
) -> bool:
    """Count a click unless one was counted within CLICK_WINDOW (a repeat: False); keep a
    bounded history."""
    # One conditional UPDATE is the check and the count: it holds the link's row until commit,
    # so of many parallel fetches (PostgreSQL re-reads the row after the lock) one counts.
    counted = connection.execute(
        update(LINKS)
        .where(
            LINKS.c.id == link_id,
            or_(
                LINKS.c.last_clicked_at.is_(None),
                LINKS.c.last_clicked_at <= now - CLICK_WINDOW,
            ),
        )
        .values(clicks=LINKS.c.clicks + 1, last_clicked_at=now)
    ).rowcount
    if not counted:
        return False
    values = {
        "link_id": link_id,
        "clicked_at": now,
        "user_agent": user_agent[:USER_AGENT_LIMIT] if user_agent else None,
    }
    kept, newest = connection.execute(
        select(func.count(), func.max(CLICKS.c.id)).where(CLICKS.c.link_id == link_id)
    ).one()
    if kept < CLICK_ROWS_PER_LINK:
        connection.execute(CLICKS.insert(), values)
    else:
        # The last click must stay true (an order is credited to it): the newest row moves on.
        connection.execute(update(CLICKS).where(CLICKS.c.id == newest).values(values))
    return True

"""Tracked links: URLs the brand wrote become short /l/<code> links that count clicks."""

from __future__ import annotations

import re
import secrets
import string
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy import bindparam, func, or_, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.sql import ColumnElement

from bot.domain.link_previews import is_link_preview
from bot.domain.urls import Span, urls_written_by_brand
from bot.domain.vocabulary import WebhookEventType
from bot.store.db import where_in
from bot.store.driver_sql import BulkInsert
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
_INSERT_LINKS = BulkInsert(LINKS)


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
    spans = _tracked_spans(text, brand_spans, public_url)
    if not spans:
        return text, []
    links = [
        _link_for(connection, text[start:end], phone=phone, flow=flow, campaign=campaign, now=now)
        for start, end in spans
    ]
    body = _rewrite(text, spans, public_url or "", [code for _, code in links])
    return body, list(dict.fromkeys(link_id for link_id, _ in links))


def _tracked_spans(text: str, brand_spans: Sequence[Span], public_url: str | None) -> list[Span]:
    """Where the URLs that become tracked links are in `text` (none without a public URL)."""
    if not public_url or not brand_spans:
        return []
    return urls_written_by_brand(text, brand_spans)


def _rewrite(text: str, spans: Sequence[Span], public_url: str, codes: Sequence[str]) -> str:
    """`text` with the URL at each span replaced by the tracked link with its code."""
    return _Copies.of(text, spans, public_url).with_codes(codes)


@dataclass(frozen=True)
class _Copies:
    """A text's tracked URLs and the text around them: each person's copy, given their codes."""

    urls: tuple[str, ...]
    around: tuple[str, ...]  # one more than urls; each but the last ends with the link's base

    @classmethod
    def of(cls, text: str, spans: Sequence[Span], public_url: str) -> _Copies:
        base = public_url.rstrip("/") + LINK_PATH
        around: list[str] = []
        position = 0
        for start, end in spans:
            around.append(text[position:start] + base)
            position = end
        around.append(text[position:])
        return cls(tuple(text[start:end] for start, end in spans), tuple(around))

    def with_codes(self, codes: Sequence[str]) -> str:
        """The text with the i-th URL replaced by the link with the i-th code."""
        if len(codes) == 1:  # a campaign's usual text: one URL
            return self.around[0] + codes[0] + self.around[1]
        pieces = [self.around[0]]
        for code, after in zip(codes, self.around[1:], strict=True):
            pieces += (code, after)
        return "".join(pieces)


class LinkDraft(NamedTuple):  # a tuple: a batch makes one per person, at a third of the cost
    """One text's URLs to track, before any link exists: whose, and where in the text."""

    text: str
    brand_spans: Sequence[Span]
    phone: str


@dataclass
class BatchLinks:
    """The tracked links of a batch of texts, planned in a few statements.

    `bodies` are the texts as sent; `alike`, the columns every new link has in common (its
    flow or campaign, its moment), given to the insert once. The links do not exist yet: once
    the texts are stored, `store(connection, message_ids)` writes the new ones with their
    message in one statement (and notes the message on reused links that have none), so no
    text waits on its link.
    """

    bodies: list[str]
    _new: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    _reused: dict[tuple[str, str], int] = field(default_factory=dict)
    _first_text: dict[tuple[str, str], int] = field(default_factory=dict)
    alike: dict[str, Any] = field(default_factory=dict)

    def store(self, connection: Connection, message_ids: Sequence[int]) -> None:
        """Write the new links, each with the first text it went out in."""
        if self._new:
            for key, link in self._new.items():  # the rows are this batch's own: set in place
                link["message_id"] = message_ids[self._first_text[key]]
            _INSERT_LINKS.run(connection, list(self._new.values()), self.alike)
        attach = [
            {"link_id": link_id, "first_message": message_ids[self._first_text[key]]}
            for key, link_id in self._reused.items()
        ]
        if attach:
            connection.execute(
                update(LINKS)
                .where(LINKS.c.id == bindparam("link_id"), LINKS.c.message_id.is_(None))
                .values(message_id=bindparam("first_message")),
                attach,
            )


def shorten_links_in_batch(
    connection: Connection,
    drafts: Sequence[LinkDraft],
    *,
    public_url: str | None,
    flow: str | None = None,
    campaign: str | None = None,
    now: datetime,
    no_links_yet: bool = False,
    redone_on_conflict: bool = False,
) -> BatchLinks:
    """`shorten_links` for many texts at once: one SELECT of the links people already have,
    codes minted up front (one SELECT proves them unused), and the new links left to write.

    `no_links_yet`: the caller knows none of these people has a link of this flow or campaign
    (they have no text of it), so none is looked up.
    `redone_on_conflict`: the caller redoes its whole transaction on a unique-key conflict
    (IntegrityError), so the new codes are not proved unused first: the link table's unique
    index refuses a code some link has (a one-in-trillions clash), and the redo draws new ones.
    """
    # A campaign's texts repeat (the same variant and first name): find each one's URLs once.
    copies_of: dict[tuple[str, tuple[Span, ...]], _Copies] = {}
    copies = []
    for draft in drafts:
        text_key = (draft.text, tuple(draft.brand_spans))
        found = copies_of.get(text_key)
        if found is None:
            spans = _tracked_spans(draft.text, draft.brand_spans, public_url)
            found = copies_of[text_key] = _Copies.of(draft.text, spans, public_url or "")
        copies.append(found)
    wanted = {
        (draft.phone, url)
        for draft, found in zip(drafts, copies, strict=True)
        for url in found.urls
    }
    if not wanted:
        return BatchLinks([draft.text for draft in drafts])
    codes = (
        {} if no_links_yet else _existing_links(connection, wanted, flow=flow, campaign=campaign)
    )
    links = BatchLinks([], alike=_alike_columns(flow, campaign, now))
    missing = [key for key in wanted if key not in codes]
    minted = (
        _distinct_codes(len(missing))
        if redone_on_conflict
        else _fresh_codes(connection, len(missing))
    )
    for key, code in zip(missing, minted, strict=True):
        phone, url = key
        codes[key] = (None, code)
        links._new[key] = _own_columns(code, url, phone)
    for index, (draft, found) in enumerate(zip(drafts, copies, strict=True)):
        if not found.urls:
            links.bodies.append(draft.text)
            continue
        keys = [(draft.phone, url) for url in found.urls]
        links.bodies.append(found.with_codes([codes[key][1] for key in keys]))
        for key in keys:
            links._first_text.setdefault(key, index)
            link_id = codes[key][0]
            if link_id is not None:
                links._reused[key] = link_id
    return links


def _existing_links(
    connection: Connection,
    wanted: set[tuple[str, str]],
    *,
    flow: str | None,
    campaign: str | None,
) -> dict[tuple[str, str], tuple[int | None, str]]:
    """The link (id, code) each (phone, URL) already has for this flow or campaign."""
    query = select(LINKS.c.id, LINKS.c.code, LINKS.c.phone, LINKS.c.url).where(
        LINKS.c.url.in_({url for _, url in wanted}),
        _same(LINKS.c.flow, flow),
        _same(LINKS.c.campaign, campaign),
    )
    phones = {phone for phone, _ in wanted}
    rows = connection.execute(where_in(query, LINKS.c.phone, phones, connection.dialect.name))
    found: dict[tuple[str, str], tuple[int | None, str]] = {}
    for row in sorted(rows, key=lambda row: row.id):
        if (row.phone, row.url) in wanted:
            found.setdefault((row.phone, row.url), (row.id, row.code))  # the oldest, as one by one
    return found


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
        LINKS.insert().returning(LINKS.c.id), _link_row(code, url, phone, flow, campaign, now)
    ).scalar_one()
    return link_id, code


def _link_row(
    code: str, url: str, phone: str, flow: str | None, campaign: str | None, now: datetime
) -> dict[str, Any]:
    """A new tracked link's row (its message is attached once the text is stored)."""
    return {**_own_columns(code, url, phone), **_alike_columns(flow, campaign, now)}


def _own_columns(code: str, url: str, phone: str) -> dict[str, Any]:
    """A new link's columns that are its own."""
    return {"code": code, "url": url, "phone": phone}


def _alike_columns(flow: str | None, campaign: str | None, now: datetime) -> dict[str, Any]:
    """A new link's columns that every link of a batch has alike."""
    return {"flow": flow, "campaign": campaign, "created_at": now}


def _same(column: ColumnElement[str | None], value: str | None) -> ColumnElement[bool]:
    return column.is_(None) if value is None else column == value


def _fresh_code(connection: Connection) -> str:
    """A random code no link has yet (a clash is a one-in-trillions event: try again)."""
    return _fresh_codes(connection, 1)[0]


def _distinct_codes(count: int) -> list[str]:
    """`count` random codes, all different (whether a link has one is not asked)."""
    codes: set[str] = set()
    while len(codes) < count:
        codes.update(_random_codes(count - len(codes)))
    return list(codes)


def _fresh_codes(connection: Connection, count: int) -> list[str]:
    """`count` random codes, all different, that no link has yet: one SELECT per attempt."""
    codes: set[str] = set()
    for _ in range(_MINT_ATTEMPTS):
        candidates = set(_distinct_codes(count - len(codes))) - codes
        if candidates:
            taken = connection.execute(
                where_in(select(LINKS.c.code), LINKS.c.code, candidates, connection.dialect.name)
            ).scalars()
            codes |= candidates - set(taken)
        if len(codes) == count:
            return list(codes)
    raise RuntimeError("could not mint an unused link code")  # pragma: no cover


# A random byte below 248 (= 4 x 62) names a character of CODE_ALPHABET uniformly (its value
# modulo 62); the 8 above are dropped. Both steps are one C call over a whole batch's bytes.
_USABLE_BYTES = 4 * len(CODE_ALPHABET)
_UNUSABLE_BYTES = bytes(range(_USABLE_BYTES, 256))
_TO_CHARACTER = bytes.maketrans(bytes(range(_USABLE_BYTES)), (CODE_ALPHABET * 4).encode())


def _random_codes(count: int) -> list[str]:
    """`count` codes of CODE_LENGTH characters of CODE_ALPHABET, each character uniform."""
    wanted = count * CODE_LENGTH
    characters = b""
    while len(characters) < wanted:
        # 1/32 of the bytes are dropped: ask a little more than needed, and again if short.
        drawn = secrets.token_bytes((wanted - len(characters)) * 33 // 32 + 16)
        characters += drawn.translate(None, _UNUSABLE_BYTES)
    text = characters[:wanted].translate(_TO_CHARACTER).decode()
    return [text[start : start + CODE_LENGTH] for start in range(0, wanted, CODE_LENGTH)]


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

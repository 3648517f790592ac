"""What the inbox's contacts pages read: every subscriber, searched and paged, and one person's
whole record (profile, consent, texts, answers, campaigns, clicks, orders, conversations).

Only reads; starting a chat with a contact is `takeover.start_chat`, and their tags and consent
change through the conversation service like any other change to a person.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import String, cast, func, or_, select
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.sql.elements import ColumnElement

from bot.domain.phones import InvalidPhone, normalise_phone
from bot.domain.vocabulary import ConversationStatus, Direction
from bot.store.subscribers import LARGEST_SUBSCRIBER_ID, consent_ledger, has_tag
from bot.store.tables import (
    AGENTS,
    ANSWERS,
    CONVERSATIONS,
    EVENTS,
    LINKS,
    MESSAGES,
    SUBSCRIBERS,
    AnyRow,
    AnySelect,
)

CONTACTS_PAGE = 50  # contacts a page of the list shows
CONTACT_TEXTS = 200  # the newest texts a contact's page shows
CONTACT_ROWS = 100  # the newest campaigns, clicks, orders and conversations it shows
_LIKE_ESCAPE = "\\"


@dataclass(frozen=True)
class ContactSearch:
    """What an agent typed in the contacts search, read once: `name=value` is an attribute;
    anything else is a phone (in any format), a first name or a tag."""

    text: str
    phone: str | None = None  # the E.164 form, when the text reads as a phone number
    attribute: tuple[str, str] | None = None

    @classmethod
    def read(cls, raw: str, default_country: str) -> ContactSearch:
        text = raw.strip()
        name, equals, value = text.partition("=")
        if equals and name.strip():
            return cls(text, attribute=(name.strip(), value.strip()))
        phone = None
        if sum(char.isdigit() for char in text) >= 3:
            try:
                phone = normalise_phone(text, default_country)
            except InvalidPhone:
                phone = None
        return cls(text, phone=phone)


@dataclass(frozen=True)
class ContactList:
    """One page of contacts, newest first, and the `before` of the next page (None: the last)."""

    contacts: list[AnyRow]  # every column of SUBSCRIBERS
    next_before: int | None


@dataclass(frozen=True)
class ContactPage:
    """One person as their contact page shows them."""

    subscriber: AnyRow
    consent: list[AnyRow]  # the ledger, oldest first
    texts: list[AnyRow]  # the newest CONTACT_TEXTS texts, oldest first, with `agent_name`
    answers: list[AnyRow]  # oldest first
    campaigns: list[AnyRow]  # campaign texts they were sent, newest first
    clicks: list[AnyRow]  # their tracked links that were clicked, last clicked first
    orders: list[AnyRow]  # events the brand's systems reported (orders …), newest first
    conversations: list[AnyRow]  # newest first, with `agent_name`

    @property
    def active(self) -> AnyRow | None:
        """Their active conversation, if any (with who holds it)."""
        return next(
            (row for row in self.conversations if row.status is ConversationStatus.ACTIVE), None
        )


def search_contacts(
    db: Engine, search: ContactSearch, *, before: int | None = None, limit: int = CONTACTS_PAGE
) -> ContactList:
    """Contacts matching the search (every one when it is empty), newest first, a page at a time.

    Paged by id (keyset): a contact added while an agent pages through never shifts a page.
    """
    statement = select(SUBSCRIBERS).order_by(SUBSCRIBERS.c.id.desc()).limit(limit + 1)
    # PostgreSQL refuses a number past the 32-bit id; every id is below one that large anyway.
    if before is not None and before <= LARGEST_SUBSCRIBER_ID:
        statement = statement.where(SUBSCRIBERS.c.id < before)
    with db.connect() as connection:
        if search.text:
            statement = statement.where(_matches(connection, search))
        rows = list(connection.execute(statement))
    page = rows[:limit]
    return ContactList(page, page[-1].id if len(rows) > limit else None)


def contact_page(db: Engine, subscriber_id: int) -> ContactPage | None:
    """Everything the contact page shows about one person; None if there is no such person."""
    if subscriber_id > LARGEST_SUBSCRIBER_ID:
        return None  # PostgreSQL would refuse the number: no subscriber has it
    with db.connect() as connection:
        subscriber = connection.execute(
            select(SUBSCRIBERS).where(SUBSCRIBERS.c.id == subscriber_id)
        ).first()
        if subscriber is None:
            return None
        phone = subscriber.phone
        texts = connection.execute(
            select(MESSAGES, AGENTS.c.name.label("agent_name"))
            .outerjoin(AGENTS, AGENTS.c.id == MESSAGES.c.agent_id)
            .where(MESSAGES.c.phone == phone)
            .order_by(MESSAGES.c.id.desc())
            .limit(CONTACT_TEXTS)
        ).all()
        return ContactPage(
            subscriber=subscriber,
            consent=consent_ledger(connection, subscriber_id),
            texts=list(reversed(texts)),
            answers=_all(
                connection, select(ANSWERS).where(ANSWERS.c.phone == phone).order_by(ANSWERS.c.id)
            ),
            campaigns=_all(
                connection,
                select(
                    MESSAGES.c.campaign,
                    MESSAGES.c.variant,
                    MESSAGES.c.status,
                    MESSAGES.c.created_at,
                )
                .where(
                    MESSAGES.c.phone == phone,
                    MESSAGES.c.direction == Direction.OUTBOUND,
                    MESSAGES.c.campaign.is_not(None),
                )
                .order_by(MESSAGES.c.id.desc())
                .limit(CONTACT_ROWS),
            ),
            clicks=_all(
                connection,
                select(LINKS)
                .where(LINKS.c.phone == phone, LINKS.c.clicks > 0)
                .order_by(LINKS.c.last_clicked_at.desc(), LINKS.c.id.desc())
                .limit(CONTACT_ROWS),
            ),
            orders=_all(
                connection,
                select(EVENTS)
                .where(EVENTS.c.phone == phone)
                .order_by(EVENTS.c.id.desc())
                .limit(CONTACT_ROWS),
            ),
            conversations=_all(
                connection,
                select(CONVERSATIONS, AGENTS.c.name.label("agent_name"))
                .outerjoin(AGENTS, AGENTS.c.id == CONVERSATIONS.c.agent_id)
                .where(CONVERSATIONS.c.subscriber_id == subscriber_id)
                .order_by(CONVERSATIONS.c.id.desc())
                .limit(CONTACT_ROWS),
            ),
        )


def contact_phone(db: Engine, subscriber_id: int) -> str | None:
    """The number of the contact with this id, or None if there is none."""
    if subscriber_id > LARGEST_SUBSCRIBER_ID:
        return None
    with db.connect() as connection:
        return connection.execute(
            select(SUBSCRIBERS.c.phone).where(SUBSCRIBERS.c.id == subscriber_id)
        ).scalar_one_or_none()


def _matches(connection: Connection, search: ContactSearch) -> ColumnElement[bool]:
    if search.attribute is not None:
        name, value = search.attribute
        # As text on both engines (SQLite's json_extract gives 42 for a number, PostgreSQL's
        # ->> gives '42'), and without regard to case: "state=ca" finds "CA".
        stored = cast(SUBSCRIBERS.c.attributes[name].as_string(), String)
        return func.lower(stored) == value.lower()
    text = search.text
    conditions = [
        SUBSCRIBERS.c.first_name.ilike(f"%{_escape_like(text)}%", escape=_LIKE_ESCAPE),
        has_tag(connection, text),
    ]
    if search.phone is not None:
        conditions.append(SUBSCRIBERS.c.phone == search.phone)
    digits = "".join(char for char in text if char.isdigit())
    if len(digits) >= 3:  # part of a number: "555 0100" finds +14155550100
        conditions.append(SUBSCRIBERS.c.phone.like(f"%{digits}%"))
    return or_(*conditions)


def _escape_like(text: str) -> str:
    """`text` matched literally by LIKE: its % and _ are not wildcards."""
    for char in (_LIKE_ESCAPE, "%", "_"):
        text = text.replace(char, _LIKE_ESCAPE + char)
    return text


def _all(connection: Connection, statement: AnySelect) -> list[AnyRow]:
    return list(connection.execute(statement))

"""What the agents' inbox shows: the queue, recent chats, people waiting, one chat's history.

Only reads; taking a chat over, replying and handing it back are in `takeover.py`. Each function
opens its own connection and runs a fixed number of statements however many rows it returns:
the last text from each person comes in the list's own query, not in one query a row.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, func, or_, select
from sqlalchemy.engine import Connection, Engine

from bot.conversations.assignment import assignees
from bot.conversations.unanswered import OpenText, open_texts
from bot.domain.vocabulary import ConversationStatus, Direction, HandledBy, MessageStatus
from bot.sending.outbox import Waiting, waiting_on_provider
from bot.store.models import status_is
from bot.store.tables import (
    AGENTS,
    ANSWERS,
    ASSIGNMENTS,
    CONVERSATION_LABELS,
    CONVERSATIONS,
    MESSAGES,
    SUBSCRIBERS,
    AnyRow,
    AnySelect,
)
from bot.store.tables import CONSENT_EVENTS as CONSENT

RECENT_LIMIT = 50  # conversations the recent list shows
HISTORY_LIMIT = 500  # the newest texts shown for one number
STATUS_WINDOW = 50  # recent texts whose delivery status a poll reports again
OTHER_CONVERSATIONS_LIMIT = 20  # a person's other conversations listed beside one
ASSIGNEES = AGENTS.alias("assignee")  # the agent a person is assigned to, beside who holds it


@dataclass(frozen=True)
class InboxItem:
    """One line of the inbox."""

    conversation_id: int
    phone: str
    first_name: str | None
    flow: str
    handled_by: HandledBy
    agent_name: str | None
    reason: str | None
    last_text: str | None
    updated_at: datetime
    status: ConversationStatus
    assignee_id: int | None = None  # who on the team answers this person (assignment.py)
    assignee_name: str | None = None


@dataclass(frozen=True)
class WaitingPerson:
    """Someone whose texts no step could take, as the queue shows them: one line each."""

    texts: tuple[OpenText, ...]  # oldest first
    conversation_id: int | None  # their latest conversation (where the history is), if any
    assignee_id: int | None = None
    assignee_name: str | None = None

    @property
    def first(self) -> OpenText:
        return self.texts[0]

    @property
    def last(self) -> OpenText:
        return self.texts[-1]


@dataclass(frozen=True)
class QueueView:
    """The queue's lines for one tab (mine, unassigned, all)."""

    waiting: list[InboxItem]  # chats waiting on a handoff
    people: list[WaitingPerson]  # people with texts no step could take

    def __len__(self) -> int:
        return len(self.waiting) + len(self.people)


QUEUE_VIEWS = ("mine", "unassigned", "all")


def queue_views(
    waiting: list[InboxItem], people: list[WaitingPerson], agent_id: int
) -> dict[str, QueueView]:
    """The queue as each tab shows it: assigned to this agent, to nobody, or everything."""
    tests = {
        "mine": lambda assignee: assignee == agent_id,
        "unassigned": lambda assignee: assignee is None,
        "all": lambda assignee: True,
    }
    return {
        view: QueueView(
            [item for item in waiting if test(item.assignee_id)],
            [person for person in people if test(person.assignee_id)],
        )
        for view, test in tests.items()
    }


@dataclass(frozen=True)
class ConversationPage:
    """One conversation as its page shows it, with the person's history around it."""

    chat: AnyRow  # the conversation, with `agent_name` and `subscriber_status`
    subscriber: AnyRow
    texts: list[AnyRow]  # the number's newest HISTORY_LIMIT texts, oldest first
    answers: list[AnyRow]  # the number's answers, oldest first
    consent: list[AnyRow]  # the person's consent ledger, oldest first
    others: list[AnyRow]  # the person's other conversations, newest first
    unanswered: list[OpenText]  # the person's texts waiting in the queue


@dataclass(frozen=True)
class ConversationNews:
    """What a conversation page's poll reports: the chat now, new texts, recent statuses."""

    chat: AnyRow  # the conversation, with `agent_name` and `subscriber_status`
    texts: list[AnyRow]  # texts after the one the page showed last, oldest first
    statuses: dict[int, MessageStatus]  # the newest STATUS_WINDOW outbound texts', newest first


def inbox_queue(db: Engine, agent_id: int) -> list[InboxItem]:
    """Chats waiting for a human (oldest first), then the ones this agent holds."""
    waiting = CONVERSATIONS.c.handled_by == HandledBy.WAITING_FOR_AGENT
    mine = and_(CONVERSATIONS.c.handled_by == HandledBy.AGENT, CONVERSATIONS.c.agent_id == agent_id)
    statement = (
        _items()
        .where(status_is(CONVERSATIONS.c.status, ConversationStatus.ACTIVE), or_(waiting, mine))
        .order_by(CONVERSATIONS.c.handled_by.desc(), CONVERSATIONS.c.updated_at)
    )
    with db.connect() as connection:
        return [_item(row) for row in connection.execute(statement)]


def recent_conversations(
    db: Engine, query: str | None, limit: int = RECENT_LIMIT, *, label: str | None = None
) -> list[InboxItem]:
    """Recent conversations, newest first; `query` matches a phone or a first name, `label`
    keeps the conversations that carry it."""
    statement = _items().order_by(CONVERSATIONS.c.updated_at.desc()).limit(limit)
    if label is not None:
        statement = statement.where(
            select(CONVERSATION_LABELS.c.id)
            .where(
                CONVERSATION_LABELS.c.conversation_id == CONVERSATIONS.c.id,
                CONVERSATION_LABELS.c.label == label,
            )
            .exists()
        )
    if query and query.strip():
        needle = f"%{query.strip().lower()}%"
        digits = "".join(char for char in query if char.isdigit())
        conditions = [SUBSCRIBERS.c.first_name.ilike(needle)]
        if digits:
            conditions.append(CONVERSATIONS.c.phone.like(f"%{digits}%"))
        statement = statement.where(or_(*conditions))
    with db.connect() as connection:
        return [_item(row) for row in connection.execute(statement)]


def waiting_people(db: Engine) -> list[WaitingPerson]:
    """People with texts no step could take, whoever has waited longest first."""
    with db.connect() as connection:
        by_person: dict[int, list[OpenText]] = {}
        for text in open_texts(connection):
            by_person.setdefault(text.subscriber_id, []).append(text)
        latest = dict(
            connection.execute(
                select(CONVERSATIONS.c.subscriber_id, func.max(CONVERSATIONS.c.id))
                .where(CONVERSATIONS.c.subscriber_id.in_(list(by_person)))
                .group_by(CONVERSATIONS.c.subscriber_id)
            ).all()
        )
        assigned = assignees(connection)
    return [
        WaitingPerson(
            tuple(person_texts),
            latest.get(subscriber_id),
            *assigned.get(subscriber_id, (None, None)),
        )
        for subscriber_id, person_texts in by_person.items()
    ]


def texts_waiting_on_provider(db: Engine) -> Waiting:
    """How many texts wait because the provider fails them, and since when: an outage."""
    with db.connect() as connection:
        return waiting_on_provider(connection)


def conversation_page(db: Engine, conversation_id: int) -> ConversationPage | None:
    """One conversation with the person's texts, answers, consent and other chats; None if none."""
    with db.connect() as connection:
        chat = _chat(connection, conversation_id)
        if chat is None:
            return None
        subscriber = connection.execute(
            select(SUBSCRIBERS).where(SUBSCRIBERS.c.id == chat.subscriber_id)
        ).one()
        answers = connection.execute(
            select(ANSWERS).where(ANSWERS.c.phone == chat.phone).order_by(ANSWERS.c.id)
        ).all()
        consent = connection.execute(
            select(CONSENT)
            .where(CONSENT.c.subscriber_id == chat.subscriber_id)
            .order_by(CONSENT.c.id)
        ).all()
        others = connection.execute(
            select(CONVERSATIONS.c.id, CONVERSATIONS.c.flow, CONVERSATIONS.c.status)
            .where(
                CONVERSATIONS.c.subscriber_id == chat.subscriber_id,
                CONVERSATIONS.c.id != conversation_id,
            )
            .order_by(CONVERSATIONS.c.id.desc())
            .limit(OTHER_CONVERSATIONS_LIMIT)
        ).all()
        return ConversationPage(
            chat=chat,
            subscriber=subscriber,
            texts=_texts(connection, chat.phone, after=None),
            answers=list(answers),
            consent=list(consent),
            others=list(others),
            unanswered=open_texts(connection, chat.subscriber_id),
        )


def conversation_news(db: Engine, conversation_id: int, *, after: int) -> ConversationNews | None:
    """What changed in a conversation since text `after`; None if there is no such conversation."""
    with db.connect() as connection:
        chat = _chat(connection, conversation_id)
        if chat is None:
            return None
        statuses = connection.execute(
            select(MESSAGES.c.id, MESSAGES.c.status)
            .where(MESSAGES.c.phone == chat.phone, MESSAGES.c.direction == Direction.OUTBOUND)
            .order_by(MESSAGES.c.id.desc())
            .limit(STATUS_WINDOW)
        ).all()
        return ConversationNews(
            chat=chat,
            texts=_texts(connection, chat.phone, after=after),
            statuses={row.id: row.status for row in statuses},
        )


def person_in(db: Engine, conversation_id: int) -> AnyRow | None:
    """The subscriber a conversation is with (what a saved reply is filled in with)."""
    with db.connect() as connection:
        return connection.execute(
            select(SUBSCRIBERS)
            .join(CONVERSATIONS, CONVERSATIONS.c.subscriber_id == SUBSCRIBERS.c.id)
            .where(CONVERSATIONS.c.id == conversation_id)
        ).first()


def _items() -> AnySelect:
    """The inbox's lines, each with the last text its person sent (in the same query)."""
    last_text = (
        select(MESSAGES.c.body)
        .where(MESSAGES.c.phone == CONVERSATIONS.c.phone, MESSAGES.c.direction == Direction.INBOUND)
        .order_by(MESSAGES.c.id.desc())
        .limit(1)
        .correlate(CONVERSATIONS)
        .scalar_subquery()
    )
    return (
        select(
            CONVERSATIONS.c.id,
            CONVERSATIONS.c.phone,
            SUBSCRIBERS.c.first_name,
            CONVERSATIONS.c.flow,
            CONVERSATIONS.c.handled_by,
            AGENTS.c.name.label("agent_name"),
            CONVERSATIONS.c.handoff_reason,
            last_text.label("last_text"),
            CONVERSATIONS.c.updated_at,
            CONVERSATIONS.c.status,
            ASSIGNMENTS.c.agent_id.label("assignee_id"),
            ASSIGNEES.c.name.label("assignee_name"),
        )
        .join(SUBSCRIBERS, SUBSCRIBERS.c.id == CONVERSATIONS.c.subscriber_id)
        .outerjoin(AGENTS, AGENTS.c.id == CONVERSATIONS.c.agent_id)
        .outerjoin(ASSIGNMENTS, ASSIGNMENTS.c.subscriber_id == CONVERSATIONS.c.subscriber_id)
        .outerjoin(ASSIGNEES, ASSIGNEES.c.id == ASSIGNMENTS.c.agent_id)
    )


def _item(row: AnyRow) -> InboxItem:
    return InboxItem(
        conversation_id=row.id,
        phone=row.phone,
        first_name=row.first_name,
        flow=row.flow,
        handled_by=row.handled_by,
        agent_name=row.agent_name,
        reason=row.handoff_reason,
        last_text=row.last_text,
        updated_at=row.updated_at,
        status=row.status,
        assignee_id=row.assignee_id,
        assignee_name=row.assignee_name,
    )


def _chat(connection: Connection, conversation_id: int) -> AnyRow | None:
    """A conversation with who holds it (`agent_name`), its person's `subscriber_status` and
    who on the team answers them (`assignee_id`, `assignee_name`)."""
    return connection.execute(
        select(
            CONVERSATIONS,
            AGENTS.c.name.label("agent_name"),
            SUBSCRIBERS.c.status.label("subscriber_status"),
            ASSIGNMENTS.c.agent_id.label("assignee_id"),
            ASSIGNEES.c.name.label("assignee_name"),
        )
        .outerjoin(AGENTS, AGENTS.c.id == CONVERSATIONS.c.agent_id)
        .join(SUBSCRIBERS, SUBSCRIBERS.c.id == CONVERSATIONS.c.subscriber_id)
        .outerjoin(ASSIGNMENTS, ASSIGNMENTS.c.subscriber_id == CONVERSATIONS.c.subscriber_id)
        .outerjoin(ASSIGNEES, ASSIGNEES.c.id == ASSIGNMENTS.c.agent_id)
        .where(CONVERSATIONS.c.id == conversation_id)
    ).first()


def _texts(connection: Connection, phone: str, *, after: int | None) -> list[AnyRow]:
    """A number's newest texts (after text `after`, if given), oldest first, with `agent_name`."""
    statement = (
        select(MESSAGES, AGENTS.c.name.label("agent_name"))
        .outerjoin(AGENTS, AGENTS.c.id == MESSAGES.c.agent_id)
        .where(MESSAGES.c.phone == phone)
        .order_by(MESSAGES.c.id.desc())
        .limit(HISTORY_LIMIT)
    )
    if after is not None:
        statement = statement.where(MESSAGES.c.id > after)
    return list(reversed(connection.execute(statement).all()))

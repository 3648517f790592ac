"""A person's time with the agents, one `agent_chat` row a stretch: what the reports measure.

Written in the transaction of the change it records: queueing (`apply.py`), taking, replying,
marking done and handing back (`takeover.py`). A person has at most one open row.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.engine import Connection

from bot.store.driver_sql import DriverStatement
from bot.store.tables import AGENT_CHATS as CHATS

_IS_OPEN = CHATS.c.closed_at.is_(None)
_OF_PERSON = CHATS.c.subscriber_id == bindparam("subscriber_id")

# Driver statements (bot/store/driver_sql.py): a question nobody's step can take queues its
# sender, and a STOP closes their chat, on the webhook's path.
_OPEN = DriverStatement(select(CHATS.c.id, CHATS.c.agent_id).where(_OF_PERSON, _IS_OPEN).limit(1))
_OPEN_UNTAKEN = DriverStatement(
    select(CHATS.c.id, CHATS.c.agent_id)
    .where(_OF_PERSON, _IS_OPEN, CHATS.c.taken_at.is_(None))
    .limit(1)
)
_INSERT = DriverStatement(CHATS.insert())
_CLOSE = DriverStatement(
    update(CHATS)
    .where(CHATS.c.id == bindparam("chat_id"))
    .values(closed_at=bindparam("closed_at"), outcome=bindparam("outcome"))
)


def _open_id(connection: Connection, subscriber_id: int) -> int | None:
    return _OPEN.run(connection, {"subscriber_id": subscriber_id}).scalar_one_or_none()


def chat_queued(
    connection: Connection, *, subscriber_id: int, conversation_id: int | None, now: datetime
) -> None:
    """The person waits for a human: open their chat, unless one is open already."""
    open_id = _open_id(connection, subscriber_id)
    if open_id is None:
        _INSERT.run_later(
            connection,
            {"subscriber_id": subscriber_id, "conversation_id": conversation_id, "queued_at": now},
        )
    elif conversation_id is not None:
        connection.execute(
            update(CHATS)
            .where(CHATS.c.id == open_id, CHATS.c.conversation_id.is_(None))
            .values(conversation_id=conversation_id)
        )


def chat_taken(
    connection: Connection,
    *,
    subscriber_id: int,
    conversation_id: int,
    agent_id: int,
    now: datetime,
) -> None:
    """An agent took the chat over (a chat nobody queued opens here, with no queue time)."""
    open_id = _open_id(connection, subscriber_id)
    if open_id is None:
        connection.execute(
            CHATS.insert().values(
                subscriber_id=subscriber_id,
                conversation_id=conversation_id,
                agent_id=agent_id,
                taken_at=now,
            )
        )
        return
    connection.execute(
        update(CHATS)
        .where(CHATS.c.id == open_id)
        .values(
            conversation_id=conversation_id,
            agent_id=agent_id,
            taken_at=func.coalesce(CHATS.c.taken_at, now),
        )
    )


def chat_answered(
    connection: Connection, *, subscriber_id: int, agent_id: int, now: datetime
) -> None:
    """An agent texted the person: the first such text is the chat's first response."""
    connection.execute(
        update(CHATS)
        .where(CHATS.c.subscriber_id == subscriber_id, _IS_OPEN, CHATS.c.first_reply_at.is_(None))
        .values(first_reply_at=now, agent_id=func.coalesce(CHATS.c.agent_id, agent_id))
    )


def chat_passed_on(connection: Connection, *, subscriber_id: int, to_agent: int) -> None:
    """The agent holding the chat gave it to a colleague: the reports and the rating credit
    the colleague, who finishes it."""
    connection.execute(
        update(CHATS)
        .where(CHATS.c.subscriber_id == subscriber_id, _IS_OPEN)
        .values(agent_id=to_agent)
    )


def chat_closed(
    connection: Connection,
    *,
    subscriber_id: int,
    now: datetime,
    outcome: str,
    only_if_untaken: bool = False,  # marked done: a chat an agent holds stays open
) -> tuple[int, int | None] | None:
    """Close the person's open chat; its id and agent, or None when none was open."""
    find = _OPEN_UNTAKEN if only_if_untaken else _OPEN
    row = find.run(connection, {"subscriber_id": subscriber_id}).first()
    if row is None:
        return None
    _CLOSE.run_later(connection, {"chat_id": row.id, "closed_at": now, "outcome": outcome[:40]})
    return row.id, row.agent_id


def rating_asked(connection: Connection, *, chat_id: int, conversation_id: int) -> None:
    """The rating question went out in this conversation: its answer rates the chat's agent."""
    connection.execute(
        update(CHATS).where(CHATS.c.id == chat_id).values(csat_conversation_id=conversation_id)
    )

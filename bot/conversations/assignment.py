"""Assignment: who on the team answers each person waiting for a human.

A queue item is a person who needs a human: their chat waits on a flow's `handoff`, or texts
of theirs no step could take are open. Round robin gives each item to an available agent with
a free slot (fewest open assigned chats first, ties to whoever was given one least recently),
up to the capacity an admin set. An item stays assigned while its agent holds the chat after
taking it over; it goes when nothing of that person's waits and nobody holds their chat, which
frees the slot.

Assignment is not takeover: an assigned chat is still the bot's until its agent takes it over.
An agent is available when they said so, have a live session and made a request in the last
`away_after`; an agent who goes away loses the items round robin gave them (not those a
colleague gave them by hand, nor chats they hold), and those go round again.

Every round locks the agent rows first (FOR UPDATE, in id order; SQLite has one writer), so two
web processes assigning at once count the same open chats and never give one agent more than
their capacity, nor one person to two agents.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, delete, exists, func, insert, or_, select, update
from sqlalchemy.engine import Connection, Engine

from bot.accounts.presence import IS_AVAILABLE, presence_params
from bot.conversations.takeover import TakeoverError, pass_on
from bot.conversations.unanswered import GIVEN_OUT_BY_ROUNDS
from bot.domain.vocabulary import SubscriberStatus
from bot.store.conversations import HELD_BY_AGENTS, WAITING_FOR_AGENTS
from bot.store.db import transaction
from bot.store.driver_sql import DriverStatement, run_together
from bot.store.models import status_is_not
from bot.store.tables import AGENT_SESSIONS as SESSIONS
from bot.store.tables import AGENTS, ASSIGNMENTS, CONVERSATIONS, SUBSCRIBERS
from bot.store.tables import UNANSWERED_TEXTS as UNANSWERED

log = logging.getLogger(__name__)
_NEVER = datetime.min.replace(tzinfo=UTC)
MAX_CAPACITY = 100  # open chats one agent may be given: more is a typo, not a person


class AssignError(Exception):
    """The chat cannot be assigned as asked; says why."""


@dataclass
class _Candidate:
    """An available agent as a round sees them."""

    id: int
    capacity: int
    open: int
    last_assigned_at: datetime | None
    given: int = 0  # when this round gave them one (1, 2 …): ties within a round

    def order(self) -> tuple[int, datetime, int, int]:
        return (self.open, self.last_assigned_at or _NEVER, self.given, self.id)


def assign_waiting(db: Engine, *, now: datetime, away_after: timedelta) -> int:
    """One round, in a transaction of its own: drop finished items, take back items of agents
    gone away, and give waiting items to available agents with free slots; returns how many
    were given."""
    with transaction(db) as connection:
        return _round(connection, now, away_after)


def _round(connection: Connection, now: datetime, away_after: timedelta) -> int:
    """A round on `connection`, in its transaction.

    What it reads grows with the team and what it has given out, not with the queue: the
    queue itself is read only when a slot is free to fill. Every question that queues someone
    runs a round, and in a burst the queue grows while the team is busy: reading it whole each
    time made each question cost more than the one before (40 ms of CPU at 5 000 waiting,
    against 1 ms with nobody on duty; bench/agent_queue.py).
    """
    agents, items = _on_duty(connection, now, away_after)
    available = {agent.id for agent in agents if agent.available}
    if not available and not items:
        # Nobody to give to and nothing given to sweep: the round has no work.
        return 0
    held, still_waiting = _held_and_still_waiting(connection)
    disabled = {agent.id for agent in agents if agent.disabled}
    assigned = _sweep(connection, items, still_waiting, held, available, disabled)
    on_duty = [agent for agent in agents if agent.id in available]
    return _give(connection, on_duty, held, assigned, now)


def _on_duty(
    connection: Connection, now: datetime, away_after: timedelta
) -> tuple[Sequence[Any], Sequence[Any]]:
    """The agents (their rows locked, on PostgreSQL; each with `available`, `disabled`,
    `capacity` and `last_assigned_at`) and the assignment rows."""
    # One round trip on PostgreSQL: the assignments are read once the agents are locked.
    agents, items = run_together(
        connection,
        [(_LOCK_AGENTS_ON_DUTY, presence_params(now, away_after)), (_ASSIGNED, {})],
    )
    return agents, items


def _held_and_still_waiting(connection: Connection) -> tuple[dict[int, int], set[int]]:
    """Whose chat an agent holds (subscriber id -> the agent), and which assigned people still
    wait for a human: one round trip on PostgreSQL."""
    held, still_waiting = run_together(connection, [(_HELD, {}), (_ASSIGNED_STILL_WAITING, {})])
    return {row.subscriber_id: row.agent_id for row in held}, set(still_waiting.scalars())


class AssignmentRound:
    """The round a turn that queued someone asks for (`ConversationService.assign`): at the
    end of the turn's own transaction on SQLite, after its commit elsewhere."""

    def __init__(self, db: Engine, *, clock: Callable[[], datetime], away_after: timedelta) -> None:
        self.db = db
        self.clock = clock
        self.away_after = away_after

    def __call__(self) -> int:
        return assign_now(self.db, clock=self.clock, away_after=self.away_after)

    def runs_in_turn(self, connection: Connection) -> bool:
        """Whether the round goes inside the turn on `connection` (`in_turn`, as it commits).

        On SQLite the turn holds the only write lock, so a round at its end sees what one
        after the commit would, but for changes committed in between: an agent turning
        available, logging in or freeing a slot runs a round of their own, which sees the
        person queued. So the round needs no write transaction of its own (it was a second
        one for every question while anyone was on duty). An agent back from idle on their
        next page load runs no round, here as before: the clock's tick gives the person out.
        On PostgreSQL a change could commit unseen by both, and a round in the turn would
        lock the agents while the turn holds its person's row, which a round giving that
        person out waits for: the round follows the commit there.
        """
        return connection.dialect.name == "sqlite"

    def in_turn(self, connection: Connection) -> None:
        """A round inside the turn's transaction, all or nothing: a failure is logged, never
        the text's failure (the next round, the clock's tick or any agent's action, gives
        the person out). At the clock's present moment, as a round after the commit: the
        turn's own may be older (a timer's batch, a wait for the writer's turn)."""
        try:
            with connection.begin_nested():  # the savepoint takes back the round's writes alone
                _round(connection, self.clock(), self.away_after)
        except Exception:  # any failure, as assign_now after a commit: never the text's
            if connection.invalidated:
                raise  # the connection is lost, and the turn with it: its caller retries
            log.exception("assignment round failed; the next one will give the waiting out")


def assign_now(db: Engine, *, clock: Callable[[], datetime], away_after: timedelta) -> int:
    """A round at the clock's present moment (the hook the conversation service calls after a
    turn that queued someone commits): a failure is logged, never the text's failure; the
    next round (the clock's tick, any agent's action) gives the person out."""
    try:
        return assign_waiting(db, now=clock(), away_after=away_after)
    except Exception:
        log.exception("assignment round failed; the next one will give the waiting out")
        return 0


def set_capacity(db: Engine, agent_id: int, capacity: int) -> None:
    """Admins: how many open chats round robin may give this agent (0: none)."""
    if not 0 <= capacity <= MAX_CAPACITY:
        raise AssignError(f"A capacity is a whole number from 0 to {MAX_CAPACITY}.")
    with transaction(db) as connection:
        found = connection.execute(
            update(AGENTS).where(AGENTS.c.id == agent_id).values(capacity=capacity)
        ).rowcount
    if not found:
        raise AssignError("There is no such agent.")


def assign_by_hand(
    db: Engine, *, conversation_id: int, to_agent: int | None, by_agent: int, now: datetime
) -> str | None:
    """Give a conversation's person to a colleague (None: back to round robin); returns the
    colleague's name. A chat the asking agent holds goes to the colleague with it."""
    with transaction(db) as connection:
        _lock_agents(connection)
        subscriber_id = connection.execute(
            select(CONVERSATIONS.c.subscriber_id).where(CONVERSATIONS.c.id == conversation_id)
        ).scalar_one_or_none()
        if subscriber_id is None:
            raise AssignError("There is no such conversation.")
        target = None
        if to_agent is not None:
            target = connection.execute(
                select(AGENTS.c.name).where(AGENTS.c.id == to_agent, AGENTS.c.disabled.is_(False))
            ).scalar_one_or_none()
            if target is None:
                raise AssignError("There is no such agent, or their account is disabled.")
        held_by = _holder(connection, subscriber_id)
        if held_by is not None and held_by != by_agent:
            raise AssignError("Another agent has this chat: only they can pass it on.")
        if held_by is None and not _waits_now(connection, subscriber_id):
            raise AssignError("Nobody is waiting here: there is nothing to assign.")
        if held_by is not None and to_agent is None:
            raise AssignError("You have this chat: hand it back first, or give it to a colleague.")
        connection.execute(delete(ASSIGNMENTS).where(ASSIGNMENTS.c.subscriber_id == subscriber_id))
        if to_agent is None:
            return None
        if held_by is not None:
            try:
                pass_on(connection, subscriber_id, by_agent, to_agent, now)
            except TakeoverError as error:
                raise AssignError(str(error)) from None
        connection.execute(
            insert(ASSIGNMENTS).values(
                subscriber_id=subscriber_id, agent_id=to_agent, by_hand=True, assigned_at=now
            )
        )
        return target


def next_away(connection: Connection, *, now: datetime, away_after: timedelta) -> datetime | None:
    """When the next agent holding items round robin gave them goes away by idleness (a
    moment for the clock to wake at and give those items round again); None: nobody."""
    last_seen = connection.execute(
        select(func.max(SESSIONS.c.last_seen_at))
        .join(ASSIGNMENTS, ASSIGNMENTS.c.agent_id == SESSIONS.c.agent_id)
        .where(SESSIONS.c.ended_at.is_(None), ASSIGNMENTS.c.by_hand.is_(False))
        .group_by(SESSIONS.c.agent_id)
    ).scalars()
    ahead = [moment + away_after for moment in last_seen if moment + away_after > now]
    return min(ahead, default=None)


def assignees(connection: Connection) -> dict[int, tuple[int, str]]:
    """Who answers whom: subscriber id -> (agent id, agent name)."""
    rows = connection.execute(
        select(ASSIGNMENTS.c.subscriber_id, AGENTS.c.id, AGENTS.c.name).join(
            AGENTS, AGENTS.c.id == ASSIGNMENTS.c.agent_id
        )
    )
    return {row.subscriber_id: (row.id, row.name) for row in rows}


# Built once: every question that queues someone runs a round, and building a statement per
# call costs more than running it.
_LOCK = select(AGENTS.c.id).order_by(AGENTS.c.id).with_for_update()
_LOCK_AGENTS_ON_DUTY = DriverStatement(
    select(
        AGENTS.c.id,
        IS_AVAILABLE.label("available"),
        AGENTS.c.disabled,
        AGENTS.c.capacity,
        AGENTS.c.last_assigned_at,
    )
    .order_by(AGENTS.c.id)
    .with_for_update()
)
_ASSIGNED = DriverStatement(select(ASSIGNMENTS))


def _lock_agents(connection: Connection) -> None:
    """Serialise rounds: every assigning transaction locks the agent rows, in id order."""
    connection.execute(_LOCK).all()


_NOT_OPTED_OUT = status_is_not(SUBSCRIBERS.c.status, SubscriberStatus.UNSUBSCRIBED)
_HANDED_OFF = and_(*WAITING_FOR_AGENTS)
_HOLDING = and_(*HELD_BY_AGENTS)


def waits_for_a_human(person: ColumnElement[int]) -> ColumnElement[bool]:
    """Whether `person` (a subscriber id) has a handoff or queued unanswered texts, each one
    look-up by the person's own index. Whoever asks also leaves out those who opted out
    (`_NOT_OPTED_OUT` on the person's own row): nobody may text them, nothing to give."""
    return or_(
        exists().where(CONVERSATIONS.c.subscriber_id == person, _HANDED_OFF),
        exists().where(UNANSWERED.c.subscriber_id == person, GIVEN_OUT_BY_ROUNDS),
    )


_HELD = DriverStatement(
    select(CONVERSATIONS.c.subscriber_id, CONVERSATIONS.c.agent_id).where(_HOLDING)
)
_ASSIGNED_STILL_WAITING = DriverStatement(
    select(ASSIGNMENTS.c.subscriber_id)
    .join(SUBSCRIBERS, SUBSCRIBERS.c.id == ASSIGNMENTS.c.subscriber_id)
    .where(_NOT_OPTED_OUT, waits_for_a_human(ASSIGNMENTS.c.subscriber_id))
)
# The whole queue (as `waits_for_a_human` says), with since when each person waits.
_HANDOFFS = (
    select(CONVERSATIONS.c.subscriber_id, CONVERSATIONS.c.updated_at)
    .join(SUBSCRIBERS, SUBSCRIBERS.c.id == CONVERSATIONS.c.subscriber_id)
    .where(_HANDED_OFF, _NOT_OPTED_OUT)
)
_OPEN_TEXTS = (
    select(UNANSWERED.c.subscriber_id, func.min(UNANSWERED.c.created_at))
    .join(SUBSCRIBERS, SUBSCRIBERS.c.id == UNANSWERED.c.subscriber_id)
    .where(GIVEN_OUT_BY_ROUNDS, _NOT_OPTED_OUT)
    .group_by(UNANSWERED.c.subscriber_id)
)


def _needs(connection: Connection) -> dict[int, datetime]:
    """Everyone waiting for a human, with since when: only a round with a slot to fill reads
    it (`_give`)."""
    needs: dict[int, datetime] = {}
    for subscriber_id, since in [*connection.execute(_HANDOFFS), *connection.execute(_OPEN_TEXTS)]:
        needs[subscriber_id] = min(since, needs.get(subscriber_id, since))
    return needs


def _waits_now(connection: Connection, subscriber_id: int) -> bool:
    """Whether this one person waits for a human."""
    found = select(SUBSCRIBERS.c.id).where(
        SUBSCRIBERS.c.id == subscriber_id, _NOT_OPTED_OUT, waits_for_a_human(SUBSCRIBERS.c.id)
    )
    return connection.execute(found).first() is not None


def _holder(connection: Connection, subscriber_id: int) -> int | None:
    """The agent who holds this person's chat, if one does."""
    return connection.execute(
        select(CONVERSATIONS.c.agent_id).where(
            CONVERSATIONS.c.subscriber_id == subscriber_id, _HOLDING
        )
    ).scalar_one_or_none()


def _sweep(
    connection: Connection,
    items: Sequence[Any],  # assignment rows
    still_waiting: set[int],  # of the people in `items`
    held: Mapping[int, int],
    available: set[int],
    disabled: set[int],
) -> dict[int, int]:
    """Drop finished `items` (assignment rows) and those of agents gone away; follow a chat taken
    over by another agent. Returns what stays assigned: subscriber id -> agent."""
    # A colleague's choice stays while its agent is away, but not once their account is off.
    kept: dict[int, int] = {}
    for row in items:
        holder = held.get(row.subscriber_id)
        mine = ASSIGNMENTS.c.subscriber_id == row.subscriber_id
        if holder is not None and holder != row.agent_id:
            connection.execute(update(ASSIGNMENTS).where(mine).values(agent_id=holder))
            kept[row.subscriber_id] = holder
        elif holder is None and (
            row.subscriber_id not in still_waiting
            or (row.agent_id not in available and (not row.by_hand or row.agent_id in disabled))
        ):
            connection.execute(delete(ASSIGNMENTS).where(mine))
        else:
            kept[row.subscriber_id] = row.agent_id
    return kept


def _give(
    connection: Connection,
    on_duty: Sequence[Any],  # the available agents' rows
    held: Mapping[int, int],
    assigned: Mapping[int, int],
    now: datetime,
) -> int:
    """Give waiting items, oldest first, to the available agents with free slots."""
    # A slot is taken by every chat the agent has: those assigned, and those they hold with no
    # assignment (taken from the queue unassigned, or a contact they texted first).
    open_counts: dict[int, int] = {}
    for agent_id in {**held, **assigned}.values():
        open_counts[agent_id] = open_counts.get(agent_id, 0) + 1
    candidates = [
        _Candidate(row.id, row.capacity, open_counts.get(row.id, 0), row.last_assigned_at)
        for row in on_duty
    ]
    if all(candidate.open >= candidate.capacity for candidate in candidates):
        return 0  # nobody on duty, or every slot taken: the queue is not read
    waiting = sorted(
        (since, subscriber_id)
        for subscriber_id, since in _needs(connection).items()
        if subscriber_id not in assigned and subscriber_id not in held
    )
    given = 0
    for _since, subscriber_id in waiting:
        free = [candidate for candidate in candidates if candidate.open < candidate.capacity]
        if not free:
            break
        chosen = min(free, key=_Candidate.order)
        connection.execute(
            insert(ASSIGNMENTS).values(
                subscriber_id=subscriber_id, agent_id=chosen.id, by_hand=False, assigned_at=now
            )
        )
        given += 1
        chosen.open += 1
        chosen.last_assigned_at = now
        chosen.given = given
    for candidate in candidates:
        if candidate.last_assigned_at == now:
            connection.execute(
                update(AGENTS).where(AGENTS.c.id == candidate.id).values(last_assigned_at=now)
            )
    return given

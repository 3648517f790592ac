"""How the agents are doing: response and resolution times, ratings, the queue over time.

Read from `agent_chat` rows (`bot/store/agent_chats.py`). Each number counts what happened in
the range: a first response when it was sent, a resolution when the chat was handed back, a
rating when it was given; days are UTC days. Only reads.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import or_, select
from sqlalchemy.engine import Connection

from bot.store.tables import AGENT_CHATS as CHATS
from bot.store.tables import AGENTS, ANSWERS, AnySelect

CSAT_ANSWER = "rating"  # the answer flows/csat.yaml saves
HANDED_BACK = "handed back"  # the outcome of a chat its agent finished
RATINGS = (1, 2, 3, 4, 5)
ALL_AGENTS = "All agents"


@dataclass(frozen=True)
class Period:
    """Whole UTC days, `first` to `last` included, optionally one agent's chats only."""

    first: date
    last: date
    agent_id: int | None = None

    @property
    def start(self) -> datetime:
        return datetime.combine(self.first, time(), UTC)

    @property
    def end(self) -> datetime:  # exclusive
        return datetime.combine(self.last + timedelta(days=1), time(), UTC)

    def days(self) -> list[date]:
        return [self.first + timedelta(days=n) for n in range((self.last - self.first).days + 1)]


@dataclass(frozen=True)
class Durations:
    """One agent's times (or everyone's, `agent` ALL_AGENTS), in minutes."""

    agent: str
    minutes: tuple[float, ...]

    @property
    def count(self) -> int:
        return len(self.minutes)

    @property
    def median(self) -> float:
        return statistics.median(self.minutes) if self.minutes else 0.0

    @property
    def average(self) -> float:
        return statistics.fmean(self.minutes) if self.minutes else 0.0


@dataclass(frozen=True)
class Ratings:
    """One agent's ratings (or everyone's), 1 to 5."""

    agent: str
    scores: tuple[int, ...]

    @property
    def count(self) -> int:
        return len(self.scores)

    @property
    def average(self) -> float:
        return statistics.fmean(self.scores) if self.scores else 0.0

    def tally(self, score: int) -> int:
        return self.scores.count(score)


@dataclass(frozen=True)
class QueueDay:
    """The queue on one day: who joined it, and how many still waited when the day ended."""

    day: date
    joined: int
    waiting_at_end: int


def first_responses(connection: Connection, period: Period) -> list[Durations]:
    """From joining the queue to the agent's first text, per agent, then everyone's."""
    sent = CHATS.c.first_reply_at
    rows = connection.execute(
        _chats(period)
        .add_columns(CHATS.c.queued_at, sent)
        .where(CHATS.c.queued_at.is_not(None), sent >= period.start, sent < period.end)
    )
    return _per_agent((row.agent, _minutes(row.first_reply_at - row.queued_at)) for row in rows)


def resolutions(connection: Connection, period: Period) -> list[Durations]:
    """From joining the queue to the agent's hand-back, per agent, then everyone's."""
    closed = CHATS.c.closed_at
    rows = connection.execute(
        _chats(period)
        .add_columns(CHATS.c.queued_at, closed)
        .where(
            CHATS.c.queued_at.is_not(None),
            CHATS.c.outcome == HANDED_BACK,
            closed >= period.start,
            closed < period.end,
        )
    )
    return _per_agent((row.agent, _minutes(row.closed_at - row.queued_at)) for row in rows)


def ratings(connection: Connection, period: Period) -> list[Ratings]:
    """The ratings given in the period to each agent's chats, then everyone's."""
    rows = connection.execute(
        _chats(period)
        .add_columns(ANSWERS.c.value)
        .join(ANSWERS, ANSWERS.c.conversation_id == CHATS.c.csat_conversation_id)
        .where(
            ANSWERS.c.name == CSAT_ANSWER,
            ANSWERS.c.created_at >= period.start,
            ANSWERS.c.created_at < period.end,
        )
    )
    by_agent: dict[str, list[int]] = defaultdict(list)
    for row in rows:
        # JSON keeps what was saved; only a whole 1-5 is a rating (True is not a 1).
        if (
            not isinstance(row.value, bool)
            and isinstance(row.value, int | float)
            and row.value in RATINGS
        ):
            by_agent[row.agent].append(int(row.value))
    everyone = [score for scores in by_agent.values() for score in scores]
    return [
        *(Ratings(agent, tuple(by_agent[agent])) for agent in sorted(by_agent)),
        Ratings(ALL_AGENTS, tuple(everyone)),
    ]


def queue_days(connection: Connection, period: Period, now: datetime) -> list[QueueDay]:
    """Per day: people who joined the queue, and those still waiting at its end (or now)."""
    rows = connection.execute(
        select(CHATS.c.queued_at, CHATS.c.taken_at, CHATS.c.first_reply_at, CHATS.c.closed_at)
        .where(
            CHATS.c.queued_at.is_not(None),
            CHATS.c.queued_at < period.end,
            or_(CHATS.c.closed_at.is_(None), CHATS.c.closed_at >= period.start),
        )
        .order_by(CHATS.c.queued_at)
    ).all()
    # A person stops waiting when an agent takes the chat, answers, or marks it done.
    spans = [
        (row.queued_at, min(t for t in row[1:] if t is not None) if any(row[1:]) else None)
        for row in rows
    ]
    days = []
    for day in period.days():
        start = datetime.combine(day, time(), UTC)
        end = min(start + timedelta(days=1), now)
        joined = sum(1 for queued, _ in spans if start <= queued < end)
        waiting = sum(1 for queued, left in spans if queued < end and (left is None or left >= end))
        days.append(QueueDay(day, joined, waiting if start < now else 0))
    return days


def _chats(period: Period) -> AnySelect:
    """Chats with their agent's name, one agent's only when the period says so."""
    statement = select(AGENTS.c.name.label("agent")).select_from(
        CHATS.join(AGENTS, AGENTS.c.id == CHATS.c.agent_id)
    )
    if period.agent_id is not None:
        statement = statement.where(CHATS.c.agent_id == period.agent_id)
    return statement


def _minutes(duration: timedelta) -> float:
    return duration.total_seconds() / 60


def _per_agent(pairs: Iterable[tuple[str, float]]) -> list[Durations]:
    by_agent: dict[str, list[float]] = defaultdict(list)
    for agent, minutes in pairs:
        by_agent[agent].append(minutes)
    everyone: Sequence[float] = [m for values in by_agent.values() for m in values]
    return [
        *(Durations(agent, tuple(by_agent[agent])) for agent in sorted(by_agent)),
        Durations(ALL_AGENTS, tuple(everyone)),
    ]

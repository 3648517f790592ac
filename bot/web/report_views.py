"""The reports page's pieces: the period asked for, each report's chart and its CSV rows.

The routes are in `analytics.py` (`/inbox/reports`, `/inbox/reports/<report>.csv`); the numbers
come from `bot/conversations/reports.py`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from markupsafe import Markup
from sqlalchemy.engine import Connection

from bot.conversations.reports import (
    RATINGS,
    Durations,
    Period,
    QueueDay,
    Ratings,
    first_responses,
    queue_days,
    ratings,
    resolutions,
)
from bot.web.charts import COLORS, Series, bar_chart

DEFAULT_DAYS = 7  # the page opens on the last week
MAX_DAYS = 366  # a year of days is as many bars as a chart can show
# The days a report may ask for: near date.min or date.max a period's bounds (and the default
# `from`, a week before `to`) are not dates any more, and no chat is that old or that new.
EARLIEST = date(1970, 1, 1)
LATEST = date(9998, 12, 31)


class BadPeriod(ValueError):
    """A query parameter of the reports is not what it must be; says which and why."""


def period_from(args: Mapping[str, str], today: date, agent_ids: Sequence[int]) -> Period:
    """The period `from`, `to` (YYYY-MM-DD, UTC days, both included) and `agent` ask for."""
    last = _day(args, "to", today)
    first = _day(args, "from", last - timedelta(days=DEFAULT_DAYS - 1))
    if first > last:
        raise BadPeriod(f"from ({first}) must not be after to ({last})")
    if (last - first).days + 1 > MAX_DAYS:
        raise BadPeriod(f"from and to may span at most {MAX_DAYS} days")
    raw_agent = args.get("agent", "").strip()
    agent_id = None
    if raw_agent:
        if not raw_agent.isdigit() or int(raw_agent) not in agent_ids:
            raise BadPeriod(f"agent: no agent has the id {raw_agent!r}")
        agent_id = int(raw_agent)
    return Period(first, last, agent_id)


def _day(args: Mapping[str, str], name: str, default: date) -> date:
    raw = args.get(name, "").strip()
    if not raw:
        return default
    try:
        day = date.fromisoformat(raw)
    except ValueError:
        raise BadPeriod(f"{name}: {raw[:40]!r} is not a date such as 2026-01-31") from None
    if not EARLIEST <= day <= LATEST:
        raise BadPeriod(f"{name}: {raw!r} is not between {EARLIEST} and {LATEST}")
    return day


def minutes(value: float) -> str:
    """A duration in minutes as the page shows it: "12.5 min"."""
    return f"{value:.1f} min"


def rating(value: float) -> str:
    """An average rating: "4.50"."""
    return f"{value:.2f}"


Rows = Callable[[Connection, Period, datetime], list[tuple[object, ...]]]
Chart = Callable[[Connection, Period, datetime], Markup]
ReadDurations = Callable[[Connection, Period], list[Durations]]


@dataclass(frozen=True)
class Report:
    """One report: its title, what its CSV's columns are, how to read and draw it."""

    title: str
    columns: tuple[str, ...]
    rows: Rows
    chart: Chart


def _duration_rows(read: ReadDurations) -> Rows:
    def rows(connection: Connection, period: Period, now: datetime) -> list[tuple[object, ...]]:
        return [
            (d.agent, d.count, round(d.median, 2), round(d.average, 2))
            for d in read(connection, period)
        ]

    return rows


def _duration_chart(title: str, read: ReadDurations) -> Chart:
    def chart(connection: Connection, period: Period, now: datetime) -> Markup:
        found = read(connection, period)
        return bar_chart(
            title,
            [f"{d.agent} ({d.count})" for d in found],
            [
                Series("median", [d.median for d in found], COLORS[0]),
                Series("average", [d.average for d in found], COLORS[1]),
            ],
            fmt=minutes,
        )

    return chart


def _rating_rows(connection: Connection, period: Period, now: datetime) -> list[tuple[object, ...]]:
    return [
        (r.agent, r.count, round(r.average, 2), *(r.tally(score) for score in RATINGS))
        for r in ratings(connection, period)
    ]


def _rating_chart(connection: Connection, period: Period, now: datetime) -> Markup:
    found: list[Ratings] = ratings(connection, period)
    return bar_chart(
        "Average rating (1-5) per agent",
        [f"{r.agent} ({r.count})" for r in found],
        [Series("average rating", [r.average for r in found], COLORS[2])],
        fmt=rating,
        maximum=5,
    )


def _queue_rows(connection: Connection, period: Period, now: datetime) -> list[tuple[object, ...]]:
    return [
        (d.day.isoformat(), d.joined, d.waiting_at_end) for d in queue_days(connection, period, now)
    ]


def _queue_chart(connection: Connection, period: Period, now: datetime) -> Markup:
    found: list[QueueDay] = queue_days(connection, period, now)
    return bar_chart(
        "The queue per day",
        [d.day.isoformat() for d in found],
        [
            Series("joined", [d.joined for d in found], COLORS[0]),
            Series("waiting at the day's end", [d.waiting_at_end for d in found], COLORS[3]),
        ],
    )


REPORTS: dict[str, Report] = {
    "first-response": Report(
        "First response: from the queue to the agent's first text",
        ("agent", "chats", "median_minutes", "average_minutes"),
        _duration_rows(first_responses),
        _duration_chart("Minutes to the first response, per agent", first_responses),
    ),
    "resolution": Report(
        "Resolution: from the queue to the hand-back",
        ("agent", "chats", "median_minutes", "average_minutes"),
        _duration_rows(resolutions),
        _duration_chart("Minutes to the hand-back, per agent", resolutions),
    ),
    "csat": Report(
        'Satisfaction: "How did we do?" (1-5)',
        ("agent", "ratings", "average", *(f"rated_{score}" for score in RATINGS)),
        _rating_rows,
        _rating_chart,
    ),
    "queue": Report(
        "The queue over time (UTC days)",
        ("day", "joined", "waiting_at_end"),
        _queue_rows,
        _queue_chart,
    ),
}

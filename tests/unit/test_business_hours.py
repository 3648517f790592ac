"""The business hours file: when the team is back, errors at file:line, the last good version."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.conversations.flow_registry import FlowRegistry
from bot.domain.business_hours import HOURS_FILE, BusinessHours, parse_hours
from bot.domain.keywords import load_vocabulary

HOURS = """\
zone: America/Los_Angeles
label: PT
hours:
  monday: "09:00-17:00"
  tuesday: "09:00-17:00"
  wednesday: "09:00-17:00"
  thursday: "09:00-17:00"
  friday: "09:00-12:30"
closed: [2026-12-25]
"""
# 2026-12-24 is a Thursday; in Los Angeles it is UTC-8 in winter, UTC-7 in summer.
CASES = [
    pytest.param(datetime(2026, 12, 18, 21, 0, tzinfo=UTC), "Monday at 9:00 AM", id="friday-pm"),
    pytest.param(datetime(2026, 12, 19, 18, 0, tzinfo=UTC), "Monday at 9:00 AM", id="saturday"),
    pytest.param(datetime(2026, 12, 21, 15, 0, tzinfo=UTC), "today at 9:00 AM", id="early"),
    pytest.param(datetime(2026, 12, 22, 2, 0, tzinfo=UTC), "tomorrow at 9:00 AM", id="evening"),
    # Thursday evening before Christmas: Friday is closed, then the weekend.
    pytest.param(datetime(2026, 12, 25, 2, 0, tzinfo=UTC), "Monday at 9:00 AM", id="holiday"),
    pytest.param(datetime(2026, 7, 3, 21, 0, tzinfo=UTC), "Monday at 9:00 AM", id="summer"),
]


def hours_of(text: str = HOURS) -> BusinessHours:
    checked = parse_hours(text, "business_hours.yaml")
    assert checked.problems == []
    assert checked.hours is not None
    return checked.hours


@pytest.mark.parametrize(("now", "back"), CASES)
def test_the_text_says_when_the_team_is_next_in(now: datetime, back: str) -> None:
    text = hours_of().back_text(now)
    assert text == f"Thanks! Our team is back {back} (PT); we'll reply then."


def test_open_hours_are_open_and_the_end_is_not() -> None:
    hours = hours_of()
    assert hours.is_open(datetime(2026, 12, 21, 17, 0, tzinfo=UTC))  # Monday 9:00 in LA
    assert not hours.is_open(datetime(2026, 12, 19, 20, 30, tzinfo=UTC))  # Friday 12:30
    assert not hours.is_open(datetime(2026, 12, 25, 18, 0, tzinfo=UTC))  # closed date


def test_without_a_label_the_zone_names_itself_and_a_reply_can_be_written() -> None:
    text = HOURS.replace("label: PT\n", "") + 'reply: "Back {back}. Thanks!"\n'
    saturday = datetime(2026, 12, 19, 18, 0, tzinfo=UTC)
    assert hours_of(text).back_text(saturday) == "Back Monday at 9:00 AM (PST). Thanks!"


def test_a_week_ahead_names_the_date() -> None:
    only_mondays = 'zone: UTC\nhours:\n  monday: "09:00-10:00"\nclosed: [2026-12-21]\n'
    back = hours_of(only_mondays).back_text(datetime(2026, 12, 15, 12, tzinfo=UTC))
    assert back == (
        "Thanks! Our team is back Monday, December 28 at 9:00 AM (UTC); we'll reply then."
    )


@pytest.mark.parametrize(
    ("text", "where"),
    [
        pytest.param("zone: Mars/Olympus\nhours:\n  monday: 09:00-17:00\n", ":1: zone:", id="zone"),
        pytest.param("zone: UTC\nhours:\n  mondey: 09:00-17:00\n", ":3: hours: 'mondey'", id="day"),
        pytest.param(
            "zone: UTC\nhours:\n  monday: 9-5\n", ":3: hours: monday: expected", id="time"
        ),
        pytest.param("zone: UTC\nhours:\n  monday: 17:00-09:00\n", ":3: hours: monday", id="order"),
        pytest.param("zone: UTC\nhours: {}\n", ":2: hours:", id="no-hours"),
        pytest.param(
            "zone: UTC\nhours:\n  monday: 09:00-17:00\nclosed:\n  - 2026-13-01\n",
            ":5: cannot read '2026-13-01'",
            id="date",
        ),
        pytest.param(
            "zone: UTC\nhours:\n  monday: 09:00-17:00\nreply: Back soon\n", ":4: reply:", id="reply"
        ),
        pytest.param(
            "zone: UTC\nhours:\n  monday: 09:00-17:00\nopen: yes\n", ":4: open:", id="key"
        ),
        pytest.param("zone: [UTC\n", ":2: bad YAML", id="yaml"),
    ],
)
def test_a_mistake_is_named_at_its_line(text: str, where: str) -> None:
    checked = parse_hours(text, "business_hours.yaml")
    assert checked.hours is None
    assert any(where in str(problem) for problem in checked.problems), checked.problems


def test_a_broken_file_keeps_the_last_good_hours(tmp_path: Path) -> None:
    registry = FlowRegistry(
        tmp_path, brand="Acme", vocabulary=load_vocabulary(None), check_interval=0
    )
    assert registry.catalog().hours is None  # no file: no hours
    (tmp_path / HOURS_FILE).write_text(HOURS, "utf-8")
    good = registry.reload().hours
    assert good is not None and good.zone == "America/Los_Angeles"

    (tmp_path / HOURS_FILE).write_text(HOURS.replace("09:00-17:00", "nine to five"), "utf-8")
    catalog = registry.reload()

    assert catalog.hours == good
    assert any(f"{HOURS_FILE}:4:" in str(problem) for problem in registry.problems)
    (tmp_path / HOURS_FILE).unlink()
    assert registry.reload().hours is None  # a removed file takes its hours away

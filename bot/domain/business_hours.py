"""The team's business hours (`FLOWS_DIR/business_hours.yaml`) and when it is next back.

With nobody available, the acknowledgement of a text no step could take says when the team
is back, by these hours, instead of promising an answer "shortly".

```yaml
zone: America/Los_Angeles   # an IANA zone: the hours are its wall clock
label: PT                   # optional: how the text names the zone (default: PST/PDT)
hours:                      # a weekday not listed is closed
  monday: "09:00-17:00"
  tuesday: "09:00-17:00"
  saturday: "10:00-14:00"
closed: [2026-12-25, 2027-01-01]  # optional: whole days off
reply: "Thanks! Our team is back {back}; we'll reply then."  # optional; {back} is filled
```
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from bot.domain.policy import END_OF_DAY, Window, is_known_zone, parse_window
from bot.domain.sending_rules import WEEKDAYS, RuleProblem
from bot.domain.yamlsource import LocatedDict, LocatedList, YamlError, load_yaml

HOURS_FILE = "business_hours.yaml"
DEFAULT_REPLY = "Thanks! Our team is back {back}; we'll reply then."
_KEYS = frozenset({"zone", "label", "hours", "closed", "reply"})
_LOOK_AHEAD_DAYS = 366  # a file whose every day is closed has no "next opening"


@dataclass(frozen=True)
class BusinessHours:
    """Weekly opening hours in one zone, with whole days off."""

    zone: str
    weekly: dict[int, Window]  # weekday (Monday 0) -> open hours
    closed: frozenset[date] = frozenset()
    label: str | None = None
    reply: str = DEFAULT_REPLY

    def is_open(self, now: datetime) -> bool:
        """Whether the team is in at `now` (an aware time)."""
        local = now.astimezone(ZoneInfo(self.zone))
        window = self._window(local.date())
        return window is not None and window.start <= local.time() < window.end

    def next_opening(self, now: datetime) -> datetime | None:
        """When the team is next in after `now`, in the zone's time; None if never (a year)."""
        local = now.astimezone(ZoneInfo(self.zone))
        for ahead in range(_LOOK_AHEAD_DAYS):
            day = local.date() + timedelta(days=ahead)
            window = self._window(day)
            if window is None:
                continue
            opening = datetime.combine(day, window.start, tzinfo=local.tzinfo)
            if opening > local:
                return opening
        return None

    def back_text(self, now: datetime) -> str | None:
        """The acknowledgement with nobody in: "Thanks! Our team is back Monday at 9:00 AM
        (PT); we'll reply then."; None when no opening is ahead."""
        opening = self.next_opening(now)
        if opening is None:
            return None
        return self.reply.replace("{back}", self._when(opening, now))

    def _window(self, day: date) -> Window | None:
        return None if day in self.closed else self.weekly.get(day.weekday())

    def _when(self, opening: datetime, now: datetime) -> str:
        today = now.astimezone(opening.tzinfo).date()
        days = (opening.date() - today).days
        if days == 0:
            day = "today"
        elif days == 1:
            day = "tomorrow"
        elif days < 7:
            day = f"{opening:%A}"
        else:
            day = f"{opening:%A}, {opening:%B} {opening.day}"
        hour = opening.hour % 12 or 12
        zone = self.label or opening.tzname() or self.zone
        return f"{day} at {hour}:{opening:%M %p} ({zone})"


@dataclass
class HoursFile:
    """A business hours file as read: its hours unless it is broken, and its problems."""

    file: str
    hours: BusinessHours | None = None
    problems: list[RuleProblem] = field(default_factory=list)


def check_hours_file(directory: Path) -> HoursFile:
    """Read and check the folder's business hours file; no file, no hours and no problems."""
    path = directory / HOURS_FILE
    if not path.is_file():
        return HoursFile(str(path))
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        return HoursFile(str(path), problems=[RuleProblem(str(path), 1, f"cannot read: {error}")])
    return parse_hours(text, str(path))


def parse_hours(text: str, file: str) -> HoursFile:
    """The business hours a file's text holds, or its problems at file:line."""
    try:
        document = load_yaml(text)
    except YamlError as error:
        return HoursFile(file, problems=[RuleProblem(file, error.line, error.message)])
    if not isinstance(document, LocatedDict):
        return HoursFile(file, problems=[RuleProblem(file, 1, "expected zone: and hours:")])
    problems: list[RuleProblem] = []

    def problem(key: str, message: str, line: int | None = None) -> None:
        problems.append(RuleProblem(file, line or document.line_of(key), f"{key}: {message}"))

    for key in sorted(set(document) - _KEYS):
        problem(key, f"unknown key (known: {', '.join(sorted(_KEYS))})")
    zone = str(document.get("zone") or "")
    if not zone:
        problem("zone", "missing: the IANA zone the hours are in, e.g. America/Los_Angeles")
    elif not is_known_zone(zone):
        problem("zone", f"{zone!r} is not an IANA time zone (America/Los_Angeles)")
    weekly = _weekly(document.get("hours"), document.line_of("hours"), problem)
    closed = _closed(document.get("closed"), problem)
    reply = document.get("reply", DEFAULT_REPLY)
    if not isinstance(reply, str) or "{back}" not in reply:
        problem("reply", "a text with {back} where the day and time go")
    label = document.get("label")
    if label is not None and not isinstance(label, str):
        problem("label", "the zone's name in the text, e.g. PT")
    if problems:
        return HoursFile(file, problems=problems)
    hours = BusinessHours(zone, weekly, closed, label, str(reply))
    return HoursFile(file, hours=hours)


def _weekly(spec: Any, line: int, problem: Any) -> dict[int, Window]:
    if not isinstance(spec, LocatedDict) or not spec:
        problem("hours", 'a weekday for each open day, e.g. monday: "09:00-17:00"', line)
        return {}
    weekly = {}
    for key, value in spec.items():
        where = spec.line_of(key)
        if key not in WEEKDAYS:
            problem("hours", f"{key!r} is not a weekday (monday … sunday)", where)
            continue
        try:
            window = parse_window(str(value))
        except ValueError as error:
            problem("hours", f"{key}: {error}", where)
            continue
        if window.end != END_OF_DAY and window.end <= window.start:
            problem("hours", f"{key}: the team must open before it closes", where)
            continue
        weekly[WEEKDAYS.index(key)] = window
    return weekly


def _closed(spec: Any, problem: Any) -> frozenset[date]:
    if spec is None:
        return frozenset()
    if not isinstance(spec, LocatedList):
        problem("closed", "a list of dates, e.g. [2026-12-25]")
        return frozenset()
    days = set()
    for value, where in zip(spec, spec.item_lines, strict=True):
        if isinstance(value, datetime):
            value = value.date()
        if not isinstance(value, date):
            try:
                value = date.fromisoformat(str(value))
            except ValueError:
                problem("closed", f"{value!r} is not a date (YYYY-MM-DD)", where)
                continue
        days.add(value)
    return frozenset(days)

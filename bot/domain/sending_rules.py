"""The law's rules for marketing texts as data: hours, days off and caps, by place.

The shipped file (`sending_rules.yaml` beside this module) holds US states' rules, each citing
its source. An operator's file adds stricter rules in the same shape; loosening a shipped rule
takes `override: <reason>` on that rule, and without it the file is refused at file:line.

```yaml
US-FL:                      # a country ("US") or a state or province ("US-FL")
  name: Florida
  hours: {every_day: "08:00-20:00", source: "Fla. Stat. § 501.616(6)(a)", checked: "2026-11-30"}
  days: {no_marketing_on: [sunday, holidays], source: "…", checked: "…"}
  cap: {per_24h: 3, source: "Fla. Stat. § 501.616(6)(b)", checked: "2026-11-30"}
```
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, time
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Literal

from bot.domain.policy import END_OF_DAY, Window, parse_window
from bot.domain.yamlsource import LocatedDict, YamlError, load_yaml

if TYPE_CHECKING:
    import holidays

SHIPPED_FILE = Path(__file__).with_name("sending_rules.yaml")
RULES_FILE = SHIPPED_FILE.name  # the operator's, in FLOWS_DIR by default (not a flow itself)
Aspect = Literal["hours", "days", "cap"]
ASPECTS: tuple[Aspect, ...] = ("hours", "days", "cap")
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_PLACE = re.compile(r"[A-Z]{2}(?:-[A-Z0-9]{1,3})?")
_WHOLE_DAY = Window(time(0), END_OF_DAY)
_ASPECT_KEYS: Mapping[Aspect, frozenset[str]] = {
    "hours": frozenset({"every_day", *WEEKDAYS}),
    "days": frozenset({"no_marketing_on"}),
    "cap": frozenset({"per_24h"}),
}
_COMMON_KEYS = frozenset({"source", "checked", "override"})


@dataclass(frozen=True)
class RuleProblem:
    """Something wrong with a rules file, at file:line; a warning does not stop it loading."""

    file: str
    line: int
    message: str
    warning: bool = False

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {'warning: ' if self.warning else ''}{self.message}"


class RulesFileError(ValueError):
    """A rules file that cannot be used; the message lists each error at file:line."""

    def __init__(self, problems: Iterable[RuleProblem]) -> None:
        self.problems = tuple(problems)
        super().__init__("; ".join(str(problem) for problem in self.problems))


@dataclass(frozen=True)
class PlaceRule:
    """One rule of one place: its hours, its days without marketing, or its cap."""

    place: str
    name: str  # "Florida hours": what reasons and previews call it
    aspect: Aspect
    source: str
    checked: str
    where: str  # file:line, for problems and the start-up log
    every_day: Window = _WHOLE_DAY
    by_weekday: Mapping[int, Window] = field(default_factory=dict, hash=False)
    days_off: frozenset[int] = frozenset()
    holidays: bool = False
    per_24h: int | None = None
    override: str | None = None  # why this rule loosens a shipped one

    def problem(self, message: str, *, warning: bool = False) -> RuleProblem:
        """A problem reported at this rule's file and line."""
        file, _, line = self.where.rpartition(":")
        return RuleProblem(file, int(line), message, warning=warning)

    def window_on(self, day: date) -> Window | None:
        """The local hours marketing texts may go out on `day`; None: not at all that day."""
        if day.weekday() in self.days_off or (self.holidays and day in _calendar(self.place)):
            return None
        return self.by_weekday.get(day.weekday(), self.every_day)

    def reason_on(self, day: date) -> str:
        """Why a text is held on `day`, naming the rule's source."""
        if self.aspect == "cap":
            return f"{self.source}: {self.per_24h} marketing texts in 24 h"
        window = self.window_on(day)
        if window is not None:
            return f"{self.source}: {window}"
        holiday = _calendar(self.place).get(day) if self.holidays else None
        off = holiday if holiday else f"{WEEKDAYS[day.weekday()].capitalize()}s"
        return f"{self.source}: no marketing texts on {off}"

    def looser_than(self, shipped: PlaceRule) -> str | None:
        """How this rule allows more than `shipped` does, or None when it allows no more."""
        if self.aspect == "cap":
            if (self.per_24h or 0) > (shipped.per_24h or 0):
                return f"{self.per_24h} in 24 h where it allows {shipped.per_24h}"
            return None
        if self.aspect == "days":
            kept = self.days_off >= shipped.days_off and (self.holidays or not shipped.holidays)
            return None if kept else "fewer days without marketing texts"
        for weekday, day_name in enumerate(WEEKDAYS):
            mine = self.by_weekday.get(weekday, self.every_day)
            theirs = shipped.by_weekday.get(weekday, shipped.every_day)
            if mine.start < theirs.start or mine.end > theirs.end:
                return f"{mine} on {day_name} where it allows {theirs}"
        return None


@dataclass(frozen=True)
class RuleBook:
    """Every rule in force, by place."""

    by_place: Mapping[str, tuple[PlaceRule, ...]] = field(default_factory=dict, hash=False)
    overrides: tuple[PlaceRule, ...] = ()  # operator rules that loosen a shipped one

    def __post_init__(self) -> None:
        object.__setattr__(self, "by_place", MappingProxyType(dict(self.by_place)))

    def for_places(self, places: Iterable[str]) -> tuple[PlaceRule, ...]:
        """The rules of every place given: a recipient is held to all of them."""
        return tuple(
            rule for place in dict.fromkeys(places) for rule in self.by_place.get(place, ())
        )

    def rules(self) -> tuple[PlaceRule, ...]:
        """Every rule, by place then aspect."""
        return tuple(rule for place in sorted(self.by_place) for rule in self.by_place[place])


@functools.cache
def _calendar(place: str) -> holidays.HolidayBase:
    """The public holidays of a country ("US") or of a state with its country's ("US-LA")."""
    import holidays  # slow to import: only a process that sends marketing texts needs it

    country, _, subdivision = place.partition("-")
    return holidays.country_holidays(country, subdiv=subdivision or None)


def parse_rules(
    text: str, file: str, *, check_calendars: bool = True
) -> tuple[list[PlaceRule], list[RuleProblem]]:
    """The rules a file's text holds, and every problem found at its line.

    `check_calendars=False` skips asking the holidays package whether it knows each place whose
    days include `holidays`: only for the shipped file, whose places a test checks, as loading
    the package cost every process 0.13 s at start (most never send a marketing text).
    """
    problems: list[RuleProblem] = []
    try:
        document = load_yaml(text)
    except YamlError as error:
        return [], [RuleProblem(file, error.line, error.message)]
    if document is None:
        return [], []
    if not isinstance(document, LocatedDict):
        return [], [RuleProblem(file, 1, "a rules file maps places (US-FL) to their rules")]
    rules: list[PlaceRule] = []
    for place, spec in document.items():
        line = document.line_of(place)
        try:
            place_rules = _place_rules(place, spec, file, line)
        except _Bad as bad:
            problems.append(RuleProblem(file, bad.line or line, f"{place}: {bad}"))
            continue
        rules.extend(place_rules)
        if check_calendars:
            problems += _places_without_calendars(place_rules)
    return rules, problems


def _places_without_calendars(rules: Iterable[PlaceRule]) -> list[RuleProblem]:
    """A problem at the rule's line for each rule of days off on holidays whose place the
    holidays package does not know."""
    problems: list[RuleProblem] = []
    for rule in rules:
        if not rule.holidays:
            continue
        try:
            _calendar(rule.place)
        except NotImplementedError:
            problems.append(
                rule.problem(f"{rule.place}: the holidays package knows no holidays for this place")
            )
    return problems


class _Bad(ValueError):
    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.line = line


def _place_rules(place: str, spec: Any, file: str, line: int) -> list[PlaceRule]:
    if not _PLACE.fullmatch(place):
        raise _Bad("a place is a country code (US) or a state code after it (US-FL)")
    if not isinstance(spec, LocatedDict):
        raise _Bad("expected `name` and at least one of hours, days, cap")
    unknown = set(spec) - {"name", *ASPECTS}
    if unknown:
        raise _Bad(f"unknown key {sorted(unknown)[0]!r} (known: name, hours, days, cap)")
    name = str(spec.get("name") or place)
    found = []
    for aspect in ASPECTS:
        if aspect in spec:
            where = spec.line_of(aspect)
            found.append(_rule(place, name, aspect, spec[aspect], f"{file}:{where}", where))
    if not found:
        raise _Bad("no rule: give hours, days or cap")
    return found


def _rule(place: str, name: str, aspect: Aspect, spec: Any, where: str, line: int) -> PlaceRule:
    if not isinstance(spec, LocatedDict):
        raise _Bad(f"{aspect} holds its values with `source` and `checked`", line)
    unknown = set(spec) - _ASPECT_KEYS[aspect] - _COMMON_KEYS
    if unknown:
        raise _Bad(
            f"{aspect}: unknown key {sorted(unknown)[0]!r}", spec.line_of(sorted(unknown)[0])
        )
    for required in ("source", "checked"):
        if not str(spec.get(required) or "").strip():
            raise _Bad(
                f"{aspect} needs `{required}`: the law it follows and when it was read", line
            )
    override = spec.get("override")
    common: dict[str, Any] = {
        "place": place,
        "name": f"{name} {aspect}",
        "aspect": aspect,
        "source": str(spec["source"]).strip(),
        "checked": str(spec["checked"]).strip(),
        "where": where,
        "override": str(override).strip() if override else None,
    }
    try:
        if aspect == "hours":
            return PlaceRule(**common, **_hours(spec))
        if aspect == "days":
            return PlaceRule(**common, **_days(place, spec))
        per_24h = spec.get("per_24h")
        if isinstance(per_24h, bool) or not isinstance(per_24h, int) or per_24h < 1:
            raise _Bad(
                "cap: per_24h is a whole number of texts, at least 1", spec.line_of("per_24h")
            )
        return PlaceRule(**common, per_24h=per_24h)
    except _Bad as bad:
        raise _Bad(str(bad), bad.line or line) from None


def _hours(spec: LocatedDict) -> dict[str, Any]:
    if "every_day" not in spec:
        raise _Bad('hours needs every_day: "HH:MM-HH:MM" (a weekday may differ)')
    windows = {}
    for key in ("every_day", *WEEKDAYS):
        if key in spec:
            try:
                windows[key] = parse_window(str(spec[key]))
            except ValueError as error:
                raise _Bad(f"hours {key}: {error}", spec.line_of(key)) from None
    by_weekday = {WEEKDAYS.index(key): window for key, window in windows.items() if key in WEEKDAYS}
    return {"every_day": windows["every_day"], "by_weekday": by_weekday}


def _days(place: str, spec: LocatedDict) -> dict[str, Any]:
    listed = spec.get("no_marketing_on")
    if not isinstance(listed, list) or not listed:
        raise _Bad("days: no_marketing_on lists weekdays and/or `holidays`")
    words = [str(word).strip().lower() for word in listed]
    wrong = [word for word in words if word not in WEEKDAYS and word != "holidays"]
    if wrong:
        raise _Bad(f"days: {wrong[0]!r} is neither a weekday (sunday) nor `holidays`")
    return {
        "days_off": frozenset(WEEKDAYS.index(word) for word in words if word in WEEKDAYS),
        "holidays": "holidays" in words,
    }


def combine(
    shipped: Iterable[PlaceRule], added: Iterable[PlaceRule]
) -> tuple[RuleBook, list[RuleProblem]]:
    """The shipped rules with an operator's: every rule holds, so the strictest wins, except
    where an operator rule with `override:` replaces the shipped rule it loosens."""
    by_key = {(rule.place, rule.aspect): rule for rule in shipped}
    kept: dict[str, list[PlaceRule]] = {}
    for rule in by_key.values():
        kept.setdefault(rule.place, []).append(rule)
    problems: list[RuleProblem] = []
    overrides: list[PlaceRule] = []
    for rule in added:
        base = by_key.get((rule.place, rule.aspect))
        looser = None if base is None else rule.looser_than(base)
        if base is not None and rule.override:
            kept[rule.place].remove(base)
            overrides.append(rule)
            problems.append(
                rule.problem(
                    f"{rule.name} overrides the shipped rule ({base.source}): {rule.override}",
                    warning=True,
                )
            )
        elif looser:
            problems.append(
                rule.problem(
                    f"{rule.name} is looser than the shipped rule ({base.source if base else ''}):"
                    f" {looser}; to loosen it on purpose, add `override: <why>` to this rule"
                )
            )
            continue
        kept.setdefault(rule.place, []).append(rule)
    return RuleBook(
        {place: tuple(rules) for place, rules in kept.items()}, tuple(overrides)
    ), problems


@functools.cache
def shipped_rules() -> tuple[PlaceRule, ...]:
    """The rules shipped with Parley, read once."""
    text = SHIPPED_FILE.read_text(encoding="utf-8")
    rules, problems = parse_rules(text, SHIPPED_FILE.name, check_calendars=False)
    if problems:
        raise RulesFileError(problems)
    return tuple(rules)


def check_rules_file(path: Path | None) -> tuple[RuleBook, list[RuleProblem]]:
    """The rules in force with the operator's file at `path` (if any), and its problems."""
    added: list[PlaceRule] = []
    problems: list[RuleProblem] = []
    if path is not None and path.is_file():
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            return RuleBook(), [RuleProblem(str(path), 1, f"cannot read it: {error}")]
        added, problems = parse_rules(text, str(path))
    book, merged = combine(shipped_rules(), added)
    return book, problems + merged


def load_rule_book(path: Path | None) -> RuleBook:
    """The rules in force; raises RulesFileError naming each error's file and line."""
    book, problems = check_rules_file(path)
    errors = [problem for problem in problems if not problem.warning]
    if errors:
        raise RulesFileError(errors)
    return book


@functools.cache
def shipped_rule_book() -> RuleBook:
    """The shipped rules alone: what the policy holds texts to when nothing else is given."""
    return combine(shipped_rules(), ())[0]


def markdown_table(rules: Iterable[PlaceRule]) -> str:
    """The rules as the README's table: place, rule, what it allows, source, when checked."""
    lines = ["| place | rule | what it allows | source | checked |", "|---|---|---|---|---|"]
    for rule in rules:
        lines.append(
            f"| {rule.place} | {rule.name} | {describe(rule)} | {rule.source} | {rule.checked} |"
        )
    return "\n".join(lines)


def describe(rule: PlaceRule) -> str:
    """What a rule allows, in a few words."""
    if rule.aspect == "cap":
        return f"at most {rule.per_24h} marketing texts in 24 h"
    if rule.aspect == "days":
        days = [f"{WEEKDAYS[day].capitalize()}s" for day in sorted(rule.days_off)]
        return "none on " + " and ".join([*days, *(["holidays"] if rule.holidays else [])])
    differing = "".join(
        f", {WEEKDAYS[day].capitalize()} {window}"
        for day, window in sorted(rule.by_weekday.items())
    )
    return f"{rule.every_day}{differing} local time"

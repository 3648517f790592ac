"""The one send policy every outbound text passes. Pure: values in, a verdict out.

Consent first, then quiet hours in the recipient's local time, then the promotional frequency
cap. A promotional text is also held to the law of each place its recipient is in (their
state's hours, days without marketing and caps: `sending_rules.py`); the strictest rule wins.
A text held by quiet hours, a rule or the cap is deferred to the earliest allowed moment, never
dropped; only a misconfiguration (no sending hours at all) or `over_cap="skip"` suppresses it.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from types import MappingProxyType
from typing import TYPE_CHECKING, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.domain.vocabulary import Purpose, SubscriberStatus

if TYPE_CHECKING:  # sending_rules builds on this module's windows
    from bot.domain.sending_rules import PlaceRule, RuleBook


class Verdict(StrEnum):
    SEND = "send"
    DEFER = "defer"  # not now: try again at `send_at`
    SUPPRESS = "suppress"


@dataclass(frozen=True)
class Decision:
    """Whether a text may go out now, later (`send_at`) or never, and why not now."""

    verdict: Verdict
    reason: str | None = None
    send_at: datetime | None = None  # DEFER only: the earliest allowed moment (aware UTC)
    # DEFER only: the rule that held it ("Florida hours", "SENDING_HOURS", …); not stored.
    rule: str | None = field(default=None, compare=False)

    @property
    def allowed(self) -> bool:
        return self.verdict is Verdict.SEND

    def to_json(self) -> dict[str, str | None]:
        """The decision as stored with a text (`message.decision`)."""
        return {
            "verdict": self.verdict.value,
            "reason": self.reason,
            "send_at": None if self.send_at is None else self.send_at.isoformat(),
        }

    @classmethod
    def from_json(cls, stored: Mapping[str, str | None]) -> Decision:
        """A decision as `to_json` stored it."""
        send_at = stored.get("send_at")
        return cls(
            Verdict(str(stored["verdict"])),
            stored.get("reason"),
            None if send_at is None else datetime.fromisoformat(send_at),
        )


SEND = Decision(Verdict.SEND)

END_OF_DAY = time.max  # what "24:00" parses to: a window may run up to midnight


def is_known_zone(name: str) -> bool:
    """Whether `name` is an IANA time zone zoneinfo can load ("America/Chicago")."""
    return _zone(name) is not None


class _NoSendingHours(Exception):
    """The configured windows leave no hour at all for a recipient."""


@functools.lru_cache(maxsize=1024)  # a failed lookup reads the disk every time otherwise
def _zone(name: str) -> ZoneInfo | None:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def _place_key(place: str) -> str:
    key = place.strip()
    if len(key) == 2 and key.isalpha():
        return key.upper()
    if is_known_zone(key):
        return key
    raise ValueError(
        f"{place.strip()!r} is neither a two-letter country code (US, DE)"
        " nor a time zone zoneinfo knows (America/Chicago)"
    )


@dataclass(frozen=True)
class Window:
    """Local wall-clock hours texts may go out: from `start` up to, not including, `end`."""

    start: time
    end: time

    def __post_init__(self) -> None:
        if self.start.tzinfo is not None or self.end.tzinfo is not None:
            raise ValueError("a sending window is local wall-clock time: pass naive times")
        if self.start >= self.end:
            raise ValueError(
                f"{self} must start before it ends on the same day (a window cannot cross midnight)"
            )

    def __contains__(self, moment: time) -> bool:
        return self.start <= moment < self.end

    def __str__(self) -> str:
        return f"{_clock(self.start)}-{_clock(self.end)}"

    def overlap(self, other: Window) -> Window | None:
        """The hours both windows allow, or None when they share none."""
        start, end = max(self.start, other.start), min(self.end, other.end)
        return Window(start, end) if start < end else None


DEFAULT_SENDING_HOURS = Window(time(8), time(21))


@dataclass(frozen=True)
class PolicyRules:
    """The operator's knobs (see Settings.policy_rules)."""

    sending_hours: Window = DEFAULT_SENDING_HOURS
    # Stricter windows for some places, keyed by ISO country ("US") or IANA zone
    # ("America/Chicago"); a two-letter key is always a country.
    regional_hours: Mapping[str, Window] = field(default_factory=dict, hash=False)
    default_zone: str = "America/New_York"  # when nothing is known about the recipient
    promotional_per_day: int | None = 3  # per rolling 24 h; None: no cap
    over_cap: Literal["defer", "skip"] = "defer"
    # The law's rules by place (sending_rules.py); None: the shipped rules alone.
    place_rules: RuleBook | None = field(default=None, compare=False)

    def rules_for(self, places: tuple[str, ...]) -> tuple[PlaceRule, ...]:
        """The rules a recipient in these places is held to."""
        if not places:
            return ()
        book = self.place_rules
        if book is None:
            from bot.domain.sending_rules import shipped_rule_book

            book = shipped_rule_book()
        return book.for_places(places)

    def __post_init__(self) -> None:
        regional = {_place_key(place): window for place, window in self.regional_hours.items()}
        object.__setattr__(self, "regional_hours", MappingProxyType(regional))
        if not is_known_zone(self.default_zone):
            raise ValueError(
                f"default_zone {self.default_zone!r} is not a time zone zoneinfo knows"
            )
        if self.promotional_per_day is not None and self.promotional_per_day < 1:
            raise ValueError("promotional_per_day must be at least 1, or None for no cap")
        if self.over_cap not in ("defer", "skip"):
            raise ValueError(f"over_cap must be 'defer' or 'skip', not {self.over_cap!r}")


DEFAULT_RULES = PolicyRules()


@dataclass(frozen=True)
class SendContext:
    """Everything the policy needs to know about one text and its recipient."""

    purpose: Purpose
    recipient_status: SubscriberStatus
    now: datetime  # aware
    zones: tuple[str, ...] = ()  # the recipient's IANA zone(s); several when the region spans zones
    country: str | None = None  # ISO country of the number, for regional_hours
    # Where the law follows them: their country and state ("US", "US-FL"); several when
    # their number's area spans states, and then every one's rules hold.
    places: tuple[str, ...] = ()
    replying: bool = False  # an immediate answer to a text the person just sent
    # When promotional texts went to them; the caller passes the last 24 h (older ones are ignored).
    recent_promotional: tuple[datetime, ...] = ()

    def __post_init__(self) -> None:
        if self.now.utcoffset() is None:
            raise ValueError("SendContext.now must be timezone-aware")
        if any(sent.utcoffset() is None for sent in self.recent_promotional):
            raise ValueError("SendContext.recent_promotional must hold timezone-aware datetimes")


# What each consent status lets through. Compliance texts (the opt-out confirmation, a HELP
# answer, the double opt-in request) are what carriers require us to send, so they always pass.
_ALLOWED: dict[SubscriberStatus, frozenset[Purpose]] = {
    SubscriberStatus.UNSUBSCRIBED: frozenset({Purpose.COMPLIANCE}),
    SubscriberStatus.NEW: frozenset({Purpose.COMPLIANCE, Purpose.REPLY, Purpose.TRANSACTIONAL}),
    SubscriberStatus.PENDING: frozenset({Purpose.COMPLIANCE, Purpose.REPLY, Purpose.TRANSACTIONAL}),
    SubscriberStatus.SUBSCRIBED: frozenset(Purpose),
}

# Texts that wait for the recipient's sending hours (unless they answer a text just received).
_HELD_BY_QUIET_HOURS = frozenset({Purpose.PROMOTIONAL, Purpose.REPLY})
_CAP_PERIOD = timedelta(hours=24)
# How far ahead to look for a moment inside every zone's window; offsets only change at DST
# transitions, so if none turns up within a week the zones' windows never meet.
_SEARCH_HORIZON = timedelta(days=7)


def decide_consent(purpose: Purpose, recipient_status: SubscriberStatus) -> Decision:
    """Consent only: an opted-out number gets compliance texts only, marketing needs opt-in."""
    if purpose in _ALLOWED[recipient_status]:
        return SEND
    if recipient_status is SubscriberStatus.UNSUBSCRIBED:
        return Decision(Verdict.SUPPRESS, "recipient opted out")
    return Decision(Verdict.SUPPRESS, f"no marketing consent (status {recipient_status})")


def decide(context: SendContext, rules: PolicyRules = DEFAULT_RULES) -> Decision:
    """Consent, then quiet hours in the recipient's local time, then the promotional caps."""
    consent = decide_consent(context.purpose, context.recipient_status)
    if not consent.allowed:
        return consent
    if context.replying or context.purpose not in _HELD_BY_QUIET_HOURS:
        return SEND

    now = context.now.astimezone(UTC)
    earliest = now
    reasons: list[str] = []
    held_by: str | None = None
    place_rules = _place_rules(context, rules)
    caps: list[tuple[int, PlaceRule | None]] = []
    if context.purpose is Purpose.PROMOTIONAL and rules.promotional_per_day is not None:
        caps.append((rules.promotional_per_day, None))
    caps += [(rule.per_24h, rule) for rule in place_rules if rule.per_24h is not None]
    for cap, place_rule in caps:
        cap_lifts_at = _cap_lifts_at(now, context.recent_promotional, cap)
        if cap_lifts_at is None:
            continue
        if place_rule is None:
            texts = "text" if cap == 1 else "texts"
            reasons.append(f"frequency cap: {cap} promotional {texts} in 24 h")
            if rules.over_cap == "skip":
                return Decision(Verdict.SUPPRESS, reasons[-1])
            name = "PROMOTIONAL_PER_DAY"
        else:  # the law's caps defer, whatever OVER_CAP says: a text is never dropped by them
            reasons.append(place_rule.reason_on(now.date()))
            name = place_rule.name
        if cap_lifts_at > earliest:
            earliest, held_by = cap_lifts_at, name
    return _within_sending_hours(context, rules, now, earliest, reasons, held_by, place_rules)


def decide_sending_hours(context: SendContext, rules: PolicyRules = DEFAULT_RULES) -> Decision:
    """Sending hours alone, for a text already queued: may it leave now, in the recipient's time?

    The dispatcher asks this when it claims a text that waited (an outage, a retry): quiet
    hours, or a day without marketing, may have begun meanwhile. Consent is checked apart; the
    caps were counted at queueing.
    """
    if context.replying or context.purpose not in _HELD_BY_QUIET_HOURS:
        return SEND
    now = context.now.astimezone(UTC)
    return _within_sending_hours(context, rules, now, now, [], None, _place_rules(context, rules))


def _place_rules(context: SendContext, rules: PolicyRules) -> tuple[PlaceRule, ...]:
    """The law's rules for this text: marketing texts only, in every place of the recipient."""
    if context.purpose is not Purpose.PROMOTIONAL:
        return ()
    return rules.rules_for(context.places)


def _within_sending_hours(
    context: SendContext,
    rules: PolicyRules,
    now: datetime,
    earliest: datetime,
    reasons: list[str],
    held_by: str | None,
    place_rules: tuple[PlaceRule, ...],
) -> Decision:
    """SEND if `earliest` is now and inside all the recipient's hours, else when it may go."""
    try:
        hours = _recipient_hours(context, rules, place_rules)
    except _NoSendingHours as problem:
        return Decision(Verdict.SUPPRESS, str(problem))
    opening = _earliest_opening(earliest, hours)
    if opening is None:
        places = ", ".join(dict.fromkeys(held.zone_name for held in hours))
        return Decision(Verdict.SUPPRESS, f"no sending hours shared by all of {places}")
    send_at, holds = opening
    # Each of the law's rules that held it is named; of the operator's hours, the last.
    for index, (holding, day) in enumerate(holds):
        if holding.place_rule is not None or index == len(holds) - 1:
            reason = holding.reason(day, send_at)
            if reason not in reasons:
                reasons.append(reason)
    if holds and held_by is None:
        held_by = holds[0][0].rule  # what held it first: the rule the text waits for
    if send_at <= now:
        return SEND
    return Decision(Verdict.DEFER, "; then ".join(reasons), send_at=send_at, rule=held_by)


def parse_window(text: str) -> Window:
    """ "08:00-21:00" -> Window(08:00, 21:00); the end is exclusive and may be 24:00."""
    match = re.fullmatch(r"\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*", text)
    if match is None:
        raise ValueError(f"expected HH:MM-HH:MM such as 08:00-21:00, got {text!r}")
    start_hour, start_minute, end_hour, end_minute = (int(part) for part in match.groups())
    return Window(_time_of_day(start_hour, start_minute), _time_of_day(end_hour, end_minute))


def parse_regional_hours(text: str) -> dict[str, Window]:
    """ "US=08:00-20:00,America/Chicago=09:00-20:00" -> {place: Window}; 2 letters: a country."""
    windows: dict[str, Window] = {}
    for entry in text.split(","):
        if not entry.strip():
            continue
        place, equals, hours = entry.partition("=")
        if not equals:
            raise ValueError(f"expected PLACE=HH:MM-HH:MM such as US=08:00-20:00, got {entry!r}")
        key = _place_key(place)
        if key in windows:
            raise ValueError(f"{key} is listed twice")
        try:
            windows[key] = parse_window(hours)
        except ValueError as error:
            raise ValueError(f"{key}: {error}") from None
    return windows


def _time_of_day(hour: int, minute: int) -> time:
    if (hour, minute) == (24, 0):
        return END_OF_DAY
    if hour > 23 or minute > 59:
        raise ValueError(f"{hour:02d}:{minute:02d} is not a time of day")
    return time(hour, minute)


def _clock(moment: time) -> str:
    return "24:00" if moment == END_OF_DAY else f"{moment:%H:%M}"


def _cap_lifts_at(
    now: datetime, recent_promotional: tuple[datetime, ...], cap: int
) -> datetime | None:
    """When the count of promotional texts in the last 24 h drops below `cap` (None: it is)."""
    counted = sorted(sent for sent in recent_promotional if sent > now - _CAP_PERIOD)
    if len(counted) < cap:
        return None
    # Once this one is 24 h old, only cap - 1 remain inside the rolling day.
    return counted[len(counted) - cap].astimezone(UTC) + _CAP_PERIOD


@dataclass(frozen=True)
class _Hours:
    """Hours a text must fall in, in one of the recipient's zones: the operator's window, or
    the days and hours of one of the law's rules."""

    zone_name: str
    zone: ZoneInfo
    rule: str  # what holds a text outside them: "SENDING_HOURS", or the rule's name
    window: Window | None = None  # the operator's, every day
    place_rule: PlaceRule | None = None

    def window_on(self, day: date) -> Window | None:
        return self.window if self.place_rule is None else self.place_rule.window_on(day)

    def reason(self, day: date, opening: datetime) -> str:
        if self.place_rule is not None:
            return self.place_rule.reason_on(day)
        return f"quiet hours in {self.zone_name} until {opening.astimezone(self.zone):%H:%M}"


def _recipient_hours(
    context: SendContext, rules: PolicyRules, place_rules: tuple[PlaceRule, ...]
) -> list[_Hours]:
    """Each of the recipient's zones with the operator's window there, then the law's hours."""
    names = [name for name in dict.fromkeys(context.zones) if is_known_zone(name)]
    if not names:
        names = [rules.default_zone]
    country = context.country.upper() if context.country else None
    hours = []
    for name in names:
        window: Window | None = rules.sending_hours
        for place in (country, name):
            regional = rules.regional_hours.get(place) if place else None
            if regional is not None and window is not None:
                window = window.overlap(regional)
        if window is None:
            raise _NoSendingHours(
                f"no sending hours in {name}: the configured windows don't overlap"
            )
        hours.append(_Hours(name, ZoneInfo(name), "SENDING_HOURS", window=window))
    hours += [
        _Hours(name, ZoneInfo(name), rule.name, place_rule=rule)
        for rule in place_rules
        if rule.aspect != "cap"
        for name in names
    ]
    return hours


def _earliest_opening(
    earliest: datetime, hours: list[_Hours]
) -> tuple[datetime, list[tuple[_Hours, date]]] | None:
    """The first moment from `earliest` inside all `hours`, and what held it back on what
    day, in order.

    Jumps from opening to opening rather than stepping minute by minute; each jump moves
    strictly forward, so the search ends at the horizon at the latest.
    """
    moment = earliest
    held: list[tuple[_Hours, date]] = []
    while moment <= earliest + _SEARCH_HORIZON:
        for candidate in hours:
            local = moment.astimezone(candidate.zone)
            window = candidate.window_on(local.date())
            if window is None or local.time() not in window:
                opening = _next_opening(moment, candidate)
                if opening is None:
                    return None
                moment = opening
                held.append((candidate, local.date()))
                break
        else:
            return moment, held
    return None


_MAX_CLOSED_DAYS = 14  # days without any hours in a row, past which a rule never opens


def _next_opening(moment: datetime, hours: _Hours) -> datetime | None:
    """The first instant after `moment` at which `hours` open (aware UTC), if within reach."""
    day = moment.astimezone(hours.zone).date()
    for _ in range(_MAX_CLOSED_DAYS):
        window = hours.window_on(day)
        if window is not None:
            opening = _opening_on(day, window.start, hours.zone, after=moment)
            if opening is not None:
                return opening
        day += timedelta(days=1)
    return None


def _opening_on(day: date, start: time, zone: ZoneInfo, *, after: datetime) -> datetime | None:
    """The first instant after `after` at which the clock in `zone` reads `start` on `day`."""
    wall = datetime.combine(day, start)
    instants = set()
    for fold in (0, 1):  # a fall-back day shows the same wall time twice
        instant = wall.replace(tzinfo=zone, fold=fold).astimezone(UTC)
        if instant.astimezone(zone).replace(tzinfo=None) == wall:
            instants.add(instant)
    if not instants:  # a spring-forward gap skips this wall time: the window opens at the jump
        instants.add(_clock_jump(wall, zone))
    later = [instant for instant in instants if instant > after]
    return min(later) if later else None


def _clock_jump(wall: datetime, zone: ZoneInfo) -> datetime:
    """The instant a spring-forward jump skips `wall`: the first whose clock reads past it."""
    before, past = sorted(int(wall.replace(tzinfo=zone, fold=fold).timestamp()) for fold in (0, 1))
    while past - before > 1:  # the clock reads before `wall` at `before`, past it at `past`
        middle = (before + past) // 2
        if datetime.fromtimestamp(middle, zone).replace(tzinfo=None) >= wall:
            past = middle
        else:
            before = middle
    return datetime.fromtimestamp(past, UTC)

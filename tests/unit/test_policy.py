"""The send policy, table-tested: consent, quiet hours in local time, the promotional cap."""

from __future__ import annotations

import random
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.domain.policy import (
    DEFAULT_RULES,
    Decision,
    PolicyRules,
    SendContext,
    Verdict,
    Window,
    decide,
    decide_consent,
    parse_regional_hours,
    parse_window,
)
from bot.domain.recipient_zones import country_of, zones_for
from bot.domain.vocabulary import Purpose, SubscriberStatus
from bot.settings import load_settings

S = SubscriberStatus
P = Purpose
NY = "America/New_York"
LA = "America/Los_Angeles"
CHICAGO = "America/Chicago"
DENVER = "America/Denver"
ND_CENTRAL = "America/North_Dakota/Center"


def local(zone: str, wall: str, *, fold: int = 0) -> datetime:
    """An aware moment from a wall-clock reading in `zone`: local(LA, "2026-06-15 06:59")."""
    return datetime.fromisoformat(wall).replace(tzinfo=ZoneInfo(zone), fold=fold)


def utc(wall: str) -> datetime:
    return datetime.fromisoformat(wall).replace(tzinfo=UTC)


def promo(now: datetime, *zones: str, **fields: object) -> SendContext:
    """A promotional text to a subscriber, at `now`, in `zones`."""
    values: dict[str, object] = {
        "purpose": P.PROMOTIONAL,
        "recipient_status": S.SUBSCRIBED,
        "now": now,
        "zones": zones,
    }
    values.update(fields)
    return SendContext(**values)  # type: ignore[arg-type]


def rules(**fields: object) -> PolicyRules:
    return PolicyRules(**fields)  # type: ignore[arg-type]


# --- consent -------------------------------------------------------------------------------

CONSENT_CASES = [
    (S.UNSUBSCRIBED, P.COMPLIANCE, Verdict.SEND),
    (S.UNSUBSCRIBED, P.REPLY, Verdict.SUPPRESS),
    (S.UNSUBSCRIBED, P.TRANSACTIONAL, Verdict.SUPPRESS),
    (S.UNSUBSCRIBED, P.PROMOTIONAL, Verdict.SUPPRESS),
    (S.NEW, P.COMPLIANCE, Verdict.SEND),
    (S.NEW, P.REPLY, Verdict.SEND),
    (S.NEW, P.TRANSACTIONAL, Verdict.SEND),
    (S.NEW, P.PROMOTIONAL, Verdict.SUPPRESS),
    (S.PENDING, P.COMPLIANCE, Verdict.SEND),
    (S.PENDING, P.REPLY, Verdict.SEND),
    (S.PENDING, P.TRANSACTIONAL, Verdict.SEND),
    (S.PENDING, P.PROMOTIONAL, Verdict.SUPPRESS),
    (S.SUBSCRIBED, P.COMPLIANCE, Verdict.SEND),
    (S.SUBSCRIBED, P.REPLY, Verdict.SEND),
    (S.SUBSCRIBED, P.TRANSACTIONAL, Verdict.SEND),
    (S.SUBSCRIBED, P.PROMOTIONAL, Verdict.SEND),
]
CONSENT_IDS = [f"{status}-{purpose}" for status, purpose, _ in CONSENT_CASES]


@pytest.mark.parametrize(("status", "purpose", "verdict"), CONSENT_CASES, ids=CONSENT_IDS)
def test_consent_decides(status: SubscriberStatus, purpose: Purpose, verdict: Verdict) -> None:
    decision = decide_consent(purpose=purpose, recipient_status=status)
    assert decision.verdict is verdict
    assert (decision.reason is None) == (verdict is Verdict.SEND)


@pytest.mark.parametrize(("status", "purpose", "verdict"), CONSENT_CASES, ids=CONSENT_IDS)
def test_the_full_policy_keeps_the_consent_table(
    status: SubscriberStatus, purpose: Purpose, verdict: Verdict
) -> None:
    midday = local(NY, "2026-06-15 12:00")
    context = SendContext(purpose=purpose, recipient_status=status, now=midday, zones=(NY,))
    assert decide(context) == decide_consent(purpose, status)
    assert decide(context).verdict is verdict


def test_the_reason_says_opted_out() -> None:
    decision = decide_consent(purpose=P.PROMOTIONAL, recipient_status=S.UNSUBSCRIBED)
    assert decision.reason == "recipient opted out"


def test_consent_comes_before_quiet_hours() -> None:
    night = local(NY, "2026-06-15 23:30")
    decision = decide(promo(night, NY, recipient_status=S.UNSUBSCRIBED))
    assert decision == Decision(Verdict.SUPPRESS, "recipient opted out")


# --- quiet hours: who is held --------------------------------------------------------------


@pytest.mark.parametrize(
    ("purpose", "status", "replying", "verdict"),
    [
        pytest.param(P.PROMOTIONAL, S.SUBSCRIBED, False, Verdict.DEFER, id="promotional-held"),
        pytest.param(P.PROMOTIONAL, S.SUBSCRIBED, True, Verdict.SEND, id="promotional-replying"),
        pytest.param(P.REPLY, S.SUBSCRIBED, False, Verdict.DEFER, id="later-reply-held"),
        pytest.param(P.REPLY, S.NEW, False, Verdict.DEFER, id="later-reply-to-new-held"),
        pytest.param(P.REPLY, S.SUBSCRIBED, True, Verdict.SEND, id="immediate-reply"),
        pytest.param(P.TRANSACTIONAL, S.SUBSCRIBED, False, Verdict.SEND, id="transactional"),
        pytest.param(P.COMPLIANCE, S.SUBSCRIBED, False, Verdict.SEND, id="compliance"),
        pytest.param(P.COMPLIANCE, S.UNSUBSCRIBED, False, Verdict.SEND, id="stop-confirmation"),
    ],
)
def test_quiet_hours_hold_promotions_and_later_replies_only(
    purpose: Purpose, status: SubscriberStatus, replying: bool, verdict: Verdict
) -> None:
    night = local(NY, "2026-06-15 23:30")
    context = SendContext(
        purpose=purpose, recipient_status=status, now=night, zones=(NY,), replying=replying
    )
    decision = decide(context)
    assert decision.verdict is verdict
    assert (decision.send_at is not None) == (verdict is Verdict.DEFER)


# --- quiet hours: the clock ----------------------------------------------------------------

SEVEN_TO_NINE = rules(sending_hours=Window(time(7), time(21)))


@pytest.mark.parametrize(
    ("wall", "policy_rules", "verdict"),
    [
        pytest.param("2026-06-15 06:59", DEFAULT_RULES, Verdict.DEFER, id="06:59"),
        pytest.param("2026-06-15 07:00", DEFAULT_RULES, Verdict.DEFER, id="07:00"),
        pytest.param("2026-06-15 07:59:59", DEFAULT_RULES, Verdict.DEFER, id="07:59:59"),
        pytest.param("2026-06-15 08:00", DEFAULT_RULES, Verdict.SEND, id="08:00"),
        pytest.param("2026-06-15 20:59", DEFAULT_RULES, Verdict.SEND, id="20:59"),
        pytest.param("2026-06-15 20:59:59", DEFAULT_RULES, Verdict.SEND, id="20:59:59"),
        pytest.param("2026-06-15 21:00", DEFAULT_RULES, Verdict.DEFER, id="21:00"),
        pytest.param("2026-06-15 06:59", SEVEN_TO_NINE, Verdict.DEFER, id="07-21:06:59"),
        pytest.param("2026-06-15 07:00", SEVEN_TO_NINE, Verdict.SEND, id="07-21:07:00"),
        pytest.param("2026-06-15 20:59", SEVEN_TO_NINE, Verdict.SEND, id="07-21:20:59"),
        pytest.param("2026-06-15 21:00", SEVEN_TO_NINE, Verdict.DEFER, id="07-21:21:00"),
    ],
)
def test_a_los_angeles_number_by_its_local_clock(
    wall: str, policy_rules: PolicyRules, verdict: Verdict
) -> None:
    # The moment is given in UTC, as the service's clock gives it.
    now = local(LA, wall).astimezone(UTC)
    assert decide(promo(now, *zones_for("+14155550100", None)), policy_rules).verdict is verdict


@pytest.mark.parametrize(
    ("now", "send_at"),
    [
        pytest.param(local(LA, "2026-06-15 06:59"), utc("2026-06-15 15:00"), id="same-morning"),
        pytest.param(local(LA, "2026-06-15 00:00"), utc("2026-06-15 15:00"), id="midnight"),
        pytest.param(local(LA, "2026-06-15 21:00"), utc("2026-06-16 15:00"), id="next-day"),
        pytest.param(local(LA, "2026-06-15 23:59"), utc("2026-06-16 15:00"), id="late-night"),
        pytest.param(local(LA, "2026-12-31 22:00"), utc("2027-01-01 16:00"), id="new-year"),
        pytest.param(local(LA, "2026-02-28 21:30"), utc("2026-03-01 16:00"), id="month-end"),
    ],
)
def test_a_deferral_lands_exactly_at_8_local(now: datetime, send_at: datetime) -> None:
    decision = decide(promo(now.astimezone(UTC), LA))
    assert decision.verdict is Verdict.DEFER
    assert decision.send_at == send_at
    assert decision.send_at is not None and decision.send_at.tzinfo is UTC
    assert decision.send_at.astimezone(ZoneInfo(LA)).strftime("%H:%M") == "08:00"
    assert decision.reason == f"quiet hours in {LA} until 08:00"
    assert not decision.allowed


# --- several zones, regions, misconfiguration ----------------------------------------------


@pytest.mark.parametrize(
    ("now", "zones", "send_at", "held_in"),
    [
        pytest.param(
            local(CHICAGO, "2026-06-15 12:00"), (DENVER, ND_CENTRAL), None, None, id="inside-both"
        ),
        pytest.param(  # 08:30 in Central is still 07:30 in Mountain
            local(CHICAGO, "2026-06-15 08:30"),
            (DENVER, ND_CENTRAL),
            local(DENVER, "2026-06-15 08:00"),
            DENVER,
            id="mountain-still-asleep",
        ),
        pytest.param(  # 20:30 in Mountain is 21:30 in Central: wait for Mountain's morning
            local(DENVER, "2026-06-15 20:30"),
            (DENVER, ND_CENTRAL),
            local(DENVER, "2026-06-16 08:00"),
            DENVER,
            id="central-already-asleep",
        ),
        pytest.param(  # Honolulu runs 6 h behind New York in summer
            local(NY, "2026-06-15 09:00"),
            (NY, "Pacific/Honolulu"),
            local(NY, "2026-06-15 14:00"),
            "Pacific/Honolulu",
            id="new-york-and-honolulu",
        ),
        pytest.param(
            local(NY, "2026-06-15 21:30"),
            (NY, "Pacific/Honolulu"),
            local(NY, "2026-06-16 14:00"),
            "Pacific/Honolulu",
            id="new-york-and-honolulu-evening",
        ),
        pytest.param(
            local(CHICAGO, "2026-06-15 07:00"),
            ("Mars/Olympus", CHICAGO, CHICAGO),
            local(CHICAGO, "2026-06-15 08:00"),
            CHICAGO,
            id="unknown-zone-dropped",
        ),
    ],
)
def test_several_zones_all_must_be_inside(
    now: datetime, zones: tuple[str, ...], send_at: datetime | None, held_in: str | None
) -> None:
    decision = decide(promo(now, *zones))
    if send_at is None:
        assert decision.verdict is Verdict.SEND
        return
    assert decision.verdict is Verdict.DEFER
    assert decision.send_at == send_at.astimezone(UTC)
    assert decision.reason == f"quiet hours in {held_in} until 08:00"


def test_the_real_north_dakota_number_spans_two_zones() -> None:
    zones = zones_for("+17013334444", None)
    assert set(zones) == {DENVER, ND_CENTRAL}
    decision = decide(promo(local(CHICAGO, "2026-06-15 08:30"), *zones))
    assert decision.send_at == local(DENVER, "2026-06-15 08:00").astimezone(UTC)


@pytest.mark.parametrize(
    ("zones", "policy_rules", "send_at"),
    [
        pytest.param((), DEFAULT_RULES, local(NY, "2026-06-15 08:00"), id="no-zone"),
        pytest.param(("Mars/Olympus",), DEFAULT_RULES, local(NY, "2026-06-15 08:00"), id="bad"),
        pytest.param(
            ("",), rules(default_zone=CHICAGO), local(CHICAGO, "2026-06-15 08:00"), id="custom"
        ),
    ],
)
def test_unknown_zones_use_the_default_zone(
    zones: tuple[str, ...], policy_rules: PolicyRules, send_at: datetime
) -> None:
    decision = decide(promo(utc("2026-06-15 10:00"), *zones), policy_rules)
    assert decision.send_at == send_at.astimezone(UTC)


NINE_TO_EIGHT = Window(time(9), time(20))


@pytest.mark.parametrize(
    ("now", "zones", "country", "regional", "expected"),
    [
        pytest.param(
            local(LA, "2026-06-15 08:30"),
            (LA,),
            "US",
            {"US": NINE_TO_EIGHT},
            local(LA, "2026-06-15 09:00"),
            id="country-later-morning",
        ),
        pytest.param(
            local(LA, "2026-06-15 20:00"),
            (LA,),
            "us",
            {"US": NINE_TO_EIGHT},
            local(LA, "2026-06-16 09:00"),
            id="country-earlier-evening",
        ),
        pytest.param(
            local(LA, "2026-06-15 08:30"),
            (LA,),
            "CA",
            {"US": NINE_TO_EIGHT},
            None,
            id="other-country",
        ),
        pytest.param(
            local(CHICAGO, "2026-06-15 09:30"),
            (CHICAGO,),
            "US",
            {CHICAGO: Window(time(10), time(18))},
            local(CHICAGO, "2026-06-15 10:00"),
            id="zone",
        ),
        pytest.param(
            local(NY, "2026-06-15 09:30"),
            (NY,),
            "US",
            {CHICAGO: Window(time(10), time(18))},
            None,
            id="other-zone",
        ),
        pytest.param(  # a zone rule is read on that zone's clock, in a two-zone number too
            local(CHICAGO, "2026-06-15 09:30"),
            (DENVER, ND_CENTRAL),
            "US",
            {ND_CENTRAL: Window(time(10), time(20))},
            local(CHICAGO, "2026-06-15 10:00"),
            id="zone-of-two",
        ),
        pytest.param(  # country and zone windows intersect: 09:00-20:00 and 08:00-19:00
            local(CHICAGO, "2026-06-15 19:00"),
            (CHICAGO,),
            "US",
            {"US": NINE_TO_EIGHT, CHICAGO: Window(time(8), time(19))},
            local(CHICAGO, "2026-06-16 09:00"),
            id="country-and-zone",
        ),
    ],
)
def test_regional_windows_are_stricter(
    now: datetime,
    zones: tuple[str, ...],
    country: str,
    regional: dict[str, Window],
    expected: datetime | None,
) -> None:
    decision = decide(promo(now, *zones, country=country), rules(regional_hours=regional))
    if expected is None:
        assert decision.verdict is Verdict.SEND
    else:
        assert decision.verdict is Verdict.DEFER
        assert decision.send_at == expected.astimezone(UTC)


@pytest.mark.parametrize(
    ("zones", "country", "policy_rules", "reason"),
    [
        pytest.param(
            (NY,),
            "US",
            rules(regional_hours={"US": Window(time(6), time(7))}),
            f"no sending hours in {NY}: the configured windows don't overlap",
            id="country-misses-default",
        ),
        pytest.param(
            (CHICAGO,),
            "US",
            rules(
                regional_hours={
                    "US": Window(time(9), time(12)),
                    CHICAGO: Window(time(13), time(18)),
                }
            ),
            f"no sending hours in {CHICAGO}: the configured windows don't overlap",
            id="country-misses-zone",
        ),
        pytest.param(  # Tokyo's 08:00-10:00 is New York's evening: they never meet
            ("Asia/Tokyo", NY),
            None,
            rules(sending_hours=Window(time(8), time(10))),
            f"no sending hours shared by all of Asia/Tokyo, {NY}",
            id="zones-never-meet",
        ),
    ],
)
def test_no_sending_hours_at_all_suppresses_instead_of_looping(
    zones: tuple[str, ...], country: str | None, policy_rules: PolicyRules, reason: str
) -> None:
    # A search without an end would hang here; the policy looks a week ahead at most.
    decision = decide(promo(utc("2026-06-15 12:00"), *zones, country=country), policy_rules)
    assert decision == Decision(Verdict.SUPPRESS, reason)


# --- daylight saving time ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("now", "policy_rules", "send_at", "opens"),
    [
        pytest.param(  # EST in the evening, EDT by the morning: 08:00 is 12:00 UTC, not 13:00
            local(NY, "2026-03-07 22:00"),
            DEFAULT_RULES,
            utc("2026-03-08 12:00"),
            "08:00",
            id="spring-forward-overnight",
        ),
        pytest.param(
            local(NY, "2026-03-08 01:30"),
            DEFAULT_RULES,
            utc("2026-03-08 12:00"),
            "08:00",
            id="spring-forward-before-jump",
        ),
        pytest.param(
            local(NY, "2026-03-08 07:30"),
            DEFAULT_RULES,
            utc("2026-03-08 12:00"),
            "08:00",
            id="spring-forward-morning",
        ),
        pytest.param(  # 02:30 never happens that night: the window opens at the jump to 03:00
            local(NY, "2026-03-08 01:30"),
            rules(sending_hours=Window(time(2, 30), time(21))),
            utc("2026-03-08 07:00"),
            "03:00",
            id="spring-forward-window-opens-in-the-gap",
        ),
        pytest.param(  # EDT in the evening, EST by the morning: 08:00 is 13:00 UTC
            local(NY, "2026-10-31 21:30"),
            DEFAULT_RULES,
            utc("2026-11-01 13:00"),
            "08:00",
            id="fall-back-overnight",
        ),
        pytest.param(
            local(NY, "2026-11-01 01:30", fold=1),
            DEFAULT_RULES,
            utc("2026-11-01 13:00"),
            "08:00",
            id="fall-back-repeated-hour",
        ),
        pytest.param(  # 01:30 comes twice; the first one is still ahead
            local(NY, "2026-11-01 01:10", fold=0),
            rules(sending_hours=Window(time(1, 30), time(21))),
            utc("2026-11-01 05:30"),
            "01:30",
            id="fall-back-window-opens-first-time",
        ),
        pytest.param(  # the first 01:30 has passed, the clock reads 01:10 again: wait for 01:30
            local(NY, "2026-11-01 01:10", fold=1),
            rules(sending_hours=Window(time(1, 30), time(21))),
            utc("2026-11-01 06:30"),
            "01:30",
            id="fall-back-window-opens-second-time",
        ),
        pytest.param(
            local(LA, "2026-03-08 06:00"),
            DEFAULT_RULES,
            utc("2026-03-08 15:00"),
            "08:00",
            id="los-angeles-spring-forward",
        ),
    ],
)
def test_daylight_saving_days(
    now: datetime, policy_rules: PolicyRules, send_at: datetime, opens: str
) -> None:
    zone = now.tzinfo.key  # type: ignore[union-attr]
    decision = decide(promo(now.astimezone(UTC), zone), policy_rules)
    assert decision.verdict is Verdict.DEFER
    assert decision.send_at == send_at
    assert decision.reason == f"quiet hours in {zone} until {opens}"


def _brute_force_opening(now: datetime, zones: tuple[str, ...], window: Window) -> datetime | None:
    """The slow, obviously right answer: try now, then every whole minute for three days."""
    candidates = [now] + [
        now.replace(second=0, microsecond=0) + timedelta(minutes=step)
        for step in range(1, 3 * 24 * 60)
    ]
    for moment in candidates:
        if all(moment.astimezone(ZoneInfo(zone)).time() in window for zone in zones):
            return moment
    return None


ODD_ZONES = [NY, LA, DENVER, ND_CENTRAL, "Pacific/Honolulu", "Europe/Berlin", "Asia/Tokyo"]
ODD_ZONES += ["Australia/Lord_Howe", "America/St_Johns", "Asia/Kolkata", "Pacific/Chatham"]
TRANSITION_DAYS = [datetime(2026, 3, 8), datetime(2026, 3, 29), datetime(2026, 4, 5)]
TRANSITION_DAYS += [datetime(2026, 10, 4), datetime(2026, 10, 25), datetime(2026, 11, 1)]


def test_the_opening_matches_a_minute_by_minute_search_around_dst_changes() -> None:
    chance = random.Random(2026)  # fixed: the same cases every run
    for _ in range(40):
        zones = tuple(chance.sample(ODD_ZONES, chance.choice([1, 2, 3])))
        start = time(chance.choice([0, 1, 2, 3, 8, 9]), chance.choice([0, 30]))
        end = chance.choice([time(12), time(21), time(23), time.max])
        window = Window(start, end)
        day = chance.choice(TRANSITION_DAYS).replace(tzinfo=UTC)
        now = day + timedelta(minutes=chance.randrange(-36 * 60, 36 * 60), seconds=17)
        decision = decide(promo(now, *zones), rules(sending_hours=window))
        expected = _brute_force_opening(now, zones, window)
        got = {Verdict.SEND: now, Verdict.DEFER: decision.send_at}.get(decision.verdict)
        assert got == expected, (zones, str(window), now, decision)


def test_the_evening_of_a_fall_back_day_is_still_21_00_local() -> None:
    assert decide(promo(local(NY, "2026-11-01 20:59"), NY)).allowed
    decision = decide(promo(local(NY, "2026-11-01 21:00"), NY))
    assert decision.send_at == utc("2026-11-02 13:00")


# --- frequency cap -------------------------------------------------------------------------

NOON = local(NY, "2026-06-15 12:00").astimezone(UTC)


def hours_ago(*hours: float) -> tuple[datetime, ...]:
    return tuple(NOON - timedelta(hours=h) for h in hours)


CAP_REASON = "frequency cap: 3 promotional texts in 24 h"


@pytest.mark.parametrize(
    ("context", "policy_rules", "expected"),
    [
        pytest.param(
            promo(NOON, NY, recent_promotional=hours_ago(1, 2)),
            DEFAULT_RULES,
            Decision(Verdict.SEND),
            id="under-cap",
        ),
        pytest.param(
            promo(NOON, NY, recent_promotional=hours_ago(1, 2, 3)),
            DEFAULT_RULES,
            Decision(Verdict.DEFER, CAP_REASON, NOON + timedelta(hours=21)),
            id="at-cap-defers-to-oldest-plus-24h",
        ),
        pytest.param(
            promo(NOON, NY, recent_promotional=hours_ago(1, 2, 24)),
            DEFAULT_RULES,
            Decision(Verdict.SEND),
            id="exactly-24h-old-no-longer-counts",
        ),
        pytest.param(
            promo(NOON, NY, recent_promotional=hours_ago(1, 2, 30, 50)),
            DEFAULT_RULES,
            Decision(Verdict.SEND),
            id="older-texts-ignored",
        ),
        pytest.param(  # four in the day: the cap lifts when the second oldest ages out
            promo(NOON, NY, recent_promotional=hours_ago(5, 1, 2, 3)),
            DEFAULT_RULES,
            Decision(Verdict.DEFER, CAP_REASON, NOON + timedelta(hours=21)),
            id="over-cap-waits-for-enough-to-age-out",
        ),
        pytest.param(
            promo(NOON, NY, recent_promotional=hours_ago(1, 2, 3)),
            rules(over_cap="skip"),
            Decision(Verdict.SUPPRESS, CAP_REASON),
            id="skip",
        ),
        pytest.param(
            promo(NOON, NY, recent_promotional=hours_ago(1)),
            rules(promotional_per_day=1, over_cap="skip"),
            Decision(Verdict.SUPPRESS, "frequency cap: 1 promotional text in 24 h"),
            id="cap-of-one",
        ),
        pytest.param(
            promo(NOON, NY, recent_promotional=hours_ago(*range(10))),
            rules(promotional_per_day=None),
            Decision(Verdict.SEND),
            id="no-cap",
        ),
        pytest.param(
            promo(NOON, NY, purpose=P.REPLY, recent_promotional=hours_ago(1, 2, 3)),
            DEFAULT_RULES,
            Decision(Verdict.SEND),
            id="later-reply-not-capped",
        ),
        pytest.param(
            promo(NOON, NY, replying=True, recent_promotional=hours_ago(1, 2, 3)),
            DEFAULT_RULES,
            Decision(Verdict.SEND),
            id="replying-not-capped",
        ),
        pytest.param(
            promo(NOON, NY, purpose=P.TRANSACTIONAL, recent_promotional=hours_ago(1, 2, 3)),
            rules(over_cap="skip"),
            Decision(Verdict.SEND),
            id="transactional-not-capped",
        ),
    ],
)
def test_the_frequency_cap(
    context: SendContext, policy_rules: PolicyRules, expected: Decision
) -> None:
    assert decide(context, policy_rules) == expected


def test_the_cap_then_quiet_hours() -> None:
    # The oldest of three went at 22:00 yesterday: the cap lifts at 22:00 tonight, in quiet
    # hours, so the text waits for 08:00 tomorrow.
    now = local(NY, "2026-06-15 12:00")
    recent = (
        local(NY, "2026-06-14 22:00"),
        local(NY, "2026-06-15 09:00"),
        local(NY, "2026-06-15 10:00"),
    )
    decision = decide(promo(now, NY, recent_promotional=recent))
    assert decision.verdict is Verdict.DEFER
    assert decision.send_at == local(NY, "2026-06-16 08:00").astimezone(UTC)
    assert decision.reason == f"{CAP_REASON}; then quiet hours in {NY} until 08:00"


def test_the_cap_lifting_inside_the_window_sends_at_that_moment() -> None:
    now = local(NY, "2026-06-15 07:00")  # quiet hours now, but the cap outlasts them
    recent = tuple(local(NY, f"2026-06-14 {hour}:15") for hour in (15, 16, 17))
    decision = decide(promo(now, NY, recent_promotional=recent))
    assert decision == Decision(
        Verdict.DEFER, CAP_REASON, local(NY, "2026-06-15 15:15").astimezone(UTC)
    )


# --- inputs --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "build",
    [
        pytest.param(lambda: promo(datetime(2026, 6, 15, 12), NY), id="naive-now"),
        pytest.param(
            lambda: promo(NOON, NY, recent_promotional=(datetime(2026, 6, 15),)), id="naive-recent"
        ),
        pytest.param(lambda: rules(default_zone="Mars/Olympus"), id="bad-default-zone"),
        pytest.param(lambda: rules(promotional_per_day=0), id="zero-cap"),
        pytest.param(lambda: rules(over_cap="drop"), id="bad-over-cap"),
        pytest.param(lambda: rules(regional_hours={"Nowhere": NINE_TO_EIGHT}), id="bad-place"),
        pytest.param(lambda: Window(time(21), time(8)), id="window-across-midnight"),
    ],
)
def test_bad_values_are_refused(build: object) -> None:
    with pytest.raises(ValueError):
        build()  # type: ignore[operator]


@pytest.mark.parametrize(
    ("text", "window"),
    [
        pytest.param("08:00-21:00", Window(time(8), time(21)), id="plain"),
        pytest.param(" 8:30 - 20:45 ", Window(time(8, 30), time(20, 45)), id="spaces"),
        pytest.param("00:00-24:00", Window(time(0), time.max), id="all-day"),
    ],
)
def test_parse_window(text: str, window: Window) -> None:
    assert parse_window(text) == window


def test_an_all_day_window_sends_at_23_59() -> None:
    all_day = rules(sending_hours=parse_window("00:00-24:00"))
    assert str(all_day.sending_hours) == "00:00-24:00"
    assert decide(promo(local(NY, "2026-06-15 23:59:59"), NY), all_day).allowed


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param("8-21", "expected HH:MM-HH:MM such as 08:00-21:00, got '8-21'", id="hours"),
        pytest.param("", "expected HH:MM-HH:MM", id="empty"),
        pytest.param("21:00-08:00", "21:00-08:00 must start before it ends", id="overnight"),
        pytest.param("09:00-09:00", "must start before it ends", id="empty-window"),
        pytest.param("25:00-26:00", "25:00 is not a time of day", id="hour"),
        pytest.param("08:60-09:00", "08:60 is not a time of day", id="minute"),
    ],
)
def test_parse_window_errors(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_window(text)


def test_parse_regional_hours() -> None:
    assert parse_regional_hours("") == {}
    assert parse_regional_hours(" us=09:00-20:00, America/Chicago=10:00-18:00 ,") == {
        "US": NINE_TO_EIGHT,
        CHICAGO: Window(time(10), time(18)),
    }


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param("America/Chicgo=09:00-20:00", "'America/Chicgo' is neither", id="zone"),
        pytest.param("USA=09:00-20:00", "'USA' is neither a two-letter country", id="country"),
        pytest.param("US 09:00-20:00", "expected PLACE=HH:MM-HH:MM", id="no-equals"),
        pytest.param("US=09:00-20:00,us=10:00-20:00", "US is listed twice", id="twice"),
        pytest.param("DE=21:00-08:00", "DE: 21:00-08:00 must start before", id="window"),
    ],
)
def test_parse_regional_hours_errors(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_regional_hours(text)


# --- recipient zones -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("phone", "timezone", "zones"),
    [
        pytest.param("+14155550100", None, (LA,), id="us-area-code"),
        pytest.param("+14155550100", CHICAGO, (CHICAGO,), id="subscriber-zone-wins"),
        pytest.param("+14155550100", " America/Chicago ", (CHICAGO,), id="padded-zone"),
        pytest.param("+14155550100", "Mars/Olympus", (LA,), id="invalid-zone"),
        pytest.param("+14155550100", "", (LA,), id="blank-zone"),
        pytest.param("+442071838750", None, ("Europe/London",), id="london"),
        pytest.param("+493012345678", None, ("Europe/Berlin",), id="berlin"),
        pytest.param("+17013334444", None, (DENVER, ND_CENTRAL), id="two-zones"),
        pytest.param("not a phone", None, (), id="not-a-phone"),
        pytest.param("not a phone", "Europe/Paris", ("Europe/Paris",), id="zone-only"),
    ],
)
def test_zones_for(phone: str, timezone: str | None, zones: tuple[str, ...]) -> None:
    assert zones_for(phone, timezone) == zones


@pytest.mark.parametrize(
    ("phone", "country"),
    [
        pytest.param("+14155550100", "US", id="us"),
        pytest.param("+442071838750", "GB", id="gb"),
        pytest.param("+493012345678", "DE", id="de"),
        pytest.param("not a phone", None, id="not-a-phone"),
    ],
)
def test_country_of(phone: str, country: str | None) -> None:
    assert country_of(phone) == country


# --- settings ------------------------------------------------------------------------------


@pytest.fixture
def empty_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # so no developer's .env is read


@pytest.mark.usefixtures("empty_folder")
def test_settings_default_to_the_default_rules() -> None:
    assert load_settings().policy_rules == DEFAULT_RULES


@pytest.mark.usefixtures("empty_folder")
def test_settings_build_the_rules(monkeypatch: pytest.MonkeyPatch) -> None:
    environment = {
        "SENDING_HOURS": "09:00-20:00",
        "SENDING_HOURS_BY_REGION": "DE=10:00-19:00,America/Chicago=09:30-20:00",
        "DEFAULT_TIMEZONE": "Europe/Berlin",
        "PROMOTIONAL_PER_DAY": "0",
        "OVER_CAP": "skip",
    }
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    assert load_settings().policy_rules == PolicyRules(
        sending_hours=NINE_TO_EIGHT,
        regional_hours={"DE": Window(time(10), time(19)), CHICAGO: Window(time(9, 30), time(20))},
        default_zone="Europe/Berlin",
        promotional_per_day=None,
        over_cap="skip",
    )

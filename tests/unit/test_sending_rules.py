"""The law's rules for marketing texts, as data: who is held to which state's hours, days and
caps, what an operator's file may add, and that the README lists the shipped rules."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.campaigns.audience import Recipient
from bot.campaigns.model import Campaign
from bot.campaigns.parser import parse_campaign
from bot.campaigns.preview import Pricing, describe, preview_campaign
from bot.domain.policy import PolicyRules, SendContext, Verdict, decide, decide_sending_hours
from bot.domain.recipient_places import places_for
from bot.domain.recipient_zones import country_of, zones_for
from bot.domain.sending_rules import (
    SHIPPED_FILE,
    check_rules_file,
    load_rule_book,
    markdown_table,
    parse_rules,
    shipped_rule_book,
)
from bot.domain.vocabulary import Purpose, SubscriberStatus
from bot.settings import ConfigError, load_settings
from tests.support.paths import ROOT
from tests.support.sending_rules import LOOSER_FLORIDA, OVERRIDE

MIAMI = "+13055550100"  # area code 305: Florida
SAN_FRANCISCO = "+14155550100"  # 415: California
SAN_ANTONIO = "+12105550100"  # 210: Texas
NEW_ORLEANS = "+15045550100"  # 504: Louisiana
PROVIDENCE = "+14015550100"  # 401: Rhode Island
EASTERN = ZoneInfo("America/New_York")
CENTRAL = ZoneInfo("America/Chicago")
PACIFIC = ZoneInfo("America/Los_Angeles")
NO_OPERATOR_CAP = PolicyRules(promotional_per_day=None)  # PROMOTIONAL_PER_DAY=0


def promotion(
    phone: str,
    now: datetime,
    *,
    state: str | None = None,
    recent: tuple[datetime, ...] = (),
    purpose: Purpose = Purpose.PROMOTIONAL,
) -> SendContext:
    """A marketing text to a subscriber, judged as the outbox judges it: no stored zone."""
    return SendContext(
        purpose=purpose,
        recipient_status=SubscriberStatus.SUBSCRIBED,
        now=now,
        zones=zones_for(phone, None),
        country=country_of(phone),
        places=places_for(phone, state),
        recent_promotional=recent,
    )


# -- whose rules --------------------------------------------------------------------------------


def test_a_florida_number_gets_no_promotion_at_half_past_eight_its_time() -> None:
    evening = datetime(2026, 12, 1, 20, 30, tzinfo=EASTERN)

    decision = decide(promotion(MIAMI, evening))

    assert decision.verdict is Verdict.DEFER
    assert decision.send_at == datetime(2026, 12, 2, 8, 0, tzinfo=EASTERN)
    assert decision.reason == "Fla. Stat. § 501.616(6)(a): 08:00-20:00"
    assert decision.rule == "Florida hours"


def test_a_florida_number_gets_at_most_three_promotions_in_24_hours_without_an_operator_cap() -> (
    None
):
    afternoon = datetime(2026, 12, 1, 14, 0, tzinfo=EASTERN)
    sent = tuple(afternoon - timedelta(hours=hours) for hours in (3, 2, 1))

    fourth = decide(promotion(MIAMI, afternoon, recent=sent), NO_OPERATOR_CAP)
    third = decide(promotion(MIAMI, afternoon, recent=sent[1:]), NO_OPERATOR_CAP)

    assert third.allowed
    assert fourth.verdict is Verdict.DEFER
    assert fourth.send_at == sent[0] + timedelta(hours=24)
    assert fourth.reason == "Fla. Stat. § 501.616(6)(b): 3 marketing texts in 24 h"
    assert fourth.rule == "Florida cap"


def test_a_california_number_is_not_held_by_floridas_rules() -> None:
    evening = datetime(2026, 12, 1, 20, 30, tzinfo=PACIFIC)
    sent = tuple(evening - timedelta(hours=hours) for hours in (3, 2, 1))

    assert decide(promotion(SAN_FRANCISCO, evening)).allowed
    assert decide(promotion(SAN_FRANCISCO, evening, recent=sent), NO_OPERATOR_CAP).allowed


@pytest.mark.parametrize("stored", ["FL", "fl", "Florida", " florida "])
def test_a_stored_state_beats_the_area_code(stored: str) -> None:
    evening = datetime(2026, 12, 1, 20, 30, tzinfo=PACIFIC)

    assert places_for(SAN_FRANCISCO, stored) == ("US", "US-FL")
    assert decide(promotion(SAN_FRANCISCO, evening, state=stored)).rule == "Florida hours"
    # And the other way round: a Floridian number of someone who lives in California.
    assert places_for(MIAMI, "CA") == ("US", "US-CA")
    assert decide(promotion(MIAMI, datetime(2026, 12, 1, 20, 30, tzinfo=EASTERN), state="CA"))


def test_a_state_nobody_knows_falls_back_to_the_area_code() -> None:
    assert places_for(MIAMI, "Narnia") == ("US", "US-FL")
    assert places_for("+18005550100") == ("US",)  # toll-free: no state


def test_texas_allows_marketing_from_noon_on_sundays_and_from_nine_on_other_days() -> None:
    sunday = datetime(2026, 11, 29, 10, 0, tzinfo=CENTRAL)
    saturday = sunday - timedelta(days=1)

    held = decide(promotion(SAN_ANTONIO, sunday))

    assert held.verdict is Verdict.DEFER
    assert held.send_at == datetime(2026, 11, 29, 12, 0, tzinfo=CENTRAL)
    assert held.reason == "Tex. Bus. & Com. Code § 301.051: 12:00-21:00"
    assert decide(promotion(SAN_ANTONIO, saturday)).allowed
    assert decide(promotion(SAN_ANTONIO, saturday - timedelta(hours=2))).rule == "Texas hours"


def test_no_marketing_in_louisiana_on_a_state_holiday_or_a_sunday() -> None:
    christmas = datetime(2026, 12, 25, 10, 0, tzinfo=CENTRAL)  # a Friday

    held = decide(promotion(NEW_ORLEANS, christmas))

    assert held.verdict is Verdict.DEFER
    assert held.rule == "Louisiana days"
    assert held.reason is not None
    assert held.reason.startswith("La. R.S. 45:811(3): no marketing texts on Christmas Day")
    assert held.send_at == datetime(2026, 12, 26, 8, 0, tzinfo=CENTRAL)  # Saturday morning
    sunday = datetime(2026, 12, 27, 10, 0, tzinfo=CENTRAL)
    assert decide(promotion(NEW_ORLEANS, sunday)).send_at == datetime(
        2026, 12, 28, 8, 0, tzinfo=CENTRAL
    )
    # A transactional text is no marketing: it goes on Christmas Day.
    assert decide(promotion(NEW_ORLEANS, christmas, purpose=Purpose.TRANSACTIONAL)).allowed


def test_the_dispatcher_question_holds_a_queued_florida_promotion_after_eight() -> None:
    after_eight = datetime(2026, 12, 1, 20, 5, tzinfo=EASTERN)

    held = decide_sending_hours(promotion(MIAMI, after_eight))

    assert held.verdict is Verdict.DEFER
    assert held.rule == "Florida hours"


PHONES = [MIAMI, SAN_FRANCISCO, SAN_ANTONIO, NEW_ORLEANS, PROVIDENCE, "+14055550100"]


@settings(max_examples=300, deadline=None)
@given(
    phone=st.sampled_from(PHONES),
    moment=st.datetimes(
        min_value=datetime(2026, 1, 1), max_value=datetime(2028, 12, 31), timezones=st.just(UTC)
    ),
    earlier=st.lists(st.integers(min_value=1, max_value=60 * 30), max_size=5),
    operator_cap=st.sampled_from([None, 1, 3, 10]),
)
def test_the_policy_never_sends_outside_any_rule_that_applies(
    phone: str, moment: datetime, earlier: list[int], operator_cap: int | None
) -> None:
    recent = tuple(moment - timedelta(minutes=minutes) for minutes in earlier)
    context = promotion(phone, moment, recent=recent)
    decision = decide(context, PolicyRules(promotional_per_day=operator_cap))

    assert decision.verdict is not Verdict.SUPPRESS
    goes_at = moment if decision.allowed else decision.send_at
    assert goes_at is not None and goes_at >= moment
    for rule in shipped_rule_book().for_places(context.places):
        for zone in context.zones:
            local = goes_at.astimezone(ZoneInfo(zone))
            window = rule.window_on(local.date())
            assert window is not None and local.time() in window, (rule.name, local)
        if rule.per_24h is not None:
            within = [sent for sent in recent if goes_at - timedelta(hours=24) < sent <= goes_at]
            assert len(within) < rule.per_24h


# -- the operator's file ------------------------------------------------------------------------


def rules_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "sending_rules.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_loosening_a_shipped_rule_without_an_override_is_refused_at_its_line(
    tmp_path: Path,
) -> None:
    path = rules_file(tmp_path, LOOSER_FLORIDA)

    with pytest.raises(ConfigError) as refused:
        load_settings(SENDING_RULES_FILE=str(path))

    message = str(refused.value)
    assert f"{path}:3: Florida hours is looser than the shipped rule" in message
    assert "08:00-21:00 on monday where it allows 08:00-20:00" in message
    assert "override:" in message


def test_an_override_with_its_reason_loosens_the_rule_and_says_so(tmp_path: Path) -> None:
    path = rules_file(tmp_path, LOOSER_FLORIDA + OVERRIDE)

    book, problems = check_rules_file(path)

    assert [str(problem) for problem in problems] == [
        f"{path}:3: warning: Florida hours overrides the shipped rule"
        " (Fla. Stat. § 501.616(6)(a)): texts to our own staff only"
    ]
    evening = datetime(2026, 12, 1, 20, 30, tzinfo=EASTERN)
    assert decide(promotion(MIAMI, evening), PolicyRules(place_rules=book)).allowed
    assert [rule.name for rule in book.overrides] == ["Florida hours"]


def test_an_operator_adds_stricter_rules_for_a_state_and_for_a_country(tmp_path: Path) -> None:
    path = rules_file(
        tmp_path,
        """\
US-CA:
  name: California (ours)
  hours: {every_day: "10:00-18:00", source: "brand policy", checked: "2026-11-30"}
US-FL:
  cap: {per_24h: 1, source: "brand policy", checked: "2026-11-30"}
GB:
  name: United Kingdom
  days: {no_marketing_on: [sunday, holidays], source: "brand policy", checked: "2026-11-30"}
""",
    )
    book = load_rule_book(path)
    rules = PolicyRules(place_rules=book)

    nine = datetime(2026, 12, 1, 9, 0, tzinfo=PACIFIC)
    assert decide(promotion(SAN_FRANCISCO, nine), rules).rule == "California (ours) hours"
    noon = datetime(2026, 12, 1, 12, 0, tzinfo=EASTERN)
    one_sent = (noon - timedelta(hours=1),)
    assert decide(promotion(MIAMI, noon, recent=one_sent), rules).rule == "US-FL cap"
    # The shipped Florida rules still hold beside the operator's.
    assert decide(promotion(MIAMI, noon.replace(hour=20, minute=30)), rules).rule == (
        "Florida hours"
    )
    boxing_day = datetime(2026, 12, 28, 11, 0, tzinfo=ZoneInfo("Europe/London"))  # observed
    assert decide(promotion("+442079460123", boxing_day), rules).rule == "United Kingdom days"


@pytest.mark.parametrize(
    ("text", "line", "expected"),
    [
        ("US-FL: [1, 2]\n", 1, "US-FL: expected `name`"),
        ("florida:\n  hours: {}\n", 1, "a place is a country code"),
        (
            'US-TX:\n  hours:\n    source: x\n    checked: y\n    every_day: "9-5"\n',
            5,
            "hours every_day: expected HH:MM-HH:MM",
        ),
        (
            'US-TX:\n  cap: {per_24h: 0, source: x, checked: "2026-11-30"}\n',
            2,
            "per_24h is a whole number",
        ),
        ("US-TX:\n  hours:\n    every_day: 09:00-20:00\n", 2, "hours needs `source`"),
        (
            "US-TX:\n  days: {no_marketing_on: [funday], source: x, checked: y}\n",
            2,
            "'funday' is neither a weekday",
        ),
        ("US-TX:\n  hours: [\n", 3, "bad YAML"),
        (
            "XX:\n  days: {no_marketing_on: [holidays], source: x, checked: y}\n",
            2,
            "XX: the holidays package knows no holidays for this place",
        ),
        (
            "US-ZZ:\n  days: {no_marketing_on: [sunday, holidays], source: x, checked: y}\n",
            2,
            "US-ZZ: the holidays package knows no holidays for this place",
        ),
    ],
)
def test_a_broken_rules_file_names_file_line_and_what_to_fix(
    tmp_path: Path, text: str, line: int, expected: str
) -> None:
    path = rules_file(tmp_path, text)

    problems = check_rules_file(path)[1]

    assert len(problems) == 1
    assert problems[0].line == line, problems[0]
    assert expected in problems[0].message


def test_every_shipped_place_without_marketing_on_holidays_has_a_holiday_calendar() -> None:
    """The shipped file is read without asking the holidays package (it is slow to load, and
    most processes never send a marketing text), so this asks it for every such place."""
    rules, problems = parse_rules(SHIPPED_FILE.read_text(encoding="utf-8"), SHIPPED_FILE.name)

    assert [rule.place for rule in rules if rule.holidays], "no shipped rule to check"
    assert problems == []


# -- what the marketer and the operator see -----------------------------------------------------


def test_the_readme_lists_every_shipped_rule_with_its_source() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")

    assert markdown_table(shipped_rule_book().rules()) in readme, (
        "README's 'Compliance, by construction' table is out of step with"
        " bot/domain/sending_rules.yaml: paste markdown_table(shipped_rule_book().rules())"
    )
    for state in ("US-FL", "US-OK", "US-MD", "US-WA", "US-CT", "US-TX"):
        assert shipped_rule_book().by_place[state], state


def test_the_preview_counts_the_texts_each_rule_defers() -> None:
    sale = _campaign()
    # 20:30 in Miami and in San Antonio, 17:30 in San Francisco: a Sunday evening.
    now = datetime(2026, 11, 30, 1, 30, tzinfo=UTC)
    people = [
        Recipient(MIAMI),
        Recipient("+13055550101"),
        Recipient("+17865550102", attributes={"state": "FL"}),
        Recipient(SAN_FRANCISCO),  # 17:30 there: goes now
        Recipient(SAN_FRANCISCO, attributes={"state": "Florida"}, timezone="America/New_York"),
        Recipient("+12125550100", timezone="America/Los_Angeles"),  # New York: no state rules
    ]

    preview = preview_campaign(
        sale,
        people,
        brand="Acme",
        support="help@acme.test",
        pricing=Pricing(0.01, "USD", 1.0),
        default_zone="America/New_York",
        now=now,
    )

    assert preview.deferred == {"Florida hours": 4}
    assert "  Florida hours: 4" in describe(preview)


def _campaign() -> Campaign:
    text = 'campaign: sale\nvariants:\n  - text: "{{brand}}: 20% off. Reply STOP to opt out"\n'
    parsed = parse_campaign(text, "sale.yaml")
    assert parsed.campaign is not None, parsed.problems
    return parsed.campaign

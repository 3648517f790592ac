"""The offers file (`FLOWS_DIR/offers.yaml`): what `bot flows check` says about it, by line."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.cli import main
from bot.conversations.flow_registry import FlowCatalog, check_offers
from bot.domain.keywords import default_vocabulary
from bot.engine.model import Flow
from bot.engine.offers import parse_offers
from bot.engine.parser import parse_flow

SALE_FLOW = """\
flow: spring_sale
triggers:
  keywords: [SALE]
settings:
  promotional: true
steps:
  - send: "{brand}: 15% off the spring collection. Reply STOP to opt out."
"""
GOOD = """\
offers:
  - keyword: WIN
    offer: a chance to win a gift card
    reply: "{brand}: You're in the draw! Here is 10% off: {coupon_code}. Reply STOP to opt out."
    coupon: true
  - keyword: spring
    offer: 15% off the spring collection
    flow: spring_sale
"""


def flows() -> dict[str, Flow]:
    parsed = parse_flow(SALE_FLOW, "flows/spring_sale.yaml")
    assert parsed.flow is not None
    return {parsed.flow.name: parsed.flow}


def problems_of(text: str) -> list[str]:
    parsed = parse_offers(
        textwrap.dedent(text), "offers.yaml", flows=flows(), vocabulary=default_vocabulary()
    )
    return [str(problem) for problem in parsed.problems]


def test_a_good_file_has_offers_and_no_problems() -> None:
    parsed = parse_offers(GOOD, "offers.yaml", flows=flows(), vocabulary=default_vocabulary())
    assert parsed.problems == []
    assert [(offer.keyword, offer.flow) for offer in parsed.offers] == [
        ("WIN", "offer_win"),
        ("spring", "spring_sale"),
    ]
    catalog = FlowCatalog.of(flows(), parsed)
    win = catalog.for_offer("win please")
    assert win is not None and win.promise == "a chance to win a gift card"
    assert catalog.for_keyword("Spring") is not None  # the offer's word starts its flow


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "offers:\n  - keyword: STOP\n    offer: x\n    reply: hi\n",
            "offers.yaml:2: 'STOP' is reserved: it is an opt-out keyword that always means the "
            "same thing to carriers",
        ),
        (
            "offers:\n  - keyword: JOIN\n    offer: x\n    reply: hi\n",
            "offers.yaml:2: 'JOIN' is reserved: it is a join keyword that always means the "
            "same thing to carriers",
        ),
        (
            "offers:\n  - keyword: sale\n    offer: x\n    reply: hi\n",
            "offers.yaml:2: 'sale' is also a trigger keyword of flow 'spring_sale' "
            "(flows/spring_sale.yaml:3)",
        ),
        (
            "offers:\n  - keyword: WIN\n    offer: x\n    flow: spring_sail\n",
            "offers.yaml:4: flow: no flow named 'spring_sail'; did you mean 'spring_sale'?",
        ),
        (
            "offers:\n  - keyword: WIN\n    offer: x\n    reply: hi\n"
            "  - keyword: win\n    offer: y\n    reply: ho\n",
            "offers.yaml:5: 'win' is already an offer (line 2)",
        ),
        (
            "offers:\n  - keyword: WIN\n    offer: x\n    reply: hi\n    flow: spring_sale\n",
            "offers.yaml:2: an offer has either reply: (a text) or flow: (a flow's name)",
        ),
        (
            "offers:\n  - keyword: WIN\n    reply: hi\n",
            "offers.yaml:2: offer needs some text: it names the offer in the invitation to join",
        ),
        (
            "offers:\n  - keyword: two words\n    offer: x\n    reply: hi\n",
            "offers.yaml:2: keyword must be one word of letters and digits, e.g. WIN",
        ),
        (
            "offers:\n  - keyword: WIN\n    offer: x\n    reply: hi\n    coupon: true\n",
            "offers.yaml:5: coupon: true gives the person a code: say it in the reply as "
            "{coupon_code}",
        ),
        (
            "offers:\n  - keyword: WIN\n    offer: x\n    reply: hi\n    prize: car\n",
            "offers.yaml:5: unknown key 'prize' (coupon, flow, keyword, offer, reply)",
        ),
        (
            "offers: WIN\n",
            "offers.yaml:1: an offers file holds `offers:`, a list of {keyword, "
            "offer, reply or flow}",
        ),
        ("offers:\n  - keyword: WIN\n   offer: x\n", "offers.yaml:3:4: bad YAML"),
    ],
)
def test_each_mistake_is_named_with_its_line(text: str, expected: str) -> None:
    found = problems_of(text)
    assert any(problem.startswith(expected) for problem in found), found


def test_a_reply_offer_is_linted_as_a_flow_text(tmp_path: Path) -> None:
    (tmp_path / "offers.yaml").write_text(
        'offers:\n  - keyword: WIN\n    offer: x\n    reply: "Win big! {nickname}"\n'
    )
    offers = check_offers(tmp_path, {}, brand="Acme", vocabulary=default_vocabulary())
    assert [str(problem) for problem in offers.problems] == [
        f"{tmp_path}/offers.yaml:4: unknown template variable {{nickname}} (known: attributes, "
        "brand, event, first_name, phone, support)",
        f"{tmp_path}/offers.yaml:4: warning: promotional flow: no text says how to opt out "
        "(add e.g. 'Reply STOP to opt out')",
        f"{tmp_path}/offers.yaml:4: warning: promotional flow: no text names the brand (start it "
        "with '{brand}: ' so people know who is texting)",
    ]


def test_bot_flows_check_reports_a_bad_offers_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "spring_sale.yaml").write_text(SALE_FLOW)
    offers = tmp_path / "offers.yaml"
    offers.write_text("offers:\n  - keyword: HELP\n    offer: x\n    flow: spring\n")
    monkeypatch.setenv("FLOWS_DIR", str(tmp_path))
    result = CliRunner().invoke(main, ["flows", "check"])
    assert result.exit_code == 1
    assert result.output.splitlines() == [
        f"{offers}:2: 'HELP' is reserved: it is a help keyword that always means the same "
        "thing to carriers",
        f"{offers}:4: flow: no flow named 'spring'; did you mean 'spring_sale'?",
        "1 flow file: 2 errors, 0 warnings",
    ]


def test_bot_flows_check_passes_the_shipped_offers(monkeypatch: pytest.MonkeyPatch) -> None:
    result = CliRunner().invoke(main, ["flows", "check"])
    assert (result.exit_code, result.output.splitlines()[-1]) == (
        0,
        "5 flow files: 0 errors, 0 warnings",
    )

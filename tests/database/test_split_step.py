"""The `split` step: random branches by weight, the same for a person within a run, counted."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.accounts.agents import create_agent
from bot.authoring.flow_tests import FlowTestRunner
from bot.engine.checker import check_flow
from bot.engine.parser import parse_flow, read_flow_file
from bot.engine.steps.split import SplitStep
from tests.support.flow_app import FlowApp, write
from tests.support.harness import API_KEY, make_settings
from tests.support.inbox import PASSWORD, login
from tests.support.passwords import hash_once

COUPON = "Acme: here is 10% off: SAVE10. Reply STOP to opt out."
PLAIN = "Acme: thanks for asking about offers! Reply STOP to opt out."
OFFER_FLOW = f"""\
flow: offer
triggers:
  keywords: [OFFER]
steps:
  - id: pick
    split:
      - {{weight: 3, goto: coupon}}
      - {{weight: 1, goto: plain}}
  - id: coupon
    end: "{COUPON}"
  - id: plain
    end: "{PLAIN}"
"""
PEOPLE = [f"+1415555{n:04d}" for n in range(200)]


def split_of(text: str) -> SplitStep:
    parsed = parse_flow(text, "offer.yaml")
    assert parsed.flow is not None, parsed.problems
    step = parsed.flow.steps[0]
    assert isinstance(step, SplitStep)
    return step


def test_a_draw_is_stable_for_a_run_and_follows_the_weights() -> None:
    step = split_of(OFFER_FLOW)
    run = datetime(2026, 11, 30, 18, 0, tzinfo=UTC).isoformat()
    draws = [step.draw(phone, "offer", run) for phone in PEOPLE]
    assert draws == [step.draw(phone, "offer", run) for phone in PEOPLE]  # deterministic
    counts = Counter(draws)
    assert 120 <= counts["coupon"] <= 180 and counts["coupon"] + counts["plain"] == 200
    later = datetime(2026, 12, 1, tzinfo=UTC).isoformat()
    assert [step.draw(p, "offer", later) for p in PEOPLE] != draws  # a new run draws anew


def test_branch_counts_in_the_results_api_and_page(database_url: str, flows_dir: Path) -> None:
    write(flows_dir, "offer.yaml", OFFER_FLOW)
    app = FlowApp(database_url, flows_dir)
    answers = Counter()
    for phone in PEOPLE[:40]:
        [answer] = app.text("OFFER", phone=phone)
        answers[answer] += 1
    assert set(answers) == {COUPON, PLAIN}
    results = app.client.get(
        "/api/flows/offer/results", headers={"Authorization": f"Bearer {API_KEY}"}
    ).get_json()
    assert results["splits"] == [
        {
            "step": "pick",
            "branches": [
                {"goto": "coupon", "weight": 3.0, "people": answers[COUPON]},
                {"goto": "plain", "weight": 1.0, "people": answers[PLAIN]},
            ],
        }
    ]
    create_agent(
        app.services.db, "dana@acme.test", "Dana", PASSWORD, now=app.clock(), hasher=hash_once
    )
    inbox = app.client.application.test_client()
    assert login(inbox, "dana@acme.test", PASSWORD).status_code == 302
    page = " ".join(inbox.get("/inbox/flows/offer").get_data(as_text=True).split())
    assert "<h2>Split pick</h2>" in page
    assert f"<tr><td>coupon</td><td>3</td><td>{answers[COUPON]}</td></tr>" in page
    app.dispose()


@pytest.mark.parametrize(
    ("arms", "message"),
    [
        (
            "- {weight: 0, goto: coupon}\n      - {weight: 1, goto: plain}",
            "offer.yaml:7: a split branch's weight must be a positive number, not 0",
        ),
        ("- {weight: 1, goto: coupon}", "offer.yaml:5: a split needs at least two branches"),
        ("- {weight: 1, goto: coupon}\n      - {weight: 1, goto: nowhere}", "nowhere"),
    ],
)
def test_the_checker_refuses_bad_weights_and_targets(arms: str, message: str) -> None:
    text = OFFER_FLOW.replace("- {weight: 3, goto: coupon}\n      - {weight: 1, goto: plain}", arms)
    parsed = parse_flow(text, "offer.yaml")
    problems = [str(p) for p in parsed.problems]
    if parsed.flow is not None:
        problems += [str(p) for p in check_flow(parsed.flow)]
    assert any(message in problem for problem in problems), problems


def test_a_flow_test_pins_a_branch_with_an_attribute(tmp_path: Path) -> None:
    tests = f"""
tests:
  - name: the coupon branch
    subscriber: {{status: subscribed, attributes: {{split_pick: coupon}}}}
    conversation:
      - user: OFFER
      - bot: "{COUPON}"
  - name: the plain branch
    subscriber: {{status: subscribed, attributes: {{split_pick: plain}}}}
    conversation:
      - user: OFFER
      - bot: "{PLAIN}"
"""
    write(tmp_path, "offer.yaml", OFFER_FLOW + tests)
    runner = FlowTestRunner(tmp_path, make_settings("sqlite://", FLOWS_DIR=tmp_path))
    try:
        outcomes = list(runner.run_file(read_flow_file(tmp_path / "offer.yaml")))
    finally:
        runner.close()
    assert [outcome.passed for outcome in outcomes] == [True, True], outcomes

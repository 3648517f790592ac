"""The flows Parley ships check clean and pass their own scripted conversations."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bot.authoring.flow_tests import FlowTestRunner, ScriptOutcome
from bot.conversations.flow_registry import check_files, flow_files
from bot.domain.keywords import default_vocabulary
from bot.engine.parser import ParsedFile
from tests.support.harness import make_settings
from tests.support.paths import SHIPPED_FLOWS

EXPECTED_FLOWS = {"welcome", "nps", "feedback", "abandoned_cart", "csat"}


@pytest.fixture(scope="module")
def parsed() -> list[ParsedFile]:
    return check_files(flow_files(SHIPPED_FLOWS), brand="Parley", vocabulary=default_vocabulary())


@pytest.fixture(scope="module")
def outcomes(parsed: list[ParsedFile]) -> Iterator[list[ScriptOutcome]]:
    settings = make_settings("sqlite://", FLOWS_DIR=SHIPPED_FLOWS, BRAND_NAME="Parley")
    runner = FlowTestRunner(SHIPPED_FLOWS, settings)
    try:
        yield [outcome for item in parsed for outcome in runner.run_file(item)]
    finally:
        runner.close()


def test_the_shipped_flows_are_all_there(parsed: list[ParsedFile]) -> None:
    assert {item.flow.name for item in parsed if item.flow} == EXPECTED_FLOWS


def test_the_shipped_flows_check_clean(parsed: list[ParsedFile]) -> None:
    assert [str(problem) for item in parsed for problem in item.problems] == []


def test_every_shipped_flow_carries_tests(outcomes: list[ScriptOutcome]) -> None:
    tested = {outcome.file.rsplit("/", 1)[-1].split(".")[0] for outcome in outcomes}
    assert tested == EXPECTED_FLOWS
    assert len(outcomes) >= 12


def test_every_scripted_conversation_passes(outcomes: list[ScriptOutcome]) -> None:
    failures = [str(outcome) for outcome in outcomes if not outcome.passed]
    assert failures == [], "\n".join(failures)

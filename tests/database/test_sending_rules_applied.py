"""The law's sending rules where texts are queued and handed over, and where operators see
them: the outbox, the dispatcher, `bot flows check` and the start-up log. Both databases."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner
from sqlalchemy import select
from sqlalchemy.engine import Engine

from bot.app import create_app, services_of
from bot.cli import main
from bot.domain.policy import PolicyRules
from bot.domain.vocabulary import MessageStatus
from bot.sending.dispatcher import Dispatcher
from bot.sending.gateways.fake import FakeGateway
from bot.store.tables import MESSAGES
from bot.testing.clock import FakeClock
from tests.support.harness import make_settings
from tests.support.outbox_rows import queue_promotion
from tests.support.sending_rules import LOOSER_FLORIDA, OVERRIDE


def promote(db: Engine, at: datetime, rules: PolicyRules, body: str = "20% off") -> int:
    """Queue one promotion to the Florida number, as a flow or campaign does."""
    return queue_promotion(db, MIAMI, at=at, rules=rules, body=body)


MIAMI = "+13055550100"  # area code 305: Florida; no stored zone or state
EASTERN = ZoneInfo("America/New_York")
AFTERNOON = datetime(2026, 12, 1, 14, 0, tzinfo=EASTERN)
FLORIDA_HOURS = "Fla. Stat. § 501.616(6)(a): 08:00-20:00"


def row(db: Engine, message_id: int) -> Any:
    with db.connect() as connection:
        return connection.execute(select(MESSAGES).where(MESSAGES.c.id == message_id)).one()


def test_a_florida_number_gets_three_promotions_a_day_even_with_no_operator_cap(
    database_url: str, db: Engine
) -> None:
    rules = make_settings(database_url, PROMOTIONAL_PER_DAY=0).policy_rules

    queued = [promote(db, AFTERNOON + timedelta(minutes=minute), rules) for minute in range(4)]
    evening = promote(db, AFTERNOON.replace(hour=20, minute=30), rules, body="Last call")

    rows = [row(db, message_id) for message_id in queued]
    assert [r.send_after for r in rows[:3]] == [None, None, None]
    fourth = rows[3]
    assert fourth.status is MessageStatus.PENDING
    assert fourth.error_message == "Fla. Stat. § 501.616(6)(b): 3 marketing texts in 24 h"
    assert fourth.send_after == AFTERNOON + timedelta(days=1)  # the first one is 24 h old
    # Three are still within 24 h at 20:30 (the deferred one counts from when it is due), and
    # a fourth may go only when the second is a day old: inside Florida's hours again.
    late = row(db, evening)
    assert late.status is MessageStatus.PENDING
    assert late.error_message == fourth.error_message
    assert late.send_after == AFTERNOON + timedelta(days=1, minutes=1)


def test_a_promotion_at_half_past_eight_in_florida_waits_for_eight_in_the_morning(
    database_url: str, db: Engine
) -> None:
    rules = make_settings(database_url).policy_rules

    held = row(db, promote(db, datetime(2026, 12, 1, 20, 30, tzinfo=EASTERN), rules))

    assert held.status is MessageStatus.PENDING
    assert held.error_message == FLORIDA_HOURS
    assert held.send_after == datetime(2026, 12, 2, 8, 0, tzinfo=EASTERN)


def test_the_dispatcher_holds_a_queued_florida_promotion_at_claim_time_after_eight(
    database_url: str, db: Engine
) -> None:
    clock = FakeClock(datetime(2026, 12, 1, 19, 50, tzinfo=EASTERN))
    gateway = FakeGateway(clock=clock)
    rules = make_settings(database_url).policy_rules
    dispatcher = Dispatcher(db=db, gateway=gateway, clock=clock, rules=rules)
    promotion = promote(db, clock(), rules)
    assert row(db, promotion).send_after is None  # allowed when queued
    clock.advance(timedelta(minutes=20))  # an outage, say, kept it in the outbox till 20:10

    dispatcher.run_once()

    assert gateway.attempts == []
    held = row(db, promotion)
    assert held.status is MessageStatus.PENDING
    assert held.error_message == FLORIDA_HOURS
    assert held.send_after == datetime(2026, 12, 2, 8, 0, tzinfo=EASTERN)
    clock.set(datetime(2026, 12, 2, 8, 0, tzinfo=EASTERN))
    dispatcher.run_once()
    assert [text.body for text in gateway.attempts] == ["20% off"]


def test_an_override_is_logged_at_every_start(
    database_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "ours.yaml"
    path.write_text(LOOSER_FLORIDA + OVERRIDE, "utf-8")
    settings = make_settings(database_url, SENDING_RULES_FILE=path)

    with caplog.at_level(logging.WARNING, logger="bot.services"):
        app = create_app(settings, gateway=FakeGateway())
    services_of(app).close()

    assert f"{path}:3: Florida hours overrides a shipped sending rule:" in caplog.text
    assert "texts to our own staff only" in caplog.text


# -- bot flows check ----------------------------------------------------------------------------


def test_flows_check_refuses_a_loosening_without_override_at_its_line(
    flows_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rules_file = flows_dir / "sending_rules.yaml"
    rules_file.write_text(LOOSER_FLORIDA, "utf-8")
    monkeypatch.setenv("FLOWS_DIR", str(flows_dir))

    result = CliRunner().invoke(main, ["flows", "check"])

    assert result.exit_code == 1
    assert f"{rules_file}:3: Florida hours is looser than the shipped rule" in result.output


def test_flows_check_shows_an_override_as_a_warning(
    flows_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rules_file = flows_dir / "sending_rules.yaml"
    rules_file.write_text(LOOSER_FLORIDA + OVERRIDE, "utf-8")
    monkeypatch.setenv("FLOWS_DIR", str(flows_dir))

    result = CliRunner().invoke(main, ["flows", "check"])

    assert result.exit_code == 0, result.output
    assert (
        f"{rules_file}:3: warning: Florida hours overrides the shipped rule"
        " (Fla. Stat. § 501.616(6)(a)): texts to our own staff only"
    ) in result.output
    assert "1 warning" in result.output

"""`bot outbox retry`: failed texts go again through the send policy, never to the wrong people."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import select, update
from sqlalchemy.engine import Engine

from bot.cli import main
from bot.domain.policy import PolicyRules, parse_window
from bot.domain.vocabulary import Delivery, MessageStatus, Purpose, SubscriberStatus
from bot.sending.dispatcher import Dispatcher
from bot.sending.gateways.fake import FakeGateway
from bot.sending.outbox import queue_text
from bot.sending.requeue import RetryReport, Selection, retry_failed
from bot.store.db import transaction
from bot.store.models import Subscriber, utcnow
from bot.store.subscribers import change_status, claim_subscriber
from bot.store.tables import MESSAGES
from bot.testing.clock import FakeClock

ANN, BEN, CY, DI = "+12125550101", "+12125550102", "+12125550103", "+12125550104"
ALL_DAY = "00:00-24:00"  # the command runs on the wall clock: no quiet hours to trip on
FAILED_AT = datetime(2026, 11, 30, 15, 0, tzinfo=UTC)  # 10:00 in New York
NOON_IN_NEW_YORK = datetime(2026, 12, 1, 17, 0, tzinfo=UTC)
RULES = PolicyRules(sending_hours=parse_window(ALL_DAY), promotional_per_day=None)


@pytest.fixture
def cli(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("FLOWS_DIR", str(tmp_path / "flows"))
    monkeypatch.setenv("GATEWAY", "console")
    monkeypatch.setenv("SENDING_HOURS", ALL_DAY)
    return CliRunner()


def retry(cli: CliRunner, *args: str) -> Result:
    return cli.invoke(main, ["outbox", "retry", *args])


def failed_text(
    db: Engine,
    phone: str,
    *,
    body: str = "Boots 20% off",
    campaign: str | None = None,
    error_code: int | None = 20503,
    error_message: str = "gave up: the provider still failed it after the 4h retry window",
    failed_at: datetime = FAILED_AT,
    purpose: Purpose = Purpose.PROMOTIONAL,
    status: SubscriberStatus = SubscriberStatus.SUBSCRIBED,
    provider_sid: str | None = None,
) -> int:
    """A text that went through the outbox and failed, as the dispatcher leaves one."""
    with transaction(db) as connection:
        subscriber = claim_subscriber(connection, phone, failed_at)
        change_status(connection, subscriber, SubscriberStatus.SUBSCRIBED, failed_at)
        queued = queue_text(
            connection,
            subscriber,
            body=body,
            purpose=purpose,
            delivery=Delivery.OUTBOX,
            now=failed_at - timedelta(hours=4),
            rules=RULES,
            campaign=campaign,
        )
        connection.execute(
            update(MESSAGES)
            .where(MESSAGES.c.id == queued.id)
            .values(
                status=MessageStatus.FAILED,
                error_code=error_code,
                error_message=error_message,
                provider_sid=provider_sid,
                attempts=3,
                retrying_since=failed_at - timedelta(hours=4),
                updated_at=failed_at,
            )
        )
        change_status(connection, subscriber, status, failed_at)
        return queued.id


def sent_text(db: Engine, phone: str, *, campaign: str) -> int:
    """A campaign text the person got."""
    with transaction(db) as connection:
        subscriber = claim_subscriber(connection, phone, FAILED_AT)
        change_status(connection, subscriber, SubscriberStatus.SUBSCRIBED, FAILED_AT)
        queued = queue_text(
            connection,
            subscriber,
            body="Boots 20% off",
            purpose=Purpose.PROMOTIONAL,
            delivery=Delivery.OUTBOX,
            now=FAILED_AT,
            rules=RULES,
            campaign=campaign,
        )
        connection.execute(
            update(MESSAGES)
            .where(MESSAGES.c.id == queued.id)
            .values(status=MessageStatus.DELIVERED, sent_at=FAILED_AT, provider_sid="SM" + phone)
        )
        return queued.id


def row(db: Engine, message_id: int) -> Any:
    with db.connect() as connection:
        return connection.execute(select(MESSAGES).where(MESSAGES.c.id == message_id)).one()


def status(db: Engine, *message_ids: int) -> list[MessageStatus]:
    return [row(db, message_id).status for message_id in message_ids]


def dispatch_all(db: Engine) -> FakeGateway:
    """What a worker does next: send every due text."""
    gateway = FakeGateway()
    # The wall clock's hour must not hold a promotional text for the recipient's morning.
    dispatcher = Dispatcher(db=db, gateway=gateway, dispatcher_id="worker:1", rules=RULES)
    while dispatcher.run_once():
        pass
    return gateway


# -- selecting what to retry --------------------------------------------------------------------


def test_by_campaign_only_the_failed_texts_of_that_campaign_go_again(
    db: Engine, cli: CliRunner
) -> None:
    got_it = sent_text(db, ANN, campaign="sale")
    failed = failed_text(db, BEN, campaign="sale")
    other_campaign = failed_text(db, CY, campaign="launch")
    not_a_campaign = failed_text(db, DI)

    result = retry(cli, "--campaign", "sale")

    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[:2] == ["1 failed texts selected:", "  1 requeued (due now)"]
    assert status(db, got_it, failed, other_campaign, not_a_campaign) == [
        MessageStatus.DELIVERED,
        MessageStatus.PENDING,
        MessageStatus.FAILED,
        MessageStatus.FAILED,
    ]
    requeued = row(db, failed)
    assert (requeued.attempts, requeued.retrying_since, requeued.error_code) == (0, None, None)
    assert [text.to for text in dispatch_all(db).outbox] == [BEN]  # Ann is not texted again
    assert status(db, failed) == [MessageStatus.QUEUED]


def test_by_time_failed_between_since_and_until(db: Engine, cli: CliRunner) -> None:
    early = failed_text(db, ANN, failed_at=FAILED_AT - timedelta(hours=2))
    middle = failed_text(db, BEN, failed_at=FAILED_AT)
    late = failed_text(db, CY, failed_at=FAILED_AT + timedelta(hours=2))

    result = retry(cli, "--since", "2026-11-30T14:00", "--until", "2026-11-30T11:00-05:00")

    assert result.exit_code == 0, result.output
    assert status(db, early, middle, late) == [
        MessageStatus.FAILED,
        MessageStatus.PENDING,
        MessageStatus.FAILED,
    ]


def test_since_takes_a_time_ago(db: Engine, cli: CliRunner) -> None:
    now = utcnow()
    an_hour_ago = failed_text(db, ANN, failed_at=now - timedelta(hours=1))
    yesterday = failed_text(db, BEN, failed_at=now - timedelta(days=1))

    result = retry(cli, "--since", "2h")

    assert result.exit_code == 0, result.output
    assert status(db, an_hour_ago, yesterday) == [MessageStatus.PENDING, MessageStatus.FAILED]


def test_by_error_code_which_may_be_given_again(db: Engine, cli: CliRunner) -> None:
    unavailable = failed_text(db, ANN, error_code=20503)
    throttled = failed_text(db, BEN, error_code=20429)
    bad_number = failed_text(db, CY, error_code=21211, error_message="not a phone")

    result = retry(cli, "--error-code", "20503", "--error-code", "20429")

    assert result.exit_code == 0, result.output
    assert status(db, unavailable, throttled, bad_number) == [
        MessageStatus.PENDING,
        MessageStatus.PENDING,
        MessageStatus.FAILED,
    ]


def test_criteria_combine(db: Engine, cli: CliRunner) -> None:
    wanted = failed_text(db, ANN, campaign="sale", error_code=20503)
    other_code = failed_text(db, BEN, campaign="sale", error_code=20429)
    other_campaign = failed_text(db, CY, campaign="launch", error_code=20503)

    result = retry(cli, "--campaign", "sale", "--error-code", "20503", "--since", "2026-11-30")

    assert result.exit_code == 0, result.output
    assert status(db, wanted, other_code, other_campaign) == [
        MessageStatus.PENDING,
        MessageStatus.FAILED,
        MessageStatus.FAILED,
    ]


# -- never to the wrong people ------------------------------------------------------------------


def test_a_text_whose_fate_is_unknown_is_never_sent_again(db: Engine, cli: CliRunner) -> None:
    unknown = failed_text(
        db,
        ANN,
        campaign="sale",
        error_code=None,
        error_message="fate unknown: the console gateway cannot confirm",
    )
    took_it = failed_text(db, BEN, campaign="sale", error_code=30003, provider_sid="SMx")

    result = retry(cli, "--campaign", "sale")

    assert result.exit_code == 0, result.output
    assert "  1 left alone: their fate is unknown (they may have been sent)" in result.output
    assert "  1 left alone: the provider took them, then reported them failed" in result.output
    assert status(db, unknown, took_it) == [MessageStatus.FAILED, MessageStatus.FAILED]
    assert dispatch_all(db).attempts == []


def test_texts_to_numbers_that_opted_out_stay_failed(db: Engine, cli: CliRunner) -> None:
    promotion = failed_text(db, ANN, status=SubscriberStatus.UNSUBSCRIBED)
    confirmation = failed_text(
        db, BEN, purpose=Purpose.COMPLIANCE, status=SubscriberStatus.UNSUBSCRIBED
    )
    never_joined = failed_text(db, CY, status=SubscriberStatus.NEW)  # a promotion: no consent
    fine = failed_text(db, DI)

    result = retry(cli, "--error-code", "20503")

    assert result.exit_code == 0, result.output
    assert "  3 suppressed (left failed: the number opted out" in result.output
    assert status(db, promotion, confirmation, never_joined, fine) == [
        MessageStatus.FAILED,
        MessageStatus.FAILED,
        MessageStatus.FAILED,
        MessageStatus.PENDING,
    ]
    assert [text.to for text in dispatch_all(db).outbox] == [DI]


def test_quiet_hours_defer_a_retried_promotion(db: Engine) -> None:
    promotion = failed_text(db, ANN)
    receipt = failed_text(db, BEN, purpose=Purpose.TRANSACTIONAL)
    three_am_in_new_york = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)

    report = retry_failed(
        db,
        Selection(error_codes=(20503,)),
        now=three_am_in_new_york,
        rules=PolicyRules(promotional_per_day=None),  # 08:00-21:00
    )

    assert report == RetryReport(requeued=1, deferred=1)
    deferred = row(db, promotion)
    assert deferred.status is MessageStatus.PENDING
    assert deferred.send_after == datetime(2026, 12, 1, 13, 0, tzinfo=UTC)  # 08:00 local
    assert row(db, receipt).send_after == three_am_in_new_york


def test_the_frequency_cap_counts_the_texts_a_retry_puts_back(db: Engine) -> None:
    # Three promotions to one person failed days ago; the cap allows two a day.
    old = FAILED_AT - timedelta(days=3)
    ids = [failed_text(db, ANN, body=f"offer {n}", failed_at=old) for n in range(3)]

    report = retry_failed(
        db,
        Selection(error_codes=(20503,)),
        now=NOON_IN_NEW_YORK,
        rules=PolicyRules(sending_hours=parse_window(ALL_DAY), promotional_per_day=2),
    )

    assert report == RetryReport(requeued=2, deferred=1)
    third = row(db, ids[2])
    assert third.send_after > NOON_IN_NEW_YORK + timedelta(hours=23)
    assert "cap" in third.error_message


def test_a_dry_run_counts_and_changes_nothing(db: Engine, cli: CliRunner) -> None:
    ids = [failed_text(db, phone) for phone in (ANN, BEN)]
    failed_text(db, CY, status=SubscriberStatus.UNSUBSCRIBED)

    dry = retry(cli, "--error-code", "20503", "--dry-run")

    assert dry.exit_code == 0, dry.output
    assert dry.output == (
        "3 failed texts selected:\n"
        "  2 would be requeued (due now)\n"
        "  0 would be deferred (back in the outbox for later: quiet hours or the frequency cap)\n"
        "  1 would be suppressed (left failed: the number opted out, or the send policy"
        " refuses the text)\n"
        "  0 left alone: their fate is unknown (they may have been sent)\n"
        "  0 left alone: the provider took them, then reported them failed\n"
        "dry run: nothing was changed\n"
    )
    assert status(db, *ids) == [MessageStatus.FAILED, MessageStatus.FAILED]
    real = retry(cli, "--error-code", "20503")
    assert real.output.splitlines()[1] == "  2 requeued (due now)"
    assert retry(cli, "--error-code", "20503").output.splitlines()[1] == "  0 requeued (due now)"


def test_nothing_to_retry_says_so(db: Engine, cli: CliRunner) -> None:
    result = retry(cli, "--since", "1h")
    assert (result.exit_code, result.output) == (0, "no failed texts match\n")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "say which failed texts to retry: --campaign NAME, --since/--until"),
        (["--since", "yesterday"], "Invalid value for '--since': 'yesterday' is neither an ISO"),
        (["--error-code", "abc"], "Invalid value for '--error-code': 'abc' is not a valid integer"),
        (
            ["--since", "2026-12-01", "--until", "2026-11-30"],
            "Invalid value for --until: 2026-11-30T00:00:00+00:00 is not after --since",
        ),
        (["--campaign", "nope"], "Invalid value for --campaign: no texts of campaign 'nope'"),
        (["--since", "9999-12-31T23:59:59-05:00"], "'9999-12-31T23:59:59-05:00' is out of range"),
    ],
)
def test_bad_arguments_get_a_clear_error(
    db: Engine, cli: CliRunner, args: list[str], message: str
) -> None:
    result = retry(cli, *args)
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output


# -- the story of the issue: an outage, then a re-send that texts nobody twice ------------------


def test_after_an_outage_longer_than_the_window_the_campaign_goes_out_once_to_each(
    db: Engine, cli: CliRunner, tmp_path: Path
) -> None:
    campaigns = tmp_path / "flows" / "campaigns"
    campaigns.mkdir(parents=True)
    (campaigns / "sale.yaml").write_text(
        "campaign: sale\nsegment: {tags: [vip]}\nvariants:\n"
        '  - {name: a, text: "{brand}: boots 20% off! Reply STOP to opt out."}\n'
    )
    with transaction(db) as connection:
        for phone in (ANN, BEN, CY):
            subscriber = claim_subscriber(connection, phone, utcnow())
            change_status(connection, subscriber, SubscriberStatus.SUBSCRIBED, utcnow())
            connection.execute(
                update(Subscriber.__table__)
                .where(Subscriber.__table__.c.phone == phone)
                .values(tags=["vip"])
            )
    assert cli.invoke(main, ["campaign", "send", "sale"]).exit_code == 0
    # The provider is down for longer than the retry window: the campaign fails.
    clock = FakeClock(utcnow())
    down = FakeGateway(clock=clock)
    down.down_until = clock() + timedelta(hours=1)
    dispatcher = Dispatcher(
        db=db,
        gateway=down,
        dispatcher_id="worker:1",
        clock=clock,
        retry_window=timedelta(minutes=10),
        rules=RULES,  # the wall clock's hour must not hold the campaign for the morning
    )
    while clock() < down.down_until:
        clock.advance(timedelta(seconds=dispatcher.run_round(clock())))
    assert down.outbox == []
    again = cli.invoke(main, ["campaign", "send", "sale"])
    assert "0 queued, 3 skipped (already sent)" in again.output  # the texts are gone ...

    retried = retry(cli, "--campaign", "sale")  # ... until the operator sends them again

    assert retried.exit_code == 0, retried.output
    assert retried.output.splitlines()[:2] == ["3 failed texts selected:", "  3 requeued (due now)"]
    assert retry(cli, "--campaign", "sale").output == "no failed texts match\n"  # twice: no harm
    gateway = dispatch_all(db)
    assert Counter(text.to for text in gateway.outbox) == {ANN: 1, BEN: 1, CY: 1}
    assert (
        "0 queued, 3 skipped (already sent)"
        in cli.invoke(main, ["campaign", "send", "sale"]).output
    )
    assert dispatch_all(db).attempts == []  # nobody texted twice

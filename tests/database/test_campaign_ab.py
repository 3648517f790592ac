"""MMS campaigns and test splits that decide: media reach Twilio, the winner reaches the rest."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from flask import Flask
from sqlalchemy import select

from bot.accounts.agents import create_agent
from bot.app import create_app, services_of
from bot.campaigns.assign import in_test_split
from bot.campaigns.audience import Recipient
from bot.campaigns.decision import SplitState, decide_due, decision_chore, split_state
from bot.campaigns.preview import Pricing, describe, preview_campaign
from bot.campaigns.send import load_campaign, pause_campaign, send_campaign, send_status
from bot.campaigns.stats import campaign_stats
from bot.cli import main
from bot.domain.vocabulary import CampaignSendStatus
from bot.domain.vocabulary import SubscriberStatus as S
from bot.sending.links import follow
from bot.services import Services, build_services
from bot.store.db import transaction
from bot.store.tables import LINKS, MESSAGES
from bot.testing.clock import FakeClock
from bot.timers.scheduler import timer_work
from bot.twilio.fake_server import FakeTwilioServer
from tests.database.test_campaign_send import seed
from tests.support.harness import API_KEY, make_settings
from tests.support.inbox import PASSWORD, login
from tests.support.passwords import check_once, hash_once

NOW = datetime(2026, 11, 30, 18, 0, tzinfo=UTC)  # 13:00 in New York: inside sending hours
TEXT = "{brand}: boots 20% off! https://acme.test/boots Reply STOP to opt out."
BOOTS = "https://cdn.acme.test/boots.jpg"
SIZES = "https://cdn.acme.test/sizes.png"
ACCOUNT_SID = "AC" + "a" * 32
AUTH_TOKEN = "b" * 32


def campaign_file(*, test: str = "", media: str = f"[{BOOTS}, {SIZES}]") -> str:
    return (
        "campaign: sale\nsegment: {tags: [vip]}\nsend_at: now\n"
        + (f"test: {test}\n" if test else "")
        + "variants:\n"
        + f'  - {{name: a, weight: 1, text: "{TEXT}", media: {media}}}\n'
        + f'  - {{name: b, weight: 1, text: "{TEXT} Hurry!"}}\n'
    )


def vips(count: int) -> list[tuple[str, S, str | None, list[str]]]:
    return [(f"+1617555{n:04d}", S.SUBSCRIBED, None, ["vip"]) for n in range(count)]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(NOW)


@pytest.fixture
def twilio() -> Iterator[FakeTwilioServer]:
    with FakeTwilioServer(account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN) as server:
        yield server


def services_for(
    database_url: str, flows_dir: Path, clock: FakeClock, **overrides: object
) -> Services:
    settings = make_settings(
        database_url,
        FLOWS_DIR=flows_dir,
        PUBLIC_URL="https://parley.test",
        PROMOTIONAL_PER_DAY=0,
        **overrides,
    )
    return build_services(settings, clock=clock)


def write(flows_dir: Path, text: str) -> None:
    (flows_dir / "campaigns").mkdir(exist_ok=True)
    (flows_dir / "campaigns" / "sale.yaml").write_text(text)


def send_everything(services: Services) -> int:
    sent = 0
    while handed := services.dispatcher.run_once():
        sent += handed
    return sent


def texts(services: Services) -> dict[str, str]:
    """Each person's variant of the campaign: one text per person, or the test fails."""
    with services.db.connect() as connection:
        rows = connection.execute(
            select(MESSAGES.c.phone, MESSAGES.c.variant).where(MESSAGES.c.campaign == "sale")
        ).all()
    assert len(rows) == len({phone for phone, _ in rows}), "someone got two texts"
    return dict(rows)


def click_all(services: Services, variant: str, clock: FakeClock) -> int:
    """Everyone who got `variant` follows their tracked link once."""
    with transaction(services.db) as connection:
        codes = connection.execute(
            select(LINKS.c.code)
            .join(MESSAGES, (MESSAGES.c.phone == LINKS.c.phone) & (MESSAGES.c.campaign == "sale"))
            .where(LINKS.c.campaign == "sale", MESSAGES.c.variant == variant)
        ).scalars()
        for code in codes:
            assert follow(connection, code, user_agent="Mozilla/5.0", now=clock()) is not None
    return len(texts(services))


# --- MMS --------------------------------------------------------------------------------------


def test_an_mms_campaigns_texts_carry_their_media_to_twilio(
    database_url: str, flows_dir: Path, clock: FakeClock, twilio: FakeTwilioServer
) -> None:
    write(flows_dir, campaign_file())
    services = services_for(
        database_url,
        flows_dir,
        clock,
        GATEWAY="twilio",
        TWILIO_ACCOUNT_SID=ACCOUNT_SID,
        TWILIO_AUTH_TOKEN=AUTH_TOKEN,
        TWILIO_FROM="+14155559999",
        TWILIO_API_URL=twilio.base_url,
        PRICE_PER_SEGMENT=0.01,
        PRICE_PER_MMS=0.05,
    )
    seed(services.db, vips(12))
    send_campaign(services, "sale")
    assert send_everything(services) == 12
    got = texts(services)
    assert set(got.values()) == {"a", "b"}
    for message in twilio.messages:
        expected = [BOOTS, SIZES] if got[message["To"]] == "a" else []
        assert message.get("MediaUrl", []) == expected
    with services.db.connect() as connection:
        stats = campaign_stats(
            connection,
            "sale",
            variant_names=["a", "b"],
            price_per_segment=0.01,
            currency="USD",
            price_per_mms=0.05,
        )
    a, b = stats.variants
    # An MMS is priced per text; the SMS variant per segment (one each here).
    assert (a.mms, a.segments, stats.cost(a)) == (a.sent, 0, pytest.approx(a.sent * 0.05))
    assert (b.mms, b.segments, stats.cost(b)) == (0, b.sent, pytest.approx(b.sent * 0.01))
    services.close()


def test_the_preview_prices_mms_per_text(flows_dir: Path) -> None:
    write(flows_dir, campaign_file())
    sale = load_campaign(make_settings("sqlite://", FLOWS_DIR=flows_dir), "sale")
    people = [Recipient(phone, None, None, {}, ("vip",)) for phone, *_ in vips(20)]
    preview = preview_campaign(
        sale,
        people,
        brand="Acme",
        support="help@acme.test",
        pricing=Pricing(0.01, "USD", 10, price_per_mms=0.05),
        default_zone="America/New_York",
        now=NOW,
    )
    a, b = preview.variants
    assert a.recipients and b.recipients and (a.mms, a.segments) == (a.recipients, 0)
    assert preview.cost == pytest.approx(a.recipients * 0.05 + b.segments * 0.01)
    text = describe(preview)
    assert f"MMS: {a.recipients} at 0.05 USD each" in text
    assert f"MMS with 2 media files: {a.recipients} texts" in text


# --- test splits ------------------------------------------------------------------------------

SPLIT = "{split: 50%, wait: 4h, pick_by: clicks}"


def test_a_test_split_sends_the_winner_to_the_rest(
    database_url: str, flows_dir: Path, clock: FakeClock
) -> None:
    write(flows_dir, campaign_file(test=SPLIT))
    services = services_for(database_url, flows_dir, clock)
    people = vips(400)
    seed(services.db, people)
    in_test = {phone for phone, *_ in people if in_test_split("sale", phone, 0.5)}

    first = send_campaign(services, "sale")
    assert first.testing and first.queued == len(in_test) and first.held == 400 - len(in_test)
    assert set(texts(services)) == in_test  # only the test split so far
    assert send_status(services, "sale") is CampaignSendStatus.TESTING
    send_everything(services)
    click_all(services, "b", clock)  # variant b gets every click, a none

    work = timer_work(services, [decision_chore(services)])
    assert work.next_due(NOW + timedelta(days=1)) == NOW + timedelta(hours=4)
    clock.advance(timedelta(hours=3, minutes=59))
    work.fire()
    assert state_of(services).decision is None and len(texts(services)) == len(in_test)

    clock.advance(timedelta(minutes=1))
    work.fire()  # the clock's tick: decides, then queues the rest
    state = state_of(services)
    assert state.decision is not None and state.decided_at == clock()
    assert (state.decision["variant"], state.decision["significant"]) == ("b", True)
    assert state.decision["pick_by"] == "clicks" and "gets more clicks" in state.decision["reason"]
    assert {row["variant"] for row in state.decision["numbers"]} == {"a", "b"}
    got = texts(services)
    assert set(got) == {phone for phone, *_ in people}  # everyone, once
    assert Counter(got[phone] for phone in set(got) - in_test) == {"b": 400 - len(in_test)}
    assert send_status(services, "sale") is CampaignSendStatus.DONE

    again = send_campaign(services, "sale")  # resend safe: nothing new
    assert (again.queued, again.skipped) == (0, 400)
    assert decide_due(services) == 0
    services.close()


def test_no_significant_winner_goes_by_the_better_rate_and_pausing_holds_the_rest(
    database_url: str, flows_dir: Path, clock: FakeClock
) -> None:
    write(flows_dir, campaign_file(test=SPLIT))
    services = services_for(database_url, flows_dir, clock)
    seed(services.db, vips(20))
    first = send_campaign(services, "sale")
    assert first.held
    assert pause_campaign(services, "sale") is CampaignSendStatus.PAUSED

    clock.advance(timedelta(hours=4))
    assert decide_due(services) == 1
    state = state_of(services)
    assert state.decision is not None
    # No clicks at all: a tie, so the file's first variant, and the record says why.
    assert (state.decision["variant"], state.decision["significant"]) == ("a", False)
    assert state.decision["reason"].startswith("too few sends to compare")
    assert "no significant winner: the better rate goes to the rest" in state.decision["reason"]
    assert len(texts(services)) == first.queued  # paused: the rest waits

    resumed = send_campaign(services, "sale")
    assert resumed.queued == first.held and not resumed.testing
    got = texts(services)
    assert len(got) == 20
    assert decide_due(services) == 0  # decided once
    services.close()


def test_the_decision_shows_in_status_api_and_inbox(
    database_url: str, flows_dir: Path, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(flows_dir, campaign_file(test=SPLIT))
    services = services_for(database_url, flows_dir, clock)
    seed(services.db, vips(20))
    send_campaign(services, "sale")
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("FLOWS_DIR", str(flows_dir))
    waiting = CliRunner().invoke(main, ["campaign", "status", "sale"])
    assert waiting.exit_code == 0, waiting.output
    assert "sale: testing\ntest split sent; the winner is picked at 2026-11-30 22:00 UTC" in (
        waiting.output
    )
    clock.advance(timedelta(hours=4))
    decide_due(services)
    decided = CliRunner().invoke(main, ["campaign", "status", "sale"])
    assert "sale: done\ndecided 2026-11-30T22:00:00+00:00: a goes to the rest" in decided.output
    assert "clicks: a: 0 of 0 sent; b: 0 of 0 sent" in decided.output

    app: Flask = create_app(services.settings, check_password=check_once)
    body = (
        app.test_client()
        .get("/api/campaigns/sale/stats", headers={"Authorization": f"Bearer {API_KEY}"})
        .get_json()
    )
    assert body["test"]["decision"]["variant"] == "a"
    assert body["test"]["decided_at"] == "2026-11-30T22:00:00+00:00"
    create_agent(services.db, "dana@acme.test", "Dana", PASSWORD, now=clock(), hasher=hash_once)
    inbox = app.test_client()
    assert login(inbox, "dana@acme.test", PASSWORD).status_code == 302
    page = " ".join(inbox.get("/inbox/campaigns/sale").get_data(as_text=True).split())
    assert "Decided 2026-11-30 22:00 UTC by clicks: <strong>a</strong> went to the rest" in page
    services_of(app).close()
    services.close()


def state_of(services: Services) -> SplitState:
    with services.db.connect() as connection:
        return split_state(connection, "sale")


def test_the_wait_starts_when_the_test_texts_may_go_out(database_url: str, flows_dir: Path) -> None:
    write(flows_dir, campaign_file(test=SPLIT))
    night = FakeClock(datetime(2026, 11, 30, 6, 0, tzinfo=UTC))  # 01:00 in Boston: quiet hours
    services = services_for(database_url, flows_dir, night)
    seed(services.db, vips(20))
    assert send_campaign(services, "sale").deferred
    # Held till 08:00 in Boston (13:00 UTC), then the four hours of the test.
    assert state_of(services).decide_at == datetime(2026, 11, 30, 17, 0, tzinfo=UTC)
    services.close()

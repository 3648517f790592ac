"""Sending a campaign: queued through the outbox in batches, pausable, never twice to one person."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine, create_engine, insert, select
from sqlalchemy.exc import IntegrityError

from bot.campaigns.assign import assign_variant
from bot.campaigns.send import (
    IdWindow,
    load_campaign,
    pause_campaign,
    people_in,
    send_campaign,
    send_status,
)
from bot.cli import main
from bot.domain.vocabulary import CampaignSendStatus, MessageStatus
from bot.domain.vocabulary import SubscriberStatus as S
from bot.sending import links as links_module
from bot.sending.gateways.fake import FakeGateway
from bot.services import Services, build_services
from bot.store.models import Link, Message, Subscriber
from tests.support.databases import PostgresDatabase
from tests.support.harness import make_settings

NOW = datetime(2026, 11, 30, 18, 0, tzinfo=UTC)  # 13:00 in New York, 10:00 in Los Angeles
LA, NY = "+12135550101", "+12125550102"
PEOPLE = [
    # phone, status, first name, tags
    (LA, S.SUBSCRIBED, "Ann", ["vip"]),
    (NY, S.SUBSCRIBED, None, ["vip", "boots"]),
    ("+16175550103", S.SUBSCRIBED, "Cy", []),  # not in the segment
    ("+16175550104", S.UNSUBSCRIBED, "Di", ["vip"]),  # opted out
    ("+16175550105", S.PENDING, "Ed", ["vip"]),  # never confirmed
]
TEXT = "{brand}: boots 20% off, {first_name|friend}! https://acme.test/boots Reply STOP to opt out."
CAMPAIGN = f"""\
campaign: sale
segment: {{tags: [vip]}}
send_at: SEND_AT
variants:
  - {{name: a, weight: 1, text: "{TEXT}"}}
  - {{name: b, weight: 1, text: "{TEXT} Hurry!"}}
"""


def write_campaign(flows_dir: Path, send_at: str = "now") -> None:
    (flows_dir / "campaigns" / "sale.yaml").write_text(CAMPAIGN.replace("SEND_AT", send_at))


@pytest.fixture
def flows_dir(flows_dir: Path) -> Path:
    """The shared flows folder with the campaign under test."""
    folder = flows_dir
    (folder / "campaigns").mkdir()
    write_campaign(folder)
    return folder


@pytest.fixture
def gateway() -> FakeGateway:
    return FakeGateway(clock=lambda: NOW)


@pytest.fixture
def services(database_url: str, flows_dir: Path, gateway: FakeGateway) -> Iterator[Services]:
    settings = make_settings(database_url, FLOWS_DIR=flows_dir, PUBLIC_URL="https://parley.test")
    built = build_services(settings, gateway=gateway, clock=lambda: NOW)
    yield built
    built.close()


def seed(db: Engine, people: list[tuple[str, S, str | None, list[str]]] = PEOPLE) -> None:
    rows = [
        {
            "phone": phone,
            "status": status,
            "first_name": name,
            "tags": tags,
            "attributes": {},
            "created_at": NOW,
            "updated_at": NOW,
        }
        for phone, status, name, tags in people
    ]
    with db.begin() as connection:
        connection.execute(insert(Subscriber.__table__), rows)  # type: ignore[attr-defined]


def campaign_texts(db: Engine) -> list[Message]:
    table = Message.__table__  # type: ignore[attr-defined]
    with db.connect() as connection:
        rows = connection.execute(
            select(table).where(table.c.campaign == "sale").order_by(table.c.id)
        ).all()
    return [Message(**row._mapping) for row in rows]


def test_the_segment_gets_one_text_each_with_its_variant(services: Services) -> None:
    seed(services.db)
    seen: list[tuple[int, int]] = []
    report = send_campaign(services, "sale", progress=lambda d, t: seen.append((d, t)), now=NOW)
    assert (report.recipients, report.queued, report.skipped) == (2, 2, 0)
    assert (report.deferred, report.suppressed, report.paused) == (0, 0, False)
    assert seen[0] == (0, 2) and seen[-1] == (2, 2)
    texts = campaign_texts(services.db)
    assert [t.phone for t in texts] == [LA, NY]
    variants = load_campaign(services.settings, "sale").variants
    for text in texts:
        assert text.variant == assign_variant("sale", text.phone, variants).name
        assert text.status is MessageStatus.PENDING and text.send_after is None
        assert text.purpose == "promotional" and text.delivery == "outbox"
    assert texts[0].body.startswith("Acme: boots 20% off, Ann! https://parley.test/l/")
    assert texts[1].body.startswith("Acme: boots 20% off, friend! https://parley.test/l/")
    assert send_status(services, "sale") is CampaignSendStatus.DONE


def test_links_are_tracked_for_the_campaign_and_the_dispatcher_sends(
    services: Services, gateway: FakeGateway
) -> None:
    seed(services.db)
    send_campaign(services, "sale", now=NOW)
    links = Link.__table__  # type: ignore[attr-defined]
    with services.db.connect() as connection:
        found = connection.execute(select(links.c.phone, links.c.campaign, links.c.url)).all()
    assert sorted(found) == sorted(
        [(LA, "sale", "https://acme.test/boots"), (NY, "sale", "https://acme.test/boots")]
    )
    assert services.dispatcher.run_once(now=NOW) == 2
    assert sorted(text.to for text in gateway.outbox) == sorted([LA, NY])
    assert all("/l/" in text.body for text in gateway.outbox)


def test_a_new_link_code_some_link_already_has_is_drawn_again(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A campaign's codes are not looked up before the insert: the unique index refuses a clash,
    # and the batch is redone with new codes. The first draw here clashes on purpose.
    seed(services.db)
    links = Link.__table__  # type: ignore[attr-defined]
    with services.db.begin() as connection:
        connection.execute(
            insert(links),
            {"code": "Taken12", "url": "https://acme.test/old", "phone": "+16175550103",
             "created_at": NOW, "clicks": 0},
        )  # fmt: skip
    draw = links_module._random_codes
    draws: list[int] = []

    def clashing_first(count: int) -> list[str]:
        draws.append(count)
        return ["Taken12", *draw(count - 1)] if len(draws) == 1 else draw(count)

    monkeypatch.setattr(links_module, "_random_codes", clashing_first)
    report = send_campaign(services, "sale", now=NOW)

    assert report.queued == 2 and len(draws) == 2  # the clash was drawn, then drawn again
    with services.db.connect() as connection:
        found = dict(connection.execute(select(links.c.code, links.c.url)).all())
    assert found["Taken12"] == "https://acme.test/old"  # the old link is untouched
    assert len(found) == 3
    codes = {text.body.split("/l/")[1].split()[0] for text in campaign_texts(services.db)}
    assert codes == set(found) - {"Taken12"}  # each text names its own, stored link


def test_a_second_run_queues_nothing_new(services: Services) -> None:
    seed(services.db)
    send_campaign(services, "sale", now=NOW)
    again = send_campaign(services, "sale", now=NOW)
    assert (again.recipients, again.queued, again.skipped) == (2, 0, 2)
    assert len(campaign_texts(services.db)) == 2


def test_the_database_refuses_a_second_text_of_a_campaign(services: Services) -> None:
    seed(services.db)
    send_campaign(services, "sale", now=NOW)
    table = Message.__table__  # type: ignore[attr-defined]
    row = {
        column: value
        for column, value in campaign_texts(services.db)[0].model_dump().items()
        if column not in {"id", "provider_sid"}
    }
    with pytest.raises(IntegrityError), services.db.begin() as connection:
        connection.execute(insert(table), row)
    with services.db.begin() as connection:  # other campaigns and plain texts are free
        connection.execute(insert(table), {**row, "campaign": "other"})
        connection.execute(insert(table), {**row, "campaign": None})
        connection.execute(insert(table), {**row, "campaign": None})


def test_pause_stops_after_the_batch_and_send_resumes_without_duplicates(
    services: Services,
) -> None:
    many = [(f"+1617555{n:04d}", S.SUBSCRIBED, None, ["vip"]) for n in range(1000, 1025)]
    seed(services.db, many)

    def pause_after_first_batch(done: int, total: int) -> None:
        if done:
            pause_campaign(services, "sale")

    first = send_campaign(services, "sale", progress=pause_after_first_batch, batch=10, now=NOW)
    assert first.paused and first.queued == 10
    assert send_status(services, "sale") is CampaignSendStatus.PAUSED
    rest = send_campaign(services, "sale", batch=10, now=NOW)
    assert not rest.paused and (rest.queued, rest.skipped) == (15, 10)
    phones = [text.phone for text in campaign_texts(services.db)]
    assert sorted(phones) == sorted(phone for phone, *_ in many)
    assert send_status(services, "sale") is CampaignSendStatus.DONE


def test_a_local_send_time_is_ten_in_each_recipients_zone(
    services: Services, flows_dir: Path
) -> None:
    write_campaign(flows_dir, send_at='"2026-12-01 10:00"')
    seed(services.db)
    report = send_campaign(services, "sale", now=NOW)
    assert (report.queued, report.deferred) == (2, 0)
    due = {text.phone: text.send_after for text in campaign_texts(services.db)}
    assert due == {
        LA: datetime(2026, 12, 1, 18, 0, tzinfo=UTC),
        NY: datetime(2026, 12, 1, 15, 0, tzinfo=UTC),
    }
    assert services.dispatcher.run_once(now=NOW) == 0  # not yet
    assert services.dispatcher.run_once(now=NOW + timedelta(days=1)) == 2


def test_quiet_hours_still_apply_on_top(services: Services) -> None:
    seed(services.db)
    night = datetime(2026, 12, 1, 4, 0, tzinfo=UTC)  # 23:00 in New York, 20:00 in Los Angeles
    report = send_campaign(services, "sale", now=night)
    assert report.queued + report.deferred == 2 and report.deferred >= 1


def test_unless_told_sqlite_queues_500_people_a_transaction_and_postgresql_2000(
    services: Services, database_url: str
) -> None:
    """SQLite's batches hold the writer's turn inbound texts wait for: they stay small."""
    seed(services.db, [(f"+1617555{n:04d}", S.SUBSCRIBED, None, ["vip"]) for n in range(2_500)])
    done: list[int] = []
    report = send_campaign(services, "sale", progress=lambda at, _total: done.append(at), now=NOW)
    assert report.queued == 2_500
    first_batch = 500 if database_url.startswith("sqlite") else 2_000
    assert done[:2] == [0, first_batch]


def test_batches_reach_everyone_across_gaps_in_the_ids(services: Services) -> None:
    """People are read by id in windows: gaps (people erased, imports) and people not
    subscribed in between leave nobody out, however small the batch."""
    ids = [1, 2, 3, 4, 9, 2_000, 2_001, 2_002, 50_000, 50_001, 1_000_000]
    statuses = {3: S.UNSUBSCRIBED, 2_001: S.PENDING, 50_000: S.UNSUBSCRIBED}
    rows: list[dict[str, object]] = [
        {"id": id_, "phone": f"+1617555{index:04d}", "status": statuses.get(id_, S.SUBSCRIBED),
         "first_name": None, "tags": ["vip"], "attributes": {}, "created_at": NOW,
         "updated_at": NOW}
        for index, id_ in enumerate(ids)
    ]  # fmt: skip
    with services.db.begin() as connection:
        connection.execute(insert(Subscriber.__table__), rows)  # type: ignore[attr-defined]
    report = send_campaign(services, "sale", batch=2, now=NOW)
    subscribed = {row["phone"] for row in rows if row["status"] is S.SUBSCRIBED}
    assert (report.recipients, report.queued) == (len(subscribed), len(subscribed))
    assert {text.phone for text in campaign_texts(services.db)} == subscribed


def test_a_batch_reads_its_people_by_the_key_on_a_table_never_analyzed(
    postgres_database: PostgresDatabase,
) -> None:
    """PostgreSQL without statistics of a grown table (an import, then the campaign) plans an
    open `id > :after ORDER BY id LIMIT n` as a scan and sort of the whole table each batch."""
    db = create_engine(postgres_database.fresh())
    people = [
        {"phone": f"+1617{n:07d}", "status": S.SUBSCRIBED, "tags": [], "attributes": {},
         "created_at": NOW, "updated_at": NOW}
        for n in range(20_000)
    ]  # fmt: skip
    with db.connect() as connection:  # one transaction, rolled back: nothing analyzes it
        connection.execute(insert(Subscriber.__table__), people)  # type: ignore[attr-defined]
        compiled = people_in(IdWindow(after=10_000, span=500), 500).compile(connection)
        plan = connection.exec_driver_sql(f"EXPLAIN {compiled}", compiled.params).scalars().all()
        connection.rollback()
    db.dispose()
    assert not [step for step in plan if "Seq Scan" in step], plan


# --- the commands -----------------------------------------------------------------------------


@pytest.fixture
def cli_env(
    services: Services, database_url: str, flows_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> CliRunner:
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("FLOWS_DIR", str(flows_dir))
    monkeypatch.setenv("BRAND_NAME", "Acme")
    monkeypatch.setenv("GATEWAY", "console")
    return CliRunner()


def test_cli_sends_pauses_and_reports(services: Services, cli_env: CliRunner) -> None:
    seed(services.db)
    nothing = cli_env.invoke(main, ["campaign", "pause", "sale"])
    assert nothing.exit_code == 1
    assert nothing.output == "Error: campaign 'sale' has not been sent yet: nothing to pause\n"
    sent = cli_env.invoke(main, ["campaign", "send", "sale"])
    assert sent.exit_code == 0, sent.output
    assert "Queueing sale" in sent.output
    # The command runs on the wall clock: at night the texts are deferred rather than queued.
    assert "sale: 2 people in the segment; " in sent.output
    assert "0 skipped (already sent), 0 suppressed by policy," in sent.output
    again = cli_env.invoke(main, ["campaign", "send", "sale"])
    assert again.exit_code == 0, again.output
    assert "0 queued, 2 skipped (already sent)" in again.output
    done = cli_env.invoke(main, ["campaign", "pause", "sale"])
    assert done.exit_code == 1
    assert "already queued in full" in done.output


def test_cli_refuses_unknown_and_broken_campaigns(
    services: Services, cli_env: CliRunner, flows_dir: Path
) -> None:
    (flows_dir / "campaigns" / "broken.yaml").write_text("campaign: broken\nvariants: []\n")
    unknown = cli_env.invoke(main, ["campaign", "send", "nope"])
    assert unknown.exit_code == 1
    assert unknown.output == (
        "Error: no campaign named 'nope' that passes the check (known: sale);"
        " see `bot flows check`\n"
    )
    broken = cli_env.invoke(main, ["campaign", "send", "broken"])
    assert broken.exit_code == 1
    assert broken.output.startswith("Error: campaign 'broken' (")
    assert broken.output.endswith("has errors; see `bot flows check`\n")

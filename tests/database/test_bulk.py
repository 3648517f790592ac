"""Subscribers in bulk: CSV import with consent, export, subject access and erasure."""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select
from sqlalchemy.engine import Engine

from bot.cli import main
from bot.domain.vocabulary import (
    ConsentKind,
    ConversationStatus,
    Delivery,
    Direction,
    HandledBy,
    MessageStatus,
    Purpose,
    SubscriberStatus,
)
from bot.privacy.bulk import (
    ERASED,
    ImportReport,
    erase_subscriber,
    export_subscribers,
    import_subscribers,
    subscriber_record,
)
from bot.sending.outbox import queue_text
from bot.store.db import make_db, transaction
from bot.store.models import Answer, Conversation, Event, Message
from bot.store.subscribers import (
    change_status,
    claim_subscriber,
    record_consent,
)
from bot.store.tables import CONSENT_EVENTS, SUBSCRIBERS
from tests.support.paths import ROOT

NOW = datetime(2026, 1, 10, 15, 0, tzinfo=UTC)
HEADER = "phone,first_name,timezone,tags,consent_source,consent_text,consent_at,city\n"
CONSENT = "web-form,Yes text me deals. Reply STOP to opt out."
ADA = "+14155550101"
BEN = "+12125550102"
SAMPLE = ROOT / "data" / "sample_subscribers.csv"


def run_import(db: Engine, text: str, *, skip_bad: bool = False) -> ImportReport:
    reader = csv.DictReader(io.StringIO(text))
    return import_subscribers(
        db,
        reader,
        default_region="US",
        now=NOW,
        source_name="people.csv",
        skip_bad=skip_bad,
    )


def csv_lines(*rows: list[str]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    return buffer.getvalue()


def subscribers(db: Engine) -> dict[str, dict]:
    with db.connect() as connection:
        rows = connection.execute(select(SUBSCRIBERS)).mappings().all()
    return {row["phone"]: dict(row) for row in rows}


def ledger(db: Engine, phone: str) -> list[dict]:
    with db.connect() as connection:
        rows = connection.execute(
            select(CONSENT_EVENTS)
            .where(CONSENT_EVENTS.c.phone == phone)
            .order_by(CONSENT_EVENTS.c.id)
        )
        return [dict(row) for row in rows.mappings()]


def opt_out_by_text(db: Engine, phone: str) -> None:
    with transaction(db) as connection:
        subscriber = claim_subscriber(connection, phone, NOW)
        change_status(connection, subscriber, SubscriberStatus.UNSUBSCRIBED, NOW)
        record_consent(
            connection,
            subscriber,
            kind=ConsentKind.OPT_OUT,
            source="sms",
            now=NOW,
            keyword="STOP",
        )


def test_a_good_file_imports_everyone_subscribed_with_their_consent(db: Engine) -> None:
    report = run_import(db, SAMPLE.read_text(encoding="utf-8"))
    assert (report.imported, report.merged, report.refused) == (10, 0, [])
    assert report.written
    stored = subscribers(db)
    assert len(stored) == 10
    ada = stored[ADA]
    assert ada["status"] == SubscriberStatus.SUBSCRIBED
    assert ada["first_name"] == "Ada" and ada["timezone"] == "America/Los_Angeles"
    assert ada["tags"] == ["vip", "shoes"]
    assert ada["attributes"] == {"city": "San Francisco", "favorite_category": "shoes"}
    assert stored["+13125550103"]["attributes"] == {"city": "Chicago"}  # empty cells are not set
    (entry,) = ledger(db, ADA)
    assert entry["kind"] == ConsentKind.OPT_IN and entry["source"] == "web-form"
    assert entry["keyword"] is None
    assert entry["text"].startswith("Yes, text me Acme deals.")
    assert entry["created_at"] == datetime(2025, 9, 1, 10, 15, tzinfo=UTC)
    (dev,) = ledger(db, "+13035550104")
    assert dev["created_at"] == datetime(2025, 9, 4, 14, 5, tzinfo=UTC)  # -06:00 kept
    (cleo,) = ledger(db, "+13125550103")
    assert cleo["created_at"] == datetime(2025, 9, 3, tzinfo=UTC)  # a date alone: midnight UTC


def test_consent_at_defaults_to_now(db: Engine) -> None:
    run_import(db, HEADER + f"(415) 555-0101,Ada,,,{CONSENT},,\n")
    (entry,) = ledger(db, ADA)
    assert entry["created_at"] == NOW


BAD_FILE = (
    HEADER
    + f"(415) 555-0101,Ada,,,{CONSENT},,\n"  # 2: good
    + "(212) 555-0102,Ben,,,,,,\n"  # 3: no consent
    + f"banana,Cleo,,,{CONSENT},,\n"  # 4: bad phone
    + f"(312) 555-0104,Dev,Mars/Olympus,,{CONSENT},,\n"  # 5: bad time zone
    + f"(312) 555-0105,Eve,,,{CONSENT},last tuesday,\n"  # 6: bad date
    + "(312) 555-0106,Finn,,,web-form,,,\n"  # 7: consent text missing
)


def test_refused_rows_are_listed_by_line_and_nothing_is_written(db: Engine) -> None:
    report = run_import(db, BAD_FILE)
    assert not report.written
    assert (report.imported, report.merged) == (0, 0)
    assert [(r.line, r.column) for r in report.refused] == [
        (3, "consent_source"),
        (4, "phone"),
        (5, "timezone"),
        (6, "consent_at"),
        (7, "consent_text"),
    ]
    assert report.lines()[0] == (
        "people.csv:3: consent_source: no consent: "
        "consent_source and consent_text are required for every number"
    )
    assert "'banana'" in report.lines()[1]
    assert subscribers(db) == {}
    with db.connect() as connection:
        assert connection.execute(select(CONSENT_EVENTS)).first() is None


def test_skip_bad_imports_the_good_rows_and_reports_the_bad(db: Engine) -> None:
    report = run_import(db, BAD_FILE, skip_bad=True)
    assert report.written
    assert (report.imported, report.merged, len(report.refused)) == (1, 0, 5)
    assert list(subscribers(db)) == [ADA]


def test_a_future_consent_date_is_refused(db: Engine) -> None:
    report = run_import(db, HEADER + f"(415) 555-0101,Ada,,,{CONSENT},2027-01-01,\n")
    assert [(r.line, r.column, r.message) for r in report.refused] == [
        (2, "consent_at", "is in the future")
    ]


def test_duplicates_in_the_file_merge(db: Engine) -> None:
    text = (
        HEADER
        + f"(415) 555-0101,,,vip,{CONSENT},2025-01-01,Paris\n"
        + f"+1 415 555 0101,Ada,Europe/Paris,vip;shoes,{CONSENT},2025-02-01,Lyon\n"
    )
    report = run_import(db, text)
    assert (report.imported, report.merged) == (1, 1)
    ada = subscribers(db)[ADA]
    assert ada["first_name"] == "Ada" and ada["timezone"] == "Europe/Paris"
    assert ada["tags"] == ["vip", "shoes"]
    assert ada["attributes"] == {"city": "Lyon"}  # the later row wins
    assert [e["created_at"].month for e in ledger(db, ADA)] == [1, 2]  # one entry a row


def test_an_existing_subscriber_merges_file_wins(db: Engine) -> None:
    with transaction(db) as connection:
        connection.execute(
            SUBSCRIBERS.insert().values(
                phone=ADA,
                status=SubscriberStatus.PENDING,
                first_name="Ada",
                timezone="America/Chicago",
                attributes={"city": "Oslo", "size": "M"},
                tags=["old"],
                created_at=NOW,
                updated_at=NOW,
            )
        )
    report = run_import(db, HEADER + f"(415) 555-0101,,,new,{CONSENT},,Rome\n")
    assert (report.imported, report.merged) == (0, 1)
    ada = subscribers(db)[ADA]
    assert ada["status"] == SubscriberStatus.SUBSCRIBED
    assert ada["first_name"] == "Ada" and ada["timezone"] == "America/Chicago"
    assert ada["attributes"] == {"city": "Rome", "size": "M"}
    assert ada["tags"] == ["old", "new"]


def test_an_opted_out_number_is_never_resubscribed(db: Engine) -> None:
    opt_out_by_text(db, BEN)
    text = HEADER + f"(415) 555-0101,Ada,,,{CONSENT},,\n" + f"(212) 555-0102,Ben,,,{CONSENT},,\n"
    report = run_import(db, text)
    assert not report.written
    (refusal,) = report.refused
    assert (refusal.line, refusal.column) == (3, "phone")
    assert refusal.message.startswith("opted out by text on ")
    assert refusal.message.endswith("only the person can rejoin by texting START")
    assert list(subscribers(db)) == [BEN]  # Ada was not written either
    assert subscribers(db)[BEN]["status"] == SubscriberStatus.UNSUBSCRIBED

    skipped = run_import(db, text, skip_bad=True)
    assert (skipped.imported, len(skipped.refused)) == (1, 1)
    assert subscribers(db)[BEN]["status"] == SubscriberStatus.UNSUBSCRIBED
    assert [e["kind"] for e in ledger(db, BEN)] == [ConsentKind.OPT_OUT]


def test_skip_bad_writes_in_batches(db: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("bot.privacy.bulk.BATCH_ROWS", 3)
    rows = "".join(f"(415) 555-{1000 + n},P{n},,t{n % 2},{CONSENT},,\n" for n in range(10))
    report = run_import(db, HEADER + rows + rows, skip_bad=True)
    assert (report.imported, report.merged, report.refused) == (10, 10, [])
    stored = subscribers(db)
    assert len(stored) == 10
    assert all(len(ledger(db, phone)) == 2 for phone in stored)


def test_export_round_trip(db: Engine) -> None:
    run_import(db, SAMPLE.read_text(encoding="utf-8"))
    exported = list(export_subscribers(db))
    assert len(exported) == 10
    ada = exported[0]
    assert ada["phone"] == ADA and ada["status"] == "subscribed"
    assert ada["first_name"] == "Ada" and ada["timezone"] == "America/Los_Angeles"
    assert ada["tags"] == "vip;shoes"
    assert json.loads(ada["attributes"]) == {"city": "San Francisco", "favorite_category": "shoes"}
    assert (ada["consent_kind"], ada["consent_source"]) == ("opt_in", "web-form")
    assert datetime.fromisoformat(ada["consent_at"]) == datetime(2025, 9, 1, 10, 15, tzinfo=UTC)
    original = {row["phone"]: row for row in csv.DictReader(SAMPLE.open(encoding="utf-8"))}
    assert len(original) == 10
    opt_out_by_text(db, ADA)
    latest = next(row for row in export_subscribers(db) if row["phone"] == ADA)
    assert (latest["status"], latest["consent_kind"], latest["consent_source"]) == (
        "unsubscribed",
        "opt_out",
        "sms",
    )


def _a_life(db: Engine) -> None:
    """Ada: imported, texted, in a survey with an answer and a timer, an event, a queued text."""
    run_import(db, HEADER + f"(415) 555-0101,Ada,America/New_York,vip,{CONSENT},,Rome\n")
    with transaction(db) as connection:
        subscriber = claim_subscriber(connection, ADA, NOW)
        connection.execute(
            Message.__table__.insert().values(
                phone=ADA,
                direction=Direction.INBOUND,
                body="my email is ada@example.com",
                media_urls=["https://media.example/ada.jpg"],
                status=MessageStatus.RECEIVED,
                created_at=NOW,
                updated_at=NOW,
            )
        )
        queued = queue_text(
            connection,
            subscriber,
            body="Ada, 20% off today",
            purpose=Purpose.PROMOTIONAL,
            delivery=Delivery.OUTBOX,
            now=NOW,
        )
        assert queued.status is MessageStatus.PENDING
        conversation_id = connection.execute(
            Conversation.__table__.insert()
            .values(
                subscriber_id=subscriber.id,
                phone=ADA,
                flow="nps",
                flow_version="1",
                step="why",
                state={"vars": {"email": "ada@example.com"}},
                status=ConversationStatus.ACTIVE,
                handled_by=HandledBy.BOT,
                started_at=NOW,
                updated_at=NOW,
                wakes_at=NOW,
                wake_kind="timeout",
            )
            .returning(Conversation.__table__.c.id)
        ).scalar_one()
        connection.execute(
            Answer.__table__.insert().values(
                conversation_id=conversation_id,
                subscriber_id=subscriber.id,
                phone=ADA,
                flow="nps",
                step="score",
                name="score",
                value=9,
                created_at=NOW,
            )
        )
        connection.execute(
            Event.__table__.insert().values(
                type="cart_abandoned",
                phone=ADA,
                data={"cart_url": "https://shop.example/c/1"},
                received_at=NOW,
            )
        )


def test_show_holds_everything_about_one_person(db: Engine) -> None:
    _a_life(db)
    record = subscriber_record(db, ADA)
    assert record is not None
    json.dumps(record)  # serialisable as it is
    assert record["profile"]["first_name"] == "Ada"
    assert record["profile"]["attributes"] == {"city": "Rome"}
    assert [m["direction"] for m in record["messages"]] == ["inbound", "outbound"]
    assert record["messages"][0]["body"] == "my email is ada@example.com"
    assert [e["kind"] for e in record["consent"]] == ["opt_in"]
    assert record["answers"][0]["value"] == 9
    assert record["events"][0]["data"] == {"cart_url": "https://shop.example/c/1"}
    assert record["conversations"][0]["flow"] == "nps"
    assert subscriber_record(db, BEN) is None


def test_erase_removes_personal_data_and_leaves_an_opt_out_tombstone(db: Engine) -> None:
    _a_life(db)
    assert erase_subscriber(db, ADA, NOW) is True
    record = subscriber_record(db, ADA)
    assert record is not None
    profile = record["profile"]
    assert profile["status"] == "unsubscribed"
    assert (profile["first_name"], profile["timezone"]) == (None, None)
    assert (profile["attributes"], profile["tags"]) == ({}, [])
    assert {m["body"] for m in record["messages"]} == {ERASED}
    assert all(m["media_urls"] == [] for m in record["messages"])
    assert record["messages"][1]["status"] == "suppressed"  # the queued text never goes
    assert [a["value"] for a in record["answers"]] == [None]
    assert [e["data"] for e in record["events"]] == [{}]
    (conversation,) = record["conversations"]
    assert conversation["status"] == "ended" and conversation["state"] == {}
    assert [(e["kind"], e["source"], e["text"]) for e in record["consent"]] == [
        ("opt_in", "web-form", ERASED),
        ("opt_out", "erasure", None),
    ]
    with db.connect() as connection:
        timers = connection.execute(select(Conversation.__table__.c.wakes_at)).scalars().all()
    assert timers == [None]  # its timer will not wake it
    assert "ada@example.com" not in json.dumps(record)
    assert "Rome" not in json.dumps(record)

    with transaction(db) as connection:
        later = queue_text(
            connection,
            claim_subscriber(connection, ADA, NOW),
            body="We miss you",
            purpose=Purpose.PROMOTIONAL,
            delivery=Delivery.OUTBOX,
            now=NOW,
        )
    assert later.status is MessageStatus.SUPPRESSED

    again = run_import(db, HEADER + f"(415) 555-0101,Ada,,,{CONSENT},,\n")
    (refusal,) = again.refused
    assert refusal.column == "phone" and "texting START" in refusal.message
    assert subscribers(db)[ADA]["status"] == SubscriberStatus.UNSUBSCRIBED


def test_erasing_an_unknown_number_writes_nothing(db: Engine) -> None:
    assert erase_subscriber(db, BEN, NOW) is False
    assert subscribers(db) == {}


# The command line


@pytest.fixture
def runner(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[CliRunner]:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("BRAND_NAME", "Acme")
    yield CliRunner()


def test_cli_import_the_sample(runner: CliRunner) -> None:
    result = runner.invoke(main, ["subscribers", "import", str(SAMPLE)])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "imported 10, merged 0, refused 0"


def test_cli_import_refusals_print_file_line_column(runner: CliRunner, tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text(BAD_FILE, encoding="utf-8")
    result = runner.invoke(main, ["subscribers", "import", str(bad)])
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert lines[0].startswith(f"{bad}:3: consent_source: no consent")
    assert lines[1].startswith(f"{bad}:4: phone: ")
    assert "imported 0, merged 0, refused 5" in lines
    skipped = runner.invoke(main, ["subscribers", "import", str(bad), "--skip-bad"])
    assert skipped.exit_code == 1
    assert "imported 1, merged 0, refused 5" in skipped.output.splitlines()


def test_cli_import_a_bom_and_odd_header_case(runner: CliRunner, tmp_path: Path) -> None:
    excel = tmp_path / "excel.csv"
    excel.write_text(
        "\ufeff" + HEADER.replace("phone", "Phone") + f"(415) 555-0101,Ada,,,{CONSENT},,\n",
        encoding="utf-8",
    )
    result = runner.invoke(main, ["subscribers", "import", str(excel)])
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"number,first_name\n+14155550101,Ada\n", "a header with a `phone` column"),
        (b"", "a header with a `phone` column"),
        (b"phone\n\xff\xfe\n", "cannot read"),
    ],
)
def test_cli_import_unreadable_files_are_one_line_errors(
    runner: CliRunner, tmp_path: Path, content: bytes, message: str
) -> None:
    path = tmp_path / "in.csv"
    path.write_bytes(content)
    result = runner.invoke(main, ["subscribers", "import", str(path)])
    assert result.exit_code == 1
    assert message in result.output and "Traceback" not in result.output
    missing = runner.invoke(main, ["subscribers", "import", str(tmp_path / "nope.csv")])
    assert missing.exit_code == 1 and "cannot read" in missing.output


def test_cli_export_show_erase(runner: CliRunner, tmp_path: Path) -> None:
    assert runner.invoke(main, ["subscribers", "import", str(SAMPLE)]).exit_code == 0
    out = tmp_path / "out.csv"
    exported = runner.invoke(main, ["subscribers", "export", "--output", str(out)])
    assert exported.exit_code == 0, exported.output
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    assert len(rows) == 10 and rows[0]["phone"] == ADA
    to_stdout = runner.invoke(main, ["subscribers", "export"])
    assert len(list(csv.DictReader(io.StringIO(to_stdout.output)))) == 10

    shown = runner.invoke(main, ["subscribers", "show", "(415) 555-0101"])
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.output)["profile"]["first_name"] == "Ada"
    unknown = runner.invoke(main, ["subscribers", "show", "+12125550199"])
    assert unknown.exit_code == 1 and "nothing is stored" in unknown.output
    bad = runner.invoke(main, ["subscribers", "show", "banana"])
    assert bad.exit_code == 2 and "PHONE" in bad.output

    declined = runner.invoke(main, ["subscribers", "erase", ADA], input="n\n")
    assert declined.exit_code == 1
    assert (
        json.loads(runner.invoke(main, ["subscribers", "show", ADA]).output)["profile"][
            "first_name"
        ]
        == "Ada"
    )
    erased = runner.invoke(main, ["subscribers", "erase", ADA], input="y\n")
    assert erased.exit_code == 0, erased.output
    assert "stays opted out" in erased.output
    after = json.loads(runner.invoke(main, ["subscribers", "show", ADA]).output)
    assert after["profile"]["status"] == "unsubscribed"
    assert after["profile"]["first_name"] is None
    erased_again = runner.invoke(main, ["subscribers", "erase", "+12125550199", "--yes"])
    assert erased_again.exit_code == 1 and "nothing is stored" in erased_again.output


HOSTILE = '=HYPERLINK("http://evil.example","Click")'


def test_cli_export_makes_what_a_spreadsheet_would_run_inert(
    runner: CliRunner, tmp_path: Path
) -> None:
    people = tmp_path / "people.csv"
    with people.open("w", encoding="utf-8", newline="") as stream:
        csv.writer(stream).writerows(
            [
                ["phone", "first_name", "tags", "consent_source", "consent_text", "plan"],
                [ADA, HOSTILE, "@SUM(A1);vip", "web-form", "Yes", "-5"],
                [BEN, "-2+3", "-5", "web-form", "Yes", HOSTILE],
            ]
        )
    assert runner.invoke(main, ["subscribers", "import", str(people)]).exit_code == 0
    exported = runner.invoke(main, ["subscribers", "export"])
    assert exported.exit_code == 0, exported.output
    ada, ben = csv.DictReader(io.StringIO(exported.stdout))
    assert (ada["phone"], ada["first_name"], ada["tags"]) == (ADA, "'" + HOSTILE, "'@SUM(A1);vip")
    assert (ben["phone"], ben["first_name"], ben["tags"]) == (BEN, "'-2+3", "-5")
    # Attributes are one JSON object: a cell a spreadsheet takes for text whatever it holds.
    assert json.loads(ben["attributes"]) == {"plan": HOSTILE}

    # Imported again (with the consent the export does not carry), the values come back as
    # they were: no quote is added to a name, no phone number changes.
    again = tmp_path / "again.csv"
    with again.open("w", encoding="utf-8", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(["phone", "first_name", "tags", "consent_source", "consent_text"])
        for row in (ada, ben):
            writer.writerow([row["phone"], row["first_name"], row["tags"], "web-form", "Yes"])
    result = runner.invoke(main, ["subscribers", "import", str(again)])
    assert result.output.strip() == "imported 0, merged 2, refused 0"
    stored = subscribers(make_db(os.environ["DATABASE_URL"]))
    assert sorted(stored) == sorted([ADA, BEN])
    assert stored[ADA]["first_name"] == HOSTILE and stored[ADA]["tags"] == ["@SUM(A1)", "vip"]
    assert stored[BEN]["first_name"] == "-2+3" and stored[BEN]["tags"] == ["-5"]


@pytest.mark.parametrize(
    ("cell", "column", "message"),
    [
        ("Ada\x00", "first_name", "contains a NUL byte"),
        ("Ada\x07", "first_name", "contains the control character U+0007"),
        ("Ada\nReply YES", "first_name", "contains the control character U+000A"),
        ("Yes\x00", "consent_text", "contains a NUL byte"),
        ("blue\x1b[31m", "city", "contains the control character U+001B"),
    ],
)
def test_a_control_character_refuses_the_file_by_line_and_column(
    db: Engine, cell: str, column: str, message: str
) -> None:
    values = {"first_name": "Ada", "consent_text": "Yes", "city": "Oslo"} | {column: cell}
    text = HEADER + csv_lines(
        [BEN, "Ben", "", "", "web", "Yes", "", ""],
        [ADA, values["first_name"], "", "", "web", values["consent_text"], "", values["city"]],
    )
    report = run_import(db, text)
    assert report.lines() == [f"people.csv:3: {column}: {message}"]
    assert not report.written and subscribers(db) == {}


def test_a_line_break_may_stay_in_consent_text_and_attributes(db: Engine) -> None:
    row = [ADA, "Ada", "", "", "web", "Yes,\ntext me", "", "Main St\nOslo"]
    report = run_import(db, HEADER + csv_lines(row))
    assert report.refused == [] and report.imported == 1
    assert subscribers(db)[ADA]["attributes"] == {"city": "Main St\nOslo"}


def test_refusals_name_the_line_a_row_starts_on_after_cells_that_span_lines(
    db: Engine,
) -> None:
    two_line_consent = [ADA, "Ada", "", "", "web", "Yes,\ntext me", "", "Main St\nOslo"]
    banana = ["banana", "Ben", "", "", "web", "Yes", "", ""]
    report = run_import(db, HEADER + csv_lines(two_line_consent) + "\n" + csv_lines(banana))
    # The header is line 1, Ada's row lines 2-4 (two cells break a line), a blank line 5.
    assert [(r.line, r.column) for r in report.refused] == [(6, "phone")]


@pytest.mark.parametrize("skip_bad", [False, True])
def test_a_column_named_twice_refuses_the_whole_file(db: Engine, skip_bad: bool) -> None:
    text = (
        "phone,first_name,consent_source,consent_text, Phone\n"
        f"{ADA},Ada,web,Yes,{BEN}\n"
        f"{BEN},Ben,web,Yes,{ADA}\n"
    )
    report = run_import(db, text, skip_bad=skip_bad)
    assert report.lines() == ["people.csv:1: Phone: is both column 1 and column 5; keep one"]
    assert not report.written and subscribers(db) == {}


def test_cli_import_names_the_line_and_column_of_a_nul_and_a_twin_column(
    runner: CliRunner, tmp_path: Path
) -> None:
    nul = tmp_path / "nul.csv"
    nul.write_text(HEADER + f"{ADA},Ada,,,{CONSENT},,\n{BEN},B\x00en,,,{CONSENT},,\n")
    result = runner.invoke(main, ["subscribers", "import", str(nul)])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert result.output.splitlines()[0] == f"{nul}:3: first_name: contains a NUL byte"
    twins = tmp_path / "twins.csv"
    twins.write_text(f"phone,tags,phone,consent_source,consent_text\n{ADA},,{BEN},web,Yes\n")
    result = runner.invoke(main, ["subscribers", "import", str(twins), "--skip-bad"])
    assert result.exit_code == 1
    assert result.output.splitlines() == [
        f"{twins}:1: phone: is both column 1 and column 3; keep one",
        "imported 0, merged 0, refused 1",
        "nothing was imported: fix the lines above and run again",
    ]
    assert runner.invoke(main, ["subscribers", "show", ADA]).exit_code == 1  # nothing stored

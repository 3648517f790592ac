"""Flow results: the funnel and answers of the shipped flows, over the API and as a CSV export."""

from __future__ import annotations

import csv
import io
import os
import stat
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient

from bot.app import create_app, services_of
from bot.cli import main
from bot.sending.gateways.fake import FakeGateway
from bot.testing.clock import FakeClock
from tests.support.harness import API_KEY, make_settings
from tests.support.paths import SHIPPED_FLOWS
from tests.support.sms import ALICE, BOB, reply_to

AUTH = {"Authorization": f"Bearer {API_KEY}"}
CAROL = "+14155550102"
DAVE = "+14155550103"
ERIN = "+14155550104"
FRANK = "+14155550105"
HEADER = ["answered_at", "phone", "flow", "step", "name", "value", "conversation_id"]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime(2024, 5, 1, 15, 0, tzinfo=UTC))


@pytest.fixture
def app(database_url: str, clock: FakeClock) -> Iterator[Flask]:
    """The app with the shipped flows and a clock the test moves."""
    settings = make_settings(database_url, FLOWS_DIR=SHIPPED_FLOWS)
    app = create_app(settings, gateway=FakeGateway(), clock=clock)
    app.config["TESTING"] = True
    yield app
    services_of(app).close()


def wait(app: Flask, clock: FakeClock, delta: timedelta) -> None:
    """Let time pass and fire the timers that came due, as the scheduler would."""
    clock.advance(delta)
    services_of(app).conversations.fire_due_timers()


def converse(client: FlaskClient, phone: str, *texts: str) -> None:
    for body in texts:
        assert reply_to(client, body, phone=phone), f"no answer to {body!r}"


def run_nps_survey(app: Flask, client: FlaskClient, clock: FakeClock) -> None:
    """Six people take the NPS survey; each ends somewhere else."""
    converse(client, ALICE, "SURVEY", "10", "The fast shipping")  # promoter, completes
    converse(client, BOB, "SURVEY", "3", "It arrived late")  # detractor, completes
    converse(client, CAROL, "SURVEY", "8")  # passive, then silent: the flow expires
    converse(client, DAVE, "SURVEY")  # silent: nudged after a day, then answers
    reply_to(client, "SURVEY", phone=FRANK)
    reply_to(client, "STOP", phone=FRANK)  # opts out at the first question
    wait(app, clock, timedelta(days=1, minutes=1))
    converse(client, DAVE, "9", "Friendly staff")
    wait(app, clock, timedelta(days=1))  # CAROL's survey is now two days old
    converse(client, ERIN, "NPS")  # still on the first question


def test_nps_funnel_counts_who_reached_and_who_left_each_step(
    app: Flask, client: FlaskClient, clock: FakeClock
) -> None:
    run_nps_survey(app, client, clock)
    response = client.get("/api/flows/nps/results", headers=AUTH)
    assert response.status_code == 200
    results = response.json
    assert (results["flow"], results["started"], results["completed"], results["active"]) == (
        "nps",
        6,
        3,
        1,
    )
    steps = [
        (step["step"], step["kind"], step["reached"], step["dropped_out"], step["answers"])
        for step in results["steps"]
    ]
    assert steps == [
        ("score", "ask", 6, 1, 3),  # FRANK opted out here
        ("route", "branch", 4, 0, 0),
        ("promoter", "ask", 2, 0, 2),
        ("passive", "ask", 1, 1, 0),  # CAROL's survey expired here
        ("detractor", "ask", 1, 0, 1),
        ("step6", "set", 1, 0, 0),
        ("thanks", "end", 3, 0, 0),
        ("nudge", "ask", 1, 0, 1),
    ]
    assert results["answers"] == {
        "score": {"10": 1, "3": 1, "8": 1},
        "promoter": ["Friendly staff", "The fast shipping"],
        "passive": [],
        "detractor": ["It arrived late"],
        "nudge": {"9": 1},
    }


def test_a_flow_nobody_ran_has_an_empty_funnel(client: FlaskClient) -> None:
    results = client.get("/api/flows/welcome/results", headers=AUTH).json
    assert (results["started"], results["completed"], results["active"]) == (0, 0, 0)
    assert [step["step"] for step in results["steps"]] == [
        "welcome_coupon",
        "step2",
        "wait_a_day",
        "interest",
        "step5",
        "step6",
        "done",
    ]
    assert all(
        step["reached"] == step["dropped_out"] == step["answers"] == 0 for step in results["steps"]
    )
    assert results["answers"] == {"interest": {}}


def test_ratings_and_yes_no_answers_are_tallied(client: FlaskClient) -> None:
    converse(client, ALICE, "FEEDBACK", "5", "Loved it")
    converse(client, BOB, "REVIEW", "2 stars", "meh", "no thanks")
    converse(client, CAROL, "FEEDBACK", "⭐⭐", "Box crushed", "yes please")
    answers = client.get("/api/flows/feedback/results", headers=AUTH).json["answers"]
    assert answers == {
        "rating": {"2": 2, "5": 1},
        "comment": ["Box crushed", "meh", "Loved it"],
        "offer_human": {"true": 1, "false": 1},
    }


def test_flow_list_shows_every_shipped_flow_with_its_counts(
    app: Flask, client: FlaskClient, clock: FakeClock
) -> None:
    run_nps_survey(app, client, clock)
    converse(client, ALICE, "FEEDBACK", "5", "Loved it")
    response = client.get("/api/flows", headers=AUTH)
    assert response.status_code == 200
    flows = {flow["name"]: flow for flow in response.json["flows"]}
    # The shipped WIN offer is a reply offer: it runs, and counts, as a flow of its own.
    assert sorted(flows) == ["abandoned_cart", "csat", "feedback", "nps", "offer_win", "welcome"]
    counts = {
        name: (flow["started"], flow["completed"], flow["active"], flow["answers"])
        for name, flow in flows.items()
    }
    assert counts == {
        "abandoned_cart": (0, 0, 0, 0),
        "csat": (0, 0, 0, 0),
        "feedback": (1, 1, 0, 2),
        "nps": (6, 3, 1, 7),
        "offer_win": (0, 0, 0, 0),
        "welcome": (0, 0, 0, 0),
    }
    assert flows["nps"]["triggers"] == {
        "keywords": ["SURVEY", "NPS"],
        "events": [],
        "intents": ["I want to take the survey", "can I give you a rating"],
    }
    assert flows["nps"]["promotional"] is False
    assert flows["nps"]["description"].startswith("How likely are you to recommend us?")
    assert flows["abandoned_cart"]["triggers"]["events"] == ["cart_abandoned"]
    assert flows["abandoned_cart"]["promotional"] is True


def test_without_flow_files_the_list_is_empty(database_url: str) -> None:
    app = create_app(make_settings(database_url), gateway=FakeGateway())
    try:
        response = app.test_client().get("/api/flows", headers=AUTH)
        assert (response.status_code, response.json) == (200, {"flows": []})
    finally:
        services_of(app).close()


def test_an_unknown_flow_is_404(client: FlaskClient) -> None:
    response = client.get("/api/flows/nope/results", headers=AUTH)
    assert response.status_code == 404
    assert response.json == {"error": "no flow named 'nope' is in force"}


@pytest.mark.parametrize("path", ["/api/flows", "/api/flows/nps/results", "/api/flows/x/results"])
@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}], ids=["none", "wrong"])
def test_flow_routes_require_the_api_key(
    client: FlaskClient, path: str, headers: dict[str, str]
) -> None:
    response = client.get(path, headers=headers)
    assert response.status_code == 401
    assert "Bearer" in response.json["error"]


# The export command


@pytest.fixture
def runner(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    """`bot` as an operator runs it, on the app's database and the shipped flows."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("FLOWS_DIR", str(SHIPPED_FLOWS))
    return CliRunner()


def parse_csv(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text, newline="")))


def test_export_writes_every_answer_oldest_first(runner: CliRunner, client: FlaskClient) -> None:
    converse(client, ALICE, "FEEDBACK", "5", 'Fast, and "well" packed')
    converse(client, BOB, "REVIEW", "1", "Late", "no")
    result = runner.invoke(main, ["export", "answers", "--flow", "feedback"])
    assert result.exit_code == 0, result.output
    header, *rows = parse_csv(result.stdout)
    assert header == HEADER
    assert [row[1:6] for row in rows] == [
        [ALICE, "feedback", "rating", "rating", "5"],
        [ALICE, "feedback", "comment", "comment", 'Fast, and "well" packed'],
        [BOB, "feedback", "rating", "rating", "1"],
        [BOB, "feedback", "comment", "comment", "Late"],
        [BOB, "feedback", "offer_human", "wants_human", "false"],
    ]
    answered = [datetime.fromisoformat(row[0]) for row in rows]
    assert answered == sorted(answered)
    assert all(moment.utcoffset() == timedelta(0) for moment in answered)
    alice_conversation, bob_conversation = rows[0][6], rows[2][6]
    assert alice_conversation != bob_conversation
    assert [row[6] for row in rows] == [alice_conversation] * 2 + [bob_conversation] * 3
    assert result.stderr == ""


def test_export_to_a_file_reports_progress(
    runner: CliRunner, client: FlaskClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("bot.cli.common.EXPORT_PROGRESS_EVERY", 2)
    converse(client, ALICE, "FEEDBACK", "5", "Great")
    converse(client, BOB, "FEEDBACK", "4", "Good")
    output = tmp_path / "exports" / "answers.csv"
    output.parent.mkdir()
    result = runner.invoke(main, ["export", "answers", "--flow", "feedback", "-o", str(output)])
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        "2 answers…",
        "4 answers…",
        f"wrote 4 answers to {output}",
    ]
    header, *rows = parse_csv(output.read_text(encoding="utf-8"))
    assert header == HEADER
    assert [row[5] for row in rows] == ["5", "Great", "4", "Good"]
    assert sorted(path.name for path in output.parent.iterdir()) == ["answers.csv"]


def test_a_failed_export_leaves_the_old_file_alone(
    runner: CliRunner, client: FlaskClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    converse(client, ALICE, "FEEDBACK", "5", "Great")
    output = tmp_path / "exports" / "answers.csv"
    output.parent.mkdir()
    output.write_text("the previous export\n", encoding="utf-8")

    def rows_then_failure(*_: object) -> Iterator[tuple[str, ...]]:
        yield ("2024-05-01T15:00:00+00:00", ALICE, "feedback", "rating", "rating", "5", "1")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("bot.conversations.results.answer_rows", rows_then_failure)
    result = runner.invoke(main, ["export", "answers", "--flow", "feedback", "-o", str(output)])
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        f"Error: cannot write {output}: [Errno 28] No space left on device"
    ]
    assert output.read_text(encoding="utf-8") == "the previous export\n"
    assert sorted(path.name for path in output.parent.iterdir()) == ["answers.csv"]


def test_an_answer_a_spreadsheet_would_run_is_exported_inert(
    runner: CliRunner, client: FlaskClient
) -> None:
    formula = '=HYPERLINK("http://evil.example","Click")'
    converse(client, ALICE, "FEEDBACK", "2", formula, "no")
    converse(client, BOB, "FEEDBACK", "5", "-5 stars would be fair, +1 for speed")
    result = runner.invoke(main, ["export", "answers", "--flow", "feedback"])
    assert result.exit_code == 0, result.output
    _header, *rows = parse_csv(result.stdout)
    comments = [row[5] for row in rows if row[3] == "comment"]
    assert comments == ["'" + formula, "'-5 stars would be fair, +1 for speed"]
    assert [row[1] for row in rows] == [ALICE] * 3 + [BOB] * 2  # phone numbers untouched


def test_an_export_follows_a_symlink_and_refuses_what_is_not_a_file(
    runner: CliRunner, client: FlaskClient, tmp_path: Path
) -> None:
    converse(client, ALICE, "FEEDBACK", "5", "Great")
    real = tmp_path / "real.csv"
    real.write_text("old\n", encoding="utf-8")
    link = tmp_path / "latest.csv"
    link.symlink_to(real)
    result = runner.invoke(main, ["export", "answers", "--flow", "feedback", "-o", str(link)])
    assert result.exit_code == 0, result.output
    assert link.is_symlink() and real.read_text(encoding="utf-8").startswith("answered_at,")

    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    refused = runner.invoke(main, ["export", "answers", "--flow", "feedback", "-o", str(fifo)])
    assert refused.exit_code == 1
    assert refused.output == f"Error: cannot write {fifo}: it is not a regular file\n"
    assert stat.S_ISFIFO(fifo.stat().st_mode)


def test_a_flow_without_answers_exports_just_the_header(runner: CliRunner) -> None:
    result = runner.invoke(main, ["export", "answers", "--flow", "welcome"])
    assert result.exit_code == 0, result.output
    assert parse_csv(result.stdout) == [HEADER]


def test_answers_of_a_removed_flow_still_export(
    runner: CliRunner, client: FlaskClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    converse(client, ALICE, "SURVEY", "10", "Everything")
    monkeypatch.setenv("FLOWS_DIR", str(tmp_path / "no-flows-here"))
    result = runner.invoke(main, ["export", "answers", "--flow", "nps"])
    assert result.exit_code == 0, result.output
    assert [row[3:6] for row in parse_csv(result.stdout)[1:]] == [
        ["score", "score", "10"],
        ["promoter", "reason", "Everything"],
    ]


def test_an_unknown_flow_is_a_one_line_error(runner: CliRunner) -> None:
    result = runner.invoke(main, ["export", "answers", "--flow", "nope"])
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        f"Error: no flow named 'nope' in {SHIPPED_FLOWS} and no answers stored for it; "
        "`bot flows check` lists the flows"
    ]


def test_an_order_that_ends_the_cart_reminders_is_a_success_not_a_drop_out(
    app: Flask, client: FlaskClient, clock: FakeClock
) -> None:
    services = services_of(app)
    services.conversations.handle_event(ALICE, "cart_abandoned", {})
    wait(app, clock, timedelta(hours=1))
    services.conversations.handle_event(ALICE, "order_placed", {})
    results = client.get("/api/flows/abandoned_cart/results", headers=AUTH).json
    assert (results["started"], results["completed"]) == (1, 1)
    assert all(step["dropped_out"] == 0 for step in results["steps"])

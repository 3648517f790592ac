"""/healthz and the commands tell the truth about the database: one word, one line, no traceback."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from flask.testing import FlaskClient
from sqlalchemy import event, text
from sqlalchemy.engine import make_url

from bot.app import create_app, services_of
from bot.cli import main
from bot.sending.gateways.fake import FakeGateway
from bot.store.db import CONNECT_TIMEOUT_S, make_db, transaction
from bot.store.migrate import current_head
from bot.store.schema import database_problem
from bot.testing.processes import HUNG_AFTER
from tests.support.harness import make_settings

BOT = str(Path(sys.executable).with_name("bot"))
NOBODY_LISTENS = "postgresql+psycopg://postgres@127.0.0.1:1/x"


def read_only(database_url: str) -> str:
    """The same database, opened so that it refuses every write."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        return f"sqlite:///file:{url.database}?mode=ro&uri=true"
    options = "-c default_transaction_read_only=on"
    return url.update_query_dict({"options": options}).render_as_string(hide_password=False)


def set_revision(database_url: str, revision: str | None) -> None:
    db = make_db(database_url)
    with transaction(db) as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = :r"), {"r": revision})
    db.dispose()


@pytest.fixture
def behind(database_url: str) -> Iterator[str]:
    """The migrated database, marked as one revision behind the code (restored afterwards:
    PostgreSQL's test database outlives the test)."""
    set_revision(database_url, "0001")
    yield database_url
    set_revision(database_url, current_head())


def healthz(database_url: str) -> tuple[int, object]:
    """GET /healthz on an app whose DATABASE_URL is this one."""
    app = create_app(make_settings(database_url), gateway=FakeGateway())
    try:
        client: FlaskClient = app.test_client()
        response = client.get("/healthz")
        return response.status_code, response.get_json()
    finally:
        services_of(app).close()


def test_a_healthy_database_is_ok(database_url: str) -> None:
    assert healthz(database_url) == (200, {"status": "ok", "database": "ok"})


def test_a_read_only_database_is_not_healthy(database_url: str) -> None:
    assert healthz(read_only(database_url)) == (
        503,
        {"status": "error", "database": "read-only"},
    )


def test_a_database_behind_the_code_is_not_healthy(behind: str) -> None:
    assert healthz(behind) == (
        503,
        {"status": "error", "database": "not migrated"},
    )


def test_a_database_nobody_answers_for_is_not_healthy() -> None:
    assert healthz(NOBODY_LISTENS) == (503, {"status": "error", "database": "unreachable"})


def test_the_write_probe_changes_nothing(database_url: str) -> None:
    db = make_db(database_url)
    try:
        assert database_problem(db) is None
        with db.connect() as connection:
            assert connection.execute(text("SELECT count(*) FROM alembic_version")).scalar() == 1
    finally:
        db.dispose()


def run_bot(command: list[str], database_url: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """The real `bot` command, as an operator runs it."""
    environment = {**os.environ, "DATABASE_URL": database_url, "BRAND_NAME": "Acme"}
    return subprocess.run(
        [BOT, *command],
        env=environment,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=HUNG_AFTER,
    )


@pytest.fixture
def runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("BRAND_NAME", "Acme")
    return CliRunner()


@pytest.mark.parametrize(
    "command", [["serve"], ["worker"], ["clock"], ["chat", "--phone", "+14155550100"]]
)
def test_commands_say_the_database_is_unreachable_not_unmigrated(
    runner: CliRunner, command: list[str]
) -> None:
    result = runner.invoke(main, command, env={"DATABASE_URL": NOBODY_LISTENS})
    assert result.exit_code == 1, result.output
    (line,) = result.output.splitlines()
    assert line.startswith("Error: cannot reach the database: connection failed")
    assert "db upgrade" not in line


@pytest.mark.parametrize("command", [["serve"], ["worker"], ["clock"]])
def test_commands_refuse_a_read_only_database(
    tmp_path: Path, database_url: str, command: list[str]
) -> None:
    # A process of its own with a timeout: without the check these commands would serve on.
    result = run_bot(command, read_only(database_url), tmp_path)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.splitlines()[-1].startswith("Error: the database is read-only: ")


def test_an_export_reads_from_a_read_only_database(runner: CliRunner, database_url: str) -> None:
    result = runner.invoke(
        main, ["subscribers", "export"], env={"DATABASE_URL": read_only(database_url)}
    )
    assert result.exit_code == 0, result.output
    assert result.output.startswith("phone,status,")


def test_a_database_behind_the_code_says_run_db_upgrade(runner: CliRunner, behind: str) -> None:
    result = runner.invoke(main, ["worker"], env={"DATABASE_URL": behind})
    assert result.exit_code == 1
    assert result.output.startswith("Error: the database is not migrated: it is at revision 0001")
    assert result.output.rstrip().endswith("run `bot db upgrade` first")


@pytest.mark.parametrize(
    ("database_url", "says"),
    [
        (NOBODY_LISTENS, "Error: cannot reach the database: "),
        ("sqlite:///file:/nonexistent/x.db?mode=ro&uri=true", "Error: cannot reach the database: "),
    ],
)
def test_db_upgrade_on_a_database_it_cannot_reach_is_one_line(
    tmp_path: Path, database_url: str, says: str
) -> None:
    result = run_bot(["db", "upgrade"], database_url, tmp_path)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.splitlines()[-1].startswith(says), result.stderr


def test_a_login_the_server_refuses_is_named(runner: CliRunner, database_url: str) -> None:
    url = make_url(database_url)
    if url.get_backend_name() != "postgresql":
        pytest.skip("SQLite has no logins")
    stranger = url.set(username="nobody_we_know").render_as_string(hide_password=False)
    result = runner.invoke(main, ["worker"], env={"DATABASE_URL": stranger})
    assert result.exit_code == 1
    assert result.output.startswith("Error: the database refused the login: ")


@pytest.mark.parametrize(
    ("query", "asked_for"), [("", str(CONNECT_TIMEOUT_S)), ("?connect_timeout=3", "3")]
)
def test_a_server_that_accepts_and_never_answers_is_unreachable_not_a_hang(
    query: str, asked_for: str
) -> None:
    # A host that drops packets: the connection opens, the server never says a word.
    timeouts: list[str | None] = []
    with socket.create_server(("127.0.0.1", 0)) as silent:
        port = silent.getsockname()[1]
        db = make_db(f"postgresql+psycopg://postgres@127.0.0.1:{port}/x{query}")

        @event.listens_for(db, "do_connect")
        def _shorten(dialect: object, record: object, args: object, cparams: dict) -> None:
            timeouts.append(
                None if "connect_timeout" not in cparams else str(cparams["connect_timeout"])
            )
            cparams["connect_timeout"] = 1  # what libpq was asked for is recorded; spare the suite

        problem = database_problem(db)
        db.dispose()
    assert timeouts and set(timeouts) == {asked_for}  # the default, or the URL's own
    assert problem is not None and problem.trouble == "unreachable"

"""One SECRET_KEY for every process: the environment's, else the one `bot db upgrade` stored."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import threading

import pytest
from click.testing import CliRunner
from flask import Flask
from sqlalchemy import delete, select
from sqlalchemy.engine import make_url

from bot.accounts.agents import create_agent
from bot.app import create_app, services_of
from bot.cli import main
from bot.store.db import make_db, transaction
from bot.store.migrate import upgrade
from bot.store.secret_key import NO_SECRET_KEY, NoSecretKey
from bot.store.tables import SETTINGS
from bot.testing.processes import BIN, HUNG_AFTER, free_port
from tests.process.test_serve import environment
from tests.support.databases import PostgresDatabase
from tests.support.harness import make_settings
from tests.support.inbox import NOON_IN_SF, PASSWORD, login
from tests.support.passwords import check_once, hash_once


def app_on(database_url: str, **settings: object) -> Flask:
    app = create_app(make_settings(database_url, **settings), check_password=check_once)
    app.config["TESTING"] = True
    return app


def forget_the_stored_key(database_url: str) -> None:
    db = make_db(database_url)
    with transaction(db) as connection:
        connection.execute(delete(SETTINGS))
    db.dispose()


def stored_keys(database_url: str) -> list[str]:
    db = make_db(database_url)
    with db.connect() as connection:
        keys = list(connection.execute(select(SETTINGS.c.value)).scalars())
    db.dispose()
    return keys


def test_every_process_on_one_database_reads_the_same_cookies(database_url: str) -> None:
    first, second = app_on(database_url), app_on(database_url)
    create_agent(
        services_of(first).db, "dana@acme.test", "Dana", PASSWORD, now=NOON_IN_SF, hasher=hash_once
    )
    client = first.test_client()
    assert login(client, "dana@acme.test", PASSWORD).status_code == 302
    cookie = client.get_cookie("session")
    assert cookie is not None
    elsewhere = second.test_client()
    elsewhere.set_cookie("session", cookie.value)
    assert elsewhere.get("/inbox/").status_code == 200


def test_secret_key_from_the_environment_wins(database_url: str) -> None:
    app = app_on(database_url, SECRET_KEY="an operator's own key, long enough")
    assert app.secret_key == "an operator's own key, long enough"
    assert stored_keys(database_url) != [app.secret_key]


def test_bot_db_upgrade_stores_a_key_once(database_url: str) -> None:
    [key] = stored_keys(database_url)
    assert len(key) == 64
    upgrade(database_url)
    assert stored_keys(database_url) == [key]
    forget_the_stored_key(database_url)
    upgrade(database_url)
    assert stored_keys(database_url) not in ([], [key])


def test_without_any_key_nothing_starts_and_says_what_to_do(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    forget_the_stored_key(database_url)
    with pytest.raises(NoSecretKey, match="SECRET_KEY is not set"):
        app_on(database_url)
    monkeypatch.setenv("DATABASE_URL", database_url)
    for command in (["serve"], ["clock", "--no-wait"]):
        result = CliRunner().invoke(main, command)
        assert (result.exit_code, result.output) == (1, f"Error: {NO_SECRET_KEY}\n"), command
    assert "SECRET_KEY" in NO_SECRET_KEY and "`bot db upgrade`" in NO_SECRET_KEY


class Relay:
    """A TCP port that refuses connections until `open()`, then forwards them to a server.

    Stands in for a database server that is down when a web process starts, and comes back.
    """

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = free_port()

    def open(self) -> None:
        listener = socket.create_server(("127.0.0.1", self.port))
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            client, _ = listener.accept()
            server = socket.create_connection(self.target)
            for source, sink in ((client, server), (server, client)):
                threading.Thread(target=self._pipe, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while chunk := source.recv(65536):
                sink.sendall(chunk)
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)


def test_a_web_process_started_during_a_database_outage_reads_the_key_once_it_answers(
    postgres_database: PostgresDatabase,
) -> None:
    database_url = make_url(postgres_database.fresh())
    relay = Relay((database_url.host or "127.0.0.1", database_url.port or 5432))
    through_relay = database_url.set(port=relay.port).render_as_string(hide_password=False)
    app = app_on(through_relay)  # starts, so /healthz can say why it is unhealthy
    assert app.test_client().get("/healthz").status_code == 503
    relay.open()  # the database is back
    create_agent(
        services_of(app).db, "dana@acme.test", "Dana", PASSWORD, now=NOON_IN_SF, hasher=hash_once
    )
    client = app.test_client()
    assert login(client, "dana@acme.test", PASSWORD).status_code == 302
    assert client.get("/inbox/").status_code == 200
    assert app.secret_key == stored_keys(through_relay)[0]


def test_gunicorn_without_a_key_stops_with_one_line(sqlite_url: str) -> None:
    env = environment(sqlite_url)
    forget_the_stored_key(env["DATABASE_URL"])
    command = [str(BIN / "gunicorn"), "webhook:app", "--bind", f"127.0.0.1:{free_port()}"]
    finished = subprocess.run(command, env=env, capture_output=True, text=True, timeout=HUNG_AFTER)
    assert finished.returncode != 0
    assert f"parley: {NO_SECRET_KEY}\n" in finished.stderr
    assert "Traceback" not in finished.stderr

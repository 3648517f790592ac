"""`bot serve` and gunicorn as a user runs them: real processes, real HTTP."""

from __future__ import annotations

import http.cookiejar
import os
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlmodel import Session, func, select

from bot.accounts.agents import create_agent
from bot.domain.vocabulary import Direction, MessageStatus
from bot.store.db import make_db
from bot.store.models import Message
from bot.testing.processes import BIN, HUNG_AFTER, free_port, post_form, running, wait_until
from tests.support.databases import SqliteTemplate
from tests.support.inbox import CSRF_FIELD, NOON_IN_SF, PASSWORD
from tests.support.passwords import hash_once
from tests.support.warm_start import warm_run, warm_start

PAGE_LOADS = 20


def environment(database_url: str, **extra: str) -> dict[str, str]:
    """A process's environment on this database, with none of the developer's own settings."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("TWILIO_", "DATABASE_URL", "API_KEY", "PUBLIC_URL", "GATEWAY"))
    }
    env.update(DATABASE_URL=database_url, BRAND_NAME="Acme", **extra)
    return env


@pytest.fixture(scope="module")
def four_workers(
    sqlite_template: SqliteTemplate, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, str]]:
    """The Procfile's web process, four gunicorn workers on one SQLite file and no SECRET_KEY:
    its base URL and database. Started once for the module's tests of it (6.6 s of CPU and
    8 s to start and stop, on 2 busy cores); none of them needs the others' rows gone."""
    env = environment(sqlite_template.fresh(tmp_path_factory.mktemp("four-workers")))
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    command = [str(BIN / "gunicorn"), "webhook:app", "--bind", f"127.0.0.1:{port}", "-w", "4"]
    with running(command, env, base_url, warm_start):
        yield base_url, env["DATABASE_URL"]


def test_bot_serve_answers_help_like_the_readme_says(tmp_path: Path) -> None:
    port = free_port()
    env = environment(f"sqlite:///{tmp_path}/bot.db", PORT=str(port))
    warm_run([str(BIN / "bot"), "db", "upgrade"], env, HUNG_AFTER).check_returncode()
    base_url = f"http://127.0.0.1:{port}"
    with running([str(BIN / "bot"), "serve"], env, base_url, warm_start) as server:
        status, body = post_form(
            f"{base_url}/twilio/sms", {"From": "+14155550100", "Body": "HELP", "MessageSid": "SM1"}
        )
        server.terminate()
        output = server.communicate(timeout=HUNG_AFTER)[0]
    assert status == 200
    assert body.startswith('<?xml version="1.0" encoding="UTF-8"?><Response><Message')
    assert "Acme: Help at" in body and "Reply STOP to opt out." in body
    assert "DEVELOPMENT MODE" in output  # no auth token: said loudly at start-up


def test_several_gunicorn_workers_share_sqlite_without_locking_errors(
    four_workers: tuple[str, str],
) -> None:
    base_url, database_url = four_workers
    # 16 at a time over 4 workers: with SQLite's busy timeout at 0, 50 texts already fail here
    # (checked; 200 took twice the CPU, 45 ms a text, for no more coverage).
    texts = 100

    def send(index: int) -> int:
        form = {
            "MessageSid": f"SM{uuid.uuid4().hex}",
            "From": f"+1415555{index % 50:04d}",
            "Body": ("JOIN", "Y", "HELP", "STOP")[index % 4],
        }
        return post_form(f"{base_url}/twilio/sms", form)[0]

    with ThreadPoolExecutor(max_workers=16) as pool:
        statuses = list(pool.map(send, range(texts)))
    assert statuses == [200] * texts
    db = make_db(database_url)
    with Session(db) as session:
        inbound = session.exec(
            select(func.count()).select_from(Message).where(Message.direction == Direction.INBOUND)
        ).one()
    db.dispose()
    assert inbound == texts


def test_the_procfiles_gunicorn_keeps_an_agent_logged_in(four_workers: tuple[str, str]) -> None:
    """Four workers and no SECRET_KEY, as the README runs them: every page stays logged in
    (test_secret_key's concern; here to share the module's four workers)."""
    base_url, database_url = four_workers
    db = make_db(database_url)
    create_agent(db, "dana@acme.test", "Dana", PASSWORD, now=NOON_IN_SF, hasher=hash_once)
    db.dispose()
    browser = urllib.request.build_opener(
        urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
    )
    with browser.open(f"{base_url}/inbox/login", timeout=30) as page:
        match = CSRF_FIELD.search(page.read().decode())
    assert match
    form = {"email": "dana@acme.test", "password": PASSWORD, "csrf_token": match.group(1)}
    data = urllib.parse.urlencode(form).encode()
    with browser.open(f"{base_url}/inbox/login", data=data, timeout=30) as landed:
        assert landed.geturl() == f"{base_url}/inbox/"
    pages = []
    for _ in range(PAGE_LOADS):
        with browser.open(f"{base_url}/inbox/", timeout=30) as page:
            pages.append((page.status, page.geturl()))
    assert pages == [(200, f"{base_url}/inbox/")] * PAGE_LOADS


def outbound_statuses(database_url: str) -> list[MessageStatus]:
    db = make_db(database_url)
    try:
        with Session(db) as session:
            query = select(Message.status).where(Message.direction == Direction.OUTBOUND)
            return list(session.exec(query))
    finally:
        db.dispose()


def test_a_stopping_web_worker_leaves_the_texts_it_has_not_sent_to_the_worker(
    sqlite_url: str,
) -> None:
    # One text every 100 s: the welcome's second text waits for its turn in the web worker.
    env = environment(sqlite_url, SEND_RATE="0.01")
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    # gunicorn would wait that long for the worker (its default is 30 s, then SIGKILL).
    command = [str(BIN / "gunicorn"), "webhook:app", "--bind", f"127.0.0.1:{port}", "-w", "1"]
    command += ["--graceful-timeout", str(int(HUNG_AFTER))]
    with running(command, env, base_url, warm_start) as server:
        for body in ("JOIN", "Y"):
            form = {"MessageSid": f"SM{uuid.uuid4().hex}", "From": "+14155550100", "Body": body}
            assert post_form(f"{base_url}/twilio/sms", form)[0] == 200
        wait_until(
            lambda: MessageStatus.SENT in outbound_statuses(env["DATABASE_URL"]),
            [server],
            what="the first of the welcome's texts",
        )
        server.terminate()
        # Stopped at once, not after the pace's 100 s (nor gunicorn's kill).
        assert server.wait(timeout=60) == 0
    statuses = outbound_statuses(env["DATABASE_URL"])
    assert MessageStatus.PENDING in statuses  # left in the outbox, for a `bot worker`
    assert MessageStatus.UNKNOWN not in statuses  # nothing left claimed and unsent

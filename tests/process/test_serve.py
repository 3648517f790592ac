"""`bot serve` and gunicorn as a user runs them: real processes, real HTTP."""

from __future__ import annotations

import os
import subprocess
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from sqlmodel import Session, func, select

from bot.domain.vocabulary import Direction, MessageStatus
from bot.store.db import make_db
from bot.store.models import Message
from bot.testing.processes import BIN, HUNG_AFTER, free_port, post_form, running, wait_until


def environment(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("TWILIO_", "DATABASE_URL", "API_KEY", "PUBLIC_URL", "GATEWAY"))
    }
    env.update(DATABASE_URL=f"sqlite:///{tmp_path}/bot.db", BRAND_NAME="Acme", **extra)
    subprocess.run([BIN / "bot", "db", "upgrade"], env=env, check=True, capture_output=True)
    return env


def test_bot_serve_answers_help_like_the_readme_says(tmp_path: Path) -> None:
    port = free_port()
    env = environment(tmp_path, PORT=str(port))
    base_url = f"http://127.0.0.1:{port}"
    with running([str(BIN / "bot"), "serve"], env, base_url) as server:
        status, body = post_form(
            f"{base_url}/twilio/sms", {"From": "+14155550100", "Body": "HELP", "MessageSid": "SM1"}
        )
        server.terminate()
        output = server.communicate(timeout=HUNG_AFTER)[0]
    assert status == 200
    assert body.startswith('<?xml version="1.0" encoding="UTF-8"?><Response><Message')
    assert "Acme: Help at" in body and "Reply STOP to opt out." in body
    assert "DEVELOPMENT MODE" in output  # no auth token: said loudly at start-up


def test_several_gunicorn_workers_share_sqlite_without_locking_errors(tmp_path: Path) -> None:
    port = free_port()
    env = environment(tmp_path)
    base_url = f"http://127.0.0.1:{port}"
    command = [str(BIN / "gunicorn"), "webhook:app", "--bind", f"127.0.0.1:{port}", "-w", "4"]
    # 16 at a time over 4 workers: with SQLite's busy timeout at 0, 50 texts already fail here
    # (checked; 200 took twice the CPU, 45 ms a text, for no more coverage).
    texts = 100
    with running(command, env, base_url):

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
    db = make_db(env["DATABASE_URL"])
    with Session(db) as session:
        inbound = session.exec(
            select(func.count()).select_from(Message).where(Message.direction == Direction.INBOUND)
        ).one()
    db.dispose()
    assert inbound == texts


def outbound_statuses(database_url: str) -> list[MessageStatus]:
    db = make_db(database_url)
    try:
        with Session(db) as session:
            query = select(Message.status).where(Message.direction == Direction.OUTBOUND)
            return list(session.exec(query))
    finally:
        db.dispose()


def test_a_stopping_web_worker_leaves_the_texts_it_has_not_sent_to_the_worker(
    tmp_path: Path,
) -> None:
    # One text every 100 s: the welcome's second text waits for its turn in the web worker.
    env = environment(tmp_path, SEND_RATE="0.01")
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    # gunicorn would wait that long for the worker (its default is 30 s, then SIGKILL).
    command = [str(BIN / "gunicorn"), "webhook:app", "--bind", f"127.0.0.1:{port}", "-w", "1"]
    command += ["--graceful-timeout", str(int(HUNG_AFTER))]
    with running(command, env, base_url) as server:
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

"""Which commits wait for the disk on PostgreSQL (`transaction(durable=...)`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine

from bot.store.db import make_db


def waiting_for_the_disk(database_url: str) -> Engine:
    """A db whose commits wait for the disk unless told not to, as a server's do by default
    (the test database itself does not wait: tests/support/databases.py). PostgreSQL only."""
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite's commits never wait for the disk (WAL, synchronous=NORMAL)")
    return make_db(database_url, connect_args={"options": "-c synchronous_commit=on"})


@dataclass(frozen=True)
class Commit:
    waited: bool  # for the disk
    pace: bool  # the shared pace's own transaction


def commits(db: Engine) -> list[Commit]:
    """Each commit on `db` from now on, in order."""
    seen: list[Commit] = []
    sent: list[str] = []

    @event.listens_for(db, "before_cursor_execute")
    def _sending(_connection: Connection, _cursor: Any, statement: str, *_rest: Any) -> None:
        sent.append(statement)

    @event.listens_for(db, "commit")
    def _committing(connection: Connection) -> None:
        # psycopg's own cursor: the COMMIT may be in a pipeline, which its fetch syncs.
        driver = connection.connection.driver_connection
        setting = driver.execute("SELECT current_setting('synchronous_commit')").fetchone()
        seen.append(Commit(setting[0] != "off", any("send_pace" in one for one in sent)))
        sent.clear()

    return seen

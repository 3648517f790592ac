"""Test databases: a migrated SQLite template copied per test; one PostgreSQL database a run."""

from __future__ import annotations

import functools
import os
import shutil
import uuid
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlmodel import SQLModel

from bot.store.db import make_db
from bot.store.migrate import upgrade
from bot.store.secret_key import ensure_secret_key

POSTGRES_ENV = "TEST_DATABASE_URL"

# For a test of a refusal decided before any query runs (a signature, an API key, a query
# string): the request never reaches the database, so PostgreSQL would only run the same code
# again. The file's other tests still run on both engines.
REFUSED_BEFORE_ANY_QUERY = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
# For a test of what only a database server can do (drop a connection, say): its SQLite run
# would test nothing, so there is none (without TEST_DATABASE_URL it skips, saying why).
POSTGRESQL_ONLY = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
# For a test that counts the work a statement did in SQLite's virtual machine (its steps): on
# PostgreSQL, which scans tiny tables whatever the indexes, the same count would say nothing.
SQLITE_WORK_ONLY = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def postgres_server_url() -> str | None:
    """The PostgreSQL server the suite may use, from TEST_DATABASE_URL (unset on a laptop)."""
    url = os.environ.get(POSTGRES_ENV)
    if not url:
        return None
    parsed = make_url(url)
    if parsed.drivername == "postgresql":  # plain URLs mean psycopg 3, the driver we install
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


class SqliteTemplate:
    """Migrates once; every test gets a fresh copy of the file."""

    def __init__(self, folder: Path) -> None:
        self.template = folder / "template.db"
        upgrade(f"sqlite:///{self.template}")

    def fresh(self, folder: Path) -> str:
        target = folder / "parley.db"
        shutil.copyfile(self.template, target)
        return f"sqlite:///{target}"


class PostgresDatabase:
    """A database of our own on the shared server, migrated once and emptied between tests."""

    def __init__(self, server_url: str) -> None:
        self.name = f"parley_test_{uuid.uuid4().hex[:12]}"
        self.admin = make_db(server_url, isolation_level="AUTOCOMMIT")
        with self.admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{self.name}"'))
            connection.execute(text(f'ALTER DATABASE "{self.name}" SET synchronous_commit = off'))
        self.url = (
            make_url(server_url).set(database=self.name).render_as_string(hide_password=False)
        )
        upgrade(self.url)
        self.db = make_db(self.url)

    def fresh(self) -> str:
        """Empty every table and restart every sequence, as TRUNCATE … RESTART IDENTITY would.

        DELETE rather than TRUNCATE: a test leaves a few rows, and TRUNCATE makes new files for
        all 21 tables each time (1.2 s a test on a busy server, against 0.07 s for this).
        """
        with self.db.begin() as connection:
            connection.exec_driver_sql(self._emptying)
        ensure_secret_key(self.db)  # as `bot db upgrade` leaves a database
        return self.url

    @functools.cached_property
    def _emptying(self) -> str:
        """One round trip: children before parents, then every sequence back to its start."""
        deletes = [
            f'DELETE FROM "{table.name}"' for table in reversed(SQLModel.metadata.sorted_tables)
        ]
        restart = (
            "SELECT setval((quote_ident(schemaname) || '.' || quote_ident(sequencename))::regclass,"
            " start_value, false) FROM pg_sequences WHERE schemaname = current_schema()"
        )
        return "; ".join([*deletes, restart])

    def drop(self) -> None:
        self.db.dispose()
        with self.admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)'))
        self.admin.dispose()

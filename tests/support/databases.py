"""Test databases: a migrated SQLite template copied per test; one PostgreSQL database a run."""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlmodel import SQLModel

from bot.store.db import make_db
from bot.store.migrate import upgrade
from bot.store.secret_key import ensure_secret_key

POSTGRES_ENV = "TEST_DATABASE_URL"


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
        self.url = (
            make_url(server_url).set(database=self.name).render_as_string(hide_password=False)
        )
        upgrade(self.url)
        self.db = make_db(self.url)

    def fresh(self) -> str:
        tables = ", ".join(f'"{table.name}"' for table in SQLModel.metadata.sorted_tables)
        with self.db.begin() as connection:
            connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        ensure_secret_key(self.db)  # as `bot db upgrade` leaves a database
        return self.url

    def drop(self) -> None:
        self.db.dispose()
        with self.admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)'))
        self.admin.dispose()

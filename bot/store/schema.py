"""Can this code run on the database? One answer, and one word for what is wrong.

`/healthz` and every `bot` command ask `database_problem`; a failure anywhere else (a migration
that cannot connect) is named by `classify`. Both give the same words: unreachable, wrong
credentials, not migrated, read-only.
"""

from __future__ import annotations

import functools
import sqlite3
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from bot.store.db import make_db


class Trouble(StrEnum):
    """What keeps the database from serving Parley, as /healthz names it."""

    UNREACHABLE = "unreachable"
    WRONG_CREDENTIALS = "wrong credentials"
    NOT_MIGRATED = "not migrated"
    READ_ONLY = "read-only"


HEADLINE = {
    Trouble.UNREACHABLE: "cannot reach the database",
    Trouble.WRONG_CREDENTIALS: "the database refused the login",
    Trouble.NOT_MIGRATED: "the database is not migrated",
    Trouble.READ_ONLY: "the database is read-only",
}
ADVICE = {
    Trouble.UNREACHABLE: "check DATABASE_URL and that the database server is running",
    Trouble.WRONG_CREDENTIALS: "check the user and password in DATABASE_URL",
    Trouble.NOT_MIGRATED: "run `bot db upgrade` first",
    Trouble.READ_ONLY: "Parley needs to write: check the file's permissions, or point "
    "DATABASE_URL at the primary server with a user that may write",
}

# PostgreSQL's SQLSTATE codes (appendix A of its manual) for the failures we can name.
_PG_STATES = {
    "28000": Trouble.WRONG_CREDENTIALS,  # invalid_authorization_specification (pg_hba, no role)
    "28P01": Trouble.WRONG_CREDENTIALS,  # invalid_password
    "25006": Trouble.READ_ONLY,  # read_only_sql_transaction (a standby, read-only default)
    "42501": Trouble.READ_ONLY,  # insufficient_privilege: this user may not write
    "42P01": Trouble.NOT_MIGRATED,  # undefined_table
}
# libpq reports a refused login before any SQLSTATE exists: only its words tell.
_PG_LOGIN_WORDS = ("password authentication failed", "no pg_hba.conf entry", "role ")
# The probe: a write that matches no row, so it changes nothing, but the database must still
# agree to write (SQLite takes its write lock, PostgreSQL checks read-only and privileges).
_WRITE_PROBE = text("UPDATE alembic_version SET version_num = version_num WHERE 1 = 0")
_REVISION = text("SELECT version_num FROM alembic_version")


@dataclass(frozen=True)
class DatabaseProblem:
    """What is wrong with the database, in a word and in the driver's own words."""

    trouble: Trouble
    detail: str

    def message(self) -> str:
        """One line for a person: what, the driver's reason, what to do."""
        return f"{HEADLINE[self.trouble]}: {self.detail}; {ADVICE[self.trouble]}"


@functools.cache
def _head() -> str | None:
    # Reading the migration scripts costs milliseconds; they do not change while we run.
    # Alembic loads here, not at import: every web, worker and clock process imports this
    # module, and loading alembic cost each of them 0.1 s of CPU for a check few ever make.
    from bot.store.migrate import current_head

    return current_head()


def classify(error: SQLAlchemyError) -> DatabaseProblem:
    """Name what a database error says about the database as a whole."""
    original = error.orig if isinstance(error, DBAPIError) else error
    detail = " ".join(str(original).split()) or error.__class__.__name__
    return DatabaseProblem(_trouble_of(original, detail), detail)


def _trouble_of(original: BaseException | None, detail: str) -> Trouble:
    if isinstance(original, sqlite3.Error):
        code = getattr(original, "sqlite_errorcode", 0) & 0xFF  # the primary result code
        if code == sqlite3.SQLITE_READONLY:
            return Trouble.READ_ONLY
        if "no such table" in detail:
            return Trouble.NOT_MIGRATED
        return Trouble.UNREACHABLE
    state = getattr(original, "sqlstate", None)
    if state in _PG_STATES:
        return _PG_STATES[state]
    if state is None and any(words in detail for words in _PG_LOGIN_WORDS):
        return Trouble.WRONG_CREDENTIALS
    return Trouble.UNREACHABLE


def database_problem(db: Engine, *, writes: bool = True) -> DatabaseProblem | None:
    """None when the database answers, is at the newest migration and (`writes`) takes a write.

    Two short transactions that change nothing: cheap enough for a load balancer's polling.
    """
    try:
        with db.connect() as connection:
            with connection.begin():
                problem = _revision_problem(connection)
            if problem is None and writes:
                # A transaction of its own, the probe its first statement: on SQLite a read
                # transaction that then writes fails at once ("database is locked") when
                # another process wrote meanwhile; a fresh one waits its turn (busy_timeout).
                with connection.begin() as probe:
                    connection.execute(_WRITE_PROBE)
                    probe.rollback()
    except SQLAlchemyError as error:
        return classify(error)
    return problem


def _revision_problem(connection: Connection) -> DatabaseProblem | None:
    dialect = connection.dialect.name
    exists = (
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'alembic_version'"
        if dialect == "sqlite"
        else "SELECT to_regclass('alembic_version') IS NOT NULL"
    )
    if not connection.execute(text(exists)).scalar():
        return DatabaseProblem(Trouble.NOT_MIGRATED, "it has no tables yet")
    revision = connection.execute(_REVISION).scalar()
    head = _head()
    if revision != head:
        return DatabaseProblem(
            Trouble.NOT_MIGRATED, f"it is at revision {revision}, the code expects {head}"
        )
    return None


def schema_problem(database_url: str, *, writes: bool = True) -> DatabaseProblem | None:
    """`database_problem` for a URL (a db of its own, disposed of afterwards)."""
    db = make_db(database_url)
    try:
        return database_problem(db, writes=writes)
    finally:
        db.dispose()

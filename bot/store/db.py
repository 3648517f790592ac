"""The database handle (`db`, a SQLAlchemy Engine) and transactions, for SQLite and PostgreSQL."""

from __future__ import annotations

import json
import os
import sys
import time
import weakref
from collections.abc import Callable, Collection, Iterator, Mapping
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

from sqlalchemy import (
    JSON,
    ColumnElement,
    Select,
    Table,
    bindparam,
    cast,
    create_engine,
    event,
    exc,
    func,
    literal,
    select,
    text,
    true,
)
from sqlalchemy.dialects import postgresql, sqlite

if sys.platform == "win32":  # no fcntl: SQLite's busy timeout alone serialises writers there
    fcntl = None
else:
    import fcntl
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.sql.base import Executable

from bot.store.driver_sql import (
    DriverStatement,
    commit_with_held,
    driver_connection,
    drop_held,
    holds_only,
    send_held,
)

SQLITE_BUSY_TIMEOUT_MS = 30_000
# SQLite copies its write-ahead log back into the database (a checkpoint) from inside the
# commit that crosses wal_autocheckpoint pages: a few milliseconds during which, holding the
# writer's turn, every other writer waits. We checkpoint after the turn instead, every
# WAL_CHECKPOINT_EVERY write transactions of a process; SQLite's own, at a higher mark, stays
# as the safety net for writes that do not pass through transaction().
WAL_CHECKPOINT_EVERY = 64
WAL_AUTOCHECKPOINT_PAGES = 10_000
WRITE_LOCK_OPTION = "parley_writes"  # execution option: this transaction will write
_AFTER_COMMIT = "parley_after_commit"  # connection.info key: callbacks for after the commit
_BEFORE_COMMIT = "parley_before_commit"  # connection.info key: callbacks for just before it

CONNECT_TIMEOUT_S = 10  # seconds; a DATABASE_URL's own ?connect_timeout= wins
PING_AFTER_IDLE_S = 1.0  # a pooled PostgreSQL connection idle this long is checked before use
_IDLE_SINCE = "parley_idle_since"  # pool record info key: when it was last checked in
# PostgreSQL engines that send held writes before any statement SQLAlchemy runs (make_db's).
_HOLDS_FOR_SQLALCHEMY: weakref.WeakSet[Engine] = weakref.WeakSet()


def make_db(database_url: str, **options: Any) -> Engine:
    """A db (SQLAlchemy Engine) tuned for its backend; makes the SQLite file's folder if missing."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        return _sqlite_db(database_url, sqlite_path(url.database, url.query), **options)
    # No ping a checkout: a round trip on every transaction. A connection idle for a while is
    # checked before use instead (_ping_if_idle), and a text that meets one the server dropped
    # meanwhile is handled again on a fresh one (ConversationService.handle_inbound); any other
    # transaction that meets a connection dropped within that second fails once, as one in
    # flight at a restart does.
    if "connect_timeout" not in url.query:
        # libpq waits for ever on a host that drops packets; /healthz and commands must answer.
        options.setdefault("connect_args", {}).setdefault("connect_timeout", CONNECT_TIMEOUT_S)
    db = create_engine(database_url, **options)
    if not options.get("pool_pre_ping"):
        _ping_idle_connections(db)

    @event.listens_for(db, "before_cursor_execute")
    def _held_writes_first(connection: Connection, *_statement: Any) -> None:
        # Writes DriverStatement.run_later holds go before any statement SQLAlchemy runs.
        send_held(connection)

    _HOLDS_FOR_SQLALCHEMY.add(db)

    # Any commit sends them (transaction() has already, with its COMMIT, in one round trip;
    # a plain db.begin() has not) and any rollback forgets them: held writes never outlive
    # their transaction on the pooled connection, whoever began it.
    event.listen(db, "commit", send_held)
    event.listen(db, "rollback", _forget_held)
    return db


def _forget_held(connection: Connection) -> None:
    # An invalidated connection (the server dropped it) holds nothing: its info is gone with
    # it, and reading it would try to reconnect inside the failed transaction.
    if not connection.invalidated:
        drop_held(connection)


def _ping_idle_connections(db: Engine) -> None:
    """Check a pooled connection before use only if it sat idle PING_AFTER_IDLE_S or longer.

    A ping on every checkout (pool_pre_ping) is a round trip on every transaction. A busy
    pool's connections were in use a moment ago; one idle for longer may have been dropped
    (a restarted server, a proxy's idle timeout): pinged, and replaced if it is gone. A
    connection that dies while busy raises on its next statement, and is replaced then.
    """

    @event.listens_for(db, "checkin")
    def _idle_from(_driver: Any, record: Any) -> None:
        record.info[_IDLE_SINCE] = time.monotonic()

    @event.listens_for(db, "checkout")
    def _ping_if_idle(driver: Any, record: Any, _proxy: Any) -> None:
        idle_since = record.info.get(_IDLE_SINCE)
        if idle_since is None or time.monotonic() - idle_since < PING_AFTER_IDLE_S:
            return
        try:
            db.dialect.do_ping(driver)
        except db.dialect.loaded_dbapi.Error as error:
            # SQLAlchemy's documented way: the pool drops it and checks out another.
            raise exc.DisconnectionError("the server dropped an idle connection") from error


def sqlite_path(database: str | None, query: Mapping[str, Any]) -> str | None:
    """The file a SQLite URL names, also as a URI (`sqlite:///file:/x.db?mode=ro&uri=true`)."""
    if database and query.get("uri") == "true" and database.startswith("file:"):
        return database.removeprefix("file:")
    return database


def _sqlite_db(database_url: str, path: str | None, **options: Any) -> Engine:
    if path and path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    db = create_engine(
        database_url,
        connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
        **options,
    )

    @event.listens_for(db, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the driver, decide when transactions begin (see _on_begin).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        # WAL lets readers go on while one process writes; NORMAL sync is safe with WAL.
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA wal_autocheckpoint={WAL_AUTOCHECKPOINT_PAGES}")
        cursor.close()

    @event.listens_for(db, "begin")
    def _on_begin(connection: Any) -> None:
        # A deferred transaction that later writes can fail at once with "database is locked"
        # (SQLite cannot wait on a read-to-write upgrade). Write transactions take the lock up
        # front, so several gunicorn workers queue on busy_timeout; reads stay deferred (WAL).
        writes = connection.get_execution_options().get(WRITE_LOCK_OPTION, False)
        # Straight to the driver: every transaction passes here, exec_driver_sql costs 4x more.
        connection.connection.driver_connection.execute("BEGIN IMMEDIATE" if writes else "BEGIN")

    if path and path != ":memory:":
        _checkpoints[db] = _CheckpointSchedule(WAL_CHECKPOINT_EVERY)
    return db


class _CheckpointSchedule:
    """Counts a process's write transactions on one SQLite file; says when to checkpoint."""

    def __init__(self, every: int) -> None:
        self.every = every
        self.since_last = 0

    def due(self) -> bool:
        # Unlocked: two threads racing here at worst checkpoint twice or a little late.
        self.since_last += 1
        if self.since_last < self.every:
            return False
        self.since_last = 0
        return True


_checkpoints: weakref.WeakKeyDictionary[Engine, _CheckpointSchedule] = weakref.WeakKeyDictionary()


def _checkpoint_if_due(db: Engine, connection: Connection) -> None:
    schedule = _checkpoints.get(db)
    if schedule is not None and schedule.due():
        # PASSIVE: copies what no reader still needs, waits for nobody, blocks no writer.
        driver_connection(connection).execute("PRAGMA wal_checkpoint(PASSIVE)")


def is_sqlite(db: Engine) -> bool:
    """Whether the db speaks to SQLite (no row locks, one writer at a time)."""
    return db.dialect.name == "sqlite"


# SET LOCAL as a SELECT, so that it can be held for the COMMIT's round trip (run_later).
_COMMIT_WITHOUT_WAITING = DriverStatement(
    select(func.set_config("synchronous_commit", "off", true()))
)


@contextmanager
def transaction(db: Engine, *, durable: bool = True) -> Iterator[Connection]:
    """A connection whose writes commit together at the end, or not at all.

    `durable=False`: on PostgreSQL the COMMIT does not wait for the disk (synchronous_commit
    off, for this transaction alone): 2-3 ms less on a plain disk. Every other connection
    sees the writes at once, as always; only a crash of the database server itself, within
    0.6 s of the commit (three times wal_writer_delay), can lose them. Only for writes that
    something else puts right after such a crash (docs/architecture.md, "What waits for the
    disk"). On SQLite no change: its WAL commits never wait for the disk (synchronous=NORMAL).
    """
    # The writer's turn covers BEGIN to COMMIT only: taking a pooled connection, handing it
    # back (a rollback-on-return) and checkpointing happen outside it, so the next writer
    # starts sooner.
    with db.connect().execution_options(**{WRITE_LOCK_OPTION: True}) as connection:
        begun_by_us = False
        try:
            with _writer_turn(db), connection.begin() as began:
                begun_by_us = _begin_with_first_statement(connection)
                yield connection
                for callback in connection.info.pop(_BEFORE_COMMIT, ()):
                    callback()
                _still_in_transaction(connection)
                if not durable and connection.dialect.name == "postgresql":
                    _COMMIT_WITHOUT_WAITING.run_later(connection, {})
                if begun_by_us and holds_only(connection, _BEGIN):
                    drop_held(connection)  # nothing was sent: psycopg sends no COMMIT either
                # On PostgreSQL the writes held for it go with the COMMIT: one round trip.
                commit_with_held(connection, began)
        finally:
            committed: Collection[Callable[[], object]]
            if connection.invalidated:
                # Lost (the server dropped it): its info went with it, and touching it now
                # would hide the error that says so (what handle_inbound's retry looks for)
                # behind SQLAlchemy's "can't reconnect until rolled back".
                committed = ()
            else:
                # Kept on the pooled connection's info: never let them outlive this one.
                drop_held(connection)
                connection.info.pop(_BEFORE_COMMIT, None)
                committed = connection.info.pop(_AFTER_COMMIT, ())
                if begun_by_us:
                    _driver_begins_again(connection)
        _checkpoint_if_due(db, connection)
        for callback in committed:
            callback()


# psycopg begins a transaction in a round trip of its own, even in pipeline mode (it syncs
# after its BEGIN): transaction() holds its own BEGIN instead, to go with the first statement.
_BEGIN = DriverStatement(text("BEGIN").columns(), announced=False)  # columns(): no rows


def _begin_with_first_statement(connection: Connection) -> bool:
    """On PostgreSQL, hold a BEGIN to go with the transaction's first statement (run_later),
    the driver in autocommit meanwhile so that it sends none of its own: one round trip less
    for every write transaction. Returns whether it did (then `_driver_begins_again` after).

    psycopg's commit() and rollback() look at the server's transaction status, not at
    autocommit, so the COMMIT and a rollback are sent as before. The body must not commit
    itself (transaction() does): statements after such a commit would each commit alone.

    Left to psycopg: a connection already in autocommit (an engine made so: no transaction,
    as before), one with its own isolation level, read-only or deferrable setting (psycopg's
    BEGIN says them), and engines not made by make_db (only there do held writes go before
    a statement SQLAlchemy runs: a first such statement would run before the BEGIN)."""
    if connection.dialect.driver != "psycopg" or connection.engine not in _HOLDS_FOR_SQLALCHEMY:
        return False
    driver = driver_connection(connection)
    settings = (driver.isolation_level, driver.read_only, driver.deferrable)
    if driver.autocommit or settings != (None, None, None):
        return False
    driver.autocommit = True
    _BEGIN.run_later(connection, {})
    return True


def _driver_begins_again(connection: Connection) -> None:
    """The pooled connection back as every other user of it expects it: not in autocommit."""
    if connection.invalidated:
        return  # the pool drops it
    try:
        driver_connection(connection).autocommit = False
    except (exc.ResourceClosedError, connection.dialect.loaded_dbapi.Error):
        connection.invalidate()  # not idle after all (a lost connection): never reuse it


class TransactionLost(RuntimeError):
    """SQLite ended a transaction before its commit: nothing of it is stored."""


def _still_in_transaction(connection: Connection) -> None:
    """Some SQLite errors end the whole transaction, not the statement alone (a trigger's
    RAISE(ROLLBACK), an interrupt, some I/O errors). Caught by whoever ran the statement,
    the commit would then find nothing to commit, and the driver says nothing: the body's
    writes would be lost while its caller answered as if they were stored."""
    if connection.dialect.name == "sqlite" and not driver_connection(connection).in_transaction:
        raise TransactionLost("SQLite ended this transaction before its commit: nothing is stored")


def before_commit(connection: Connection, callback: Callable[[], object]) -> None:
    """Run `callback` at the end of the transaction() of `connection`, inside it, once its
    body has written all it will; an error from it rolls the transaction back."""
    if not connection.get_execution_options().get(WRITE_LOCK_OPTION):
        # Only transaction() runs them: elsewhere the callback would be silently dropped.
        raise RuntimeError("before_commit needs a connection from transaction()")
    connection.info.setdefault(_BEFORE_COMMIT, []).append(callback)


def after_commit(connection: Connection, callback: Callable[[], object]) -> None:
    """Run `callback` once the transaction() of `connection` commits; never if it rolls back."""
    connection.info.setdefault(_AFTER_COMMIT, []).append(callback)


def prepared(build: Callable[[str], Executable]) -> Callable[[Connection], Executable]:
    """Build a statement once per dialect and reuse it (hot paths pay no construction cost).

    The statement takes its values as execute() parameters, so one object serves every call.
    """
    cache: dict[str, Executable] = {}

    def statement_for(connection: Connection) -> Executable:
        dialect = connection.dialect.name
        if dialect not in cache:
            cache[dialect] = build(dialect)
        return cache[dialect]

    return statement_for


def dialect_insert(dialect: str, table: Table) -> Any:
    """An INSERT that can say ON CONFLICT, for a dialect by name."""
    return postgresql.insert(table) if dialect == "postgresql" else sqlite.insert(table)


def where_in(
    query: Select[Any], column: ColumnElement[str], values: Collection[str], dialect: str
) -> Select[Any]:
    """`query` for the rows whose `column` is one of `values`, each found by its index.

    The values travel as one JSON array in one parameter: an expanded `IN (?, ?, …)` or an
    ARRAY parameter costs SQLAlchemy and the driver about 3 µs of Python per value to render
    and bind, and a campaign batch asks four of them with 500 values each.
    SQLite: `column IN (SELECT value FROM json_each(:values))`, each probed by the index.
    PostgreSQL: the planner judges an IN list of hundreds of values by the table's statistics,
    and a table that has grown since they were taken (a campaign run fills it; no autovacuum)
    gets a whole-table scan per statement, quadratic over a run. A probe per value instead
    (the array's elements, then a LATERAL subquery that OFFSET 0 keeps from being flattened
    into a join) reads only the rows asked for. Same columns and rows, order not kept; a
    value given twice is asked once, as IN does.
    """
    if dialect not in ("sqlite", "postgresql"):
        return query.where(column.in_(values))
    return _where_in_array(query, column, literal(json_array(values)), dialect)


def where_in_bound(
    query: Select[Any], column: ColumnElement[str], dialect: str, name: str
) -> Select[Any]:
    """`where_in` with the values bound when it runs, as the parameter `name` (give it
    `json_array(values)`): one statement for any values, which a DriverStatement can run."""
    return _where_in_array(query, column, bindparam(name), dialect)


def json_array(values: Collection[str]) -> str:
    """The values as the JSON array `where_in_bound` takes, each once (PostgreSQL's probe
    would find a value given twice twice; IN finds it once)."""
    return json.dumps(list(dict.fromkeys(values)))


def _where_in_array(
    query: Select[Any], column: ColumnElement[str], array: ColumnElement[Any], dialect: str
) -> Select[Any]:
    if dialect == "sqlite":
        listed = func.json_each(array)
        return query.where(column.in_(select(listed.table_valued("value").c.value)))
    wanted = func.json_array_elements_text(cast(array, JSON)).table_valued("value").render_derived()
    probe = query.where(column == wanted.c.value).offset(0).lateral()
    return select(*probe.c).select_from(wanted.join(probe, true()))


def fresh_ids(connection: Connection, table: Table, count: int) -> list[int]:
    """`count` unused ids for new rows of `table` (its integer key `id`), to insert with them.

    PostgreSQL: drawn from the column's sequence, as its default would. SQLite: the ones after
    the largest, as SQLite itself picks a new rowid; a transaction() holds the only write lock
    from BEGIN IMMEDIATE, so no other writer takes them first (were one to, the INSERT fails
    on the key: nothing is overwritten).
    """
    if count <= 0:
        return []
    id_column = table.c.id
    if connection.dialect.name == "postgresql":
        # The sequence's name found once (a scalar subquery, run before the rows), as a regclass:
        # in the select list itself the catalog look-up and the text-to-regclass cast ran for
        # every id drawn (3-4 ms for 500 ids against 0.4 ms, measured in psql).
        sequence = select(
            cast(func.pg_get_serial_sequence(table.name, id_column.name), postgresql.REGCLASS)
        ).scalar_subquery()
        drawn = select(func.nextval(sequence)).select_from(func.generate_series(1, count))
        return list(connection.execute(drawn).scalars())
    largest = connection.execute(select(func.max(id_column))).scalar_one_or_none() or 0
    return list(range(largest + 1, largest + 1 + count))


def _writer_turn(db: Engine) -> Any:
    """On SQLite, wait for our turn to write in a queue the kernel keeps.

    SQLite's own busy handler makes a waiting writer sleep (1, 2, 5 … 100 ms) and try again, so
    several gunicorn workers writing at once lose most of their time asleep. An exclusive flock
    on a file beside the database wakes the next writer the moment the last one finishes.
    """
    path = sqlite_path(db.url.database, db.url.query) if is_sqlite(db) else None
    if not path or path == ":memory:" or fcntl is None:
        return nullcontext()
    return _flocked(f"{path}.writer-lock")


@contextmanager
def _flocked(lock_path: str) -> Iterator[None]:
    # A descriptor of our own per turn: flock then also queues threads of one process.
    descriptor = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        yield
    finally:
        os.close(descriptor)  # closing releases the lock

"""Hot-path statements: SQLAlchemy Core builds and compiles them, the driver's cursor runs them.

Why by hand: on the webhook's path SQLAlchemy's per-execute machinery (execution context,
parameter construction, result proxy) costs about three times what the driver spends running
the statement (25-40 µs against 10-15 µs on SQLite), and a flow turn runs six to eight of them:
run through Connection.execute, an inbound text costs 18 % more CPU (docs/benchmarks.md).
A `DriverStatement` is compiled once per dialect and parameter set, keeps SQLAlchemy's own bind
and result processors (so enums, JSON and UTC datetimes behave exactly as everywhere else), and
runs inside the caller's SQLAlchemy transaction on the same DBAPI connection. Driver errors are
re-raised as SQLAlchemy's exceptions, so callers catch `IntegrityError` as they always did.
Everything off the hot path keeps using `Connection.execute`.

Public API only (sqlalchemy has no upper bound; tests/unit/test_no_private_api.py guards it): the
compiled statement's documented attributes (`string`, `positiontup`, `binds`, `insert_prefetch`,
`construct_params`), the types' `dialect_impl(...).bind_processor / result_processor`, the
statement's `exported_columns`, and the DBAPI connection from `Connection.connection`.
"""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from operator import itemgetter
from typing import Any

from sqlalchemy import Table, exc, null
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.selectable import ExecutableReturnsRows

Processor = Callable[[Any], Any]
# connection.info key: writes held back to go with the transaction's next statement (run_later)
_HELD = "parley_held_writes"
_HOLD_AT_MOST = 16  # rows of one run_many_later; a turn writes one to three


def driver_connection(connection: Connection) -> Any:
    """The driver's own connection (sqlite3's or psycopg's) under a SQLAlchemy connection."""
    driver = connection.connection.driver_connection
    if driver is None:  # the pool let go of it: the connection was invalidated
        raise exc.ResourceClosedError("the database connection was invalidated")
    return driver


class Rows(Sequence[Any]):
    """A statement's rows, fetched at once (hot-path results are a row or a handful)."""

    def __init__(self, rows: list[Any]) -> None:
        self._rows = rows

    def __getitem__(self, index: Any) -> Any:
        return self._rows[index]

    def __len__(self) -> int:
        return len(self._rows)

    def __iter__(self) -> Iterator[Any]:
        return iter(self._rows)

    def first(self) -> Any | None:
        return self._rows[0] if self._rows else None

    def one(self) -> Any:
        if not self._rows:
            raise exc.NoResultFound("expected one row, got none")
        if len(self._rows) > 1:
            raise exc.MultipleResultsFound(f"expected one row, got {len(self._rows)}")
        return self._rows[0]

    def scalar_one(self) -> Any:
        return self.one()[0]

    def scalar_one_or_none(self) -> Any | None:
        row = self.first()
        return None if row is None else row[0]

    def scalars(self) -> list[Any]:
        return [row[0] for row in self._rows]


@dataclass(frozen=True)
class _Compiled:
    sql: str
    positions: tuple[str, ...] | None  # bind names in order for positional paramstyles
    fixed: Mapping[str, Any]  # values written into the statement (status = 'active' …)
    defaults: Mapping[str, Callable[[], Any]]  # Python-side column defaults the caller left out
    binders: tuple[tuple[str, Processor], ...]
    row_type: Callable[..., Any] | None  # a namedtuple class when the statement returns rows
    readers: tuple[Processor | None, ...]


class DriverStatement:
    """A Core statement, compiled once per dialect and run on the driver's cursor."""

    def __init__(
        self,
        statement: ExecutableReturnsRows | Callable[[str], ExecutableReturnsRows],
        *,
        announced: bool = True,
    ) -> None:
        # A callable builds the statement for a dialect name (ON CONFLICT differs by dialect).
        self._build = statement if callable(statement) else (lambda _dialect: statement)
        self._compiled: dict[tuple[str, frozenset[str]], _Compiled] = {}
        # Whether before_cursor_execute listeners see it (not a BEGIN: SQLAlchemy's "begin"
        # event tells of that, as for the BEGIN the driver sends itself).
        self._announced = announced

    def run(self, connection: Connection, params: Mapping[str, Any] | None = None) -> Rows:
        """Execute once with these parameters; returns the rows (empty for plain DML)."""
        params = params or {}
        if connection.info.get(_HELD):  # they go first, in the same round trip
            return run_together(connection, [(self, params)])[0]
        compiled = self._compile(connection.dialect, params)
        cursor = _cursor(connection, compiled.sql, params, many=False, announced=self._announced)
        try:
            cursor.execute(compiled.sql, _bind(compiled, params))
            row_type = compiled.row_type
            if row_type is None:
                return Rows([])
            return Rows([_read(row_type, compiled.readers, row) for row in cursor.fetchall()])
        except connection.dialect.loaded_dbapi.Error as error:
            raise _wrapped(compiled, params, error, connection) from error
        finally:
            cursor.close()

    def run_later(self, connection: Connection, params: Mapping[str, Any]) -> None:
        """Execute with the transaction's next statement, or its COMMIT: on PostgreSQL in that
        statement's round trip (psycopg's pipeline), elsewhere now.

        For writes whose rows and row count nobody reads. Order is kept: held writes go before
        any later statement, also one run through `Connection.execute` (`make_db` sees to
        that). A held write that fails fails that later statement, or the commit, and so the
        whole transaction, as it would have failed it when run at once.
        """
        if connection.dialect.driver != "psycopg":  # no pipeline, or no round trip to save
            self.run(connection, params)
            return
        connection.info.setdefault(_HELD, []).append((self, params))

    def run_many_later(self, connection: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
        """`run_later` for each parameter set (on PostgreSQL; elsewhere, or for a batch, now)."""
        # A batch (a bulk import's events) goes as executemany: one cursor, not one a row.
        if connection.dialect.driver != "psycopg" or len(rows) > _HOLD_AT_MOST:
            self.run_many(connection, rows)
            return
        connection.info.setdefault(_HELD, []).extend((self, row) for row in rows)

    def _send(self, connection: Connection, params: Mapping[str, Any]) -> _Sent:
        """Execute without reading the rows yet (run_together reads them)."""
        compiled = self._compile(connection.dialect, params)
        cursor = _cursor(connection, compiled.sql, params, many=False, announced=self._announced)
        try:
            cursor.execute(compiled.sql, _bind(compiled, params))
        except connection.dialect.loaded_dbapi.Error as error:
            cursor.close()
            raise _wrapped(compiled, params, error, connection) from error
        return _Sent(compiled, params, cursor)

    def run_many(self, connection: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
        """Execute once per parameter set, in one driver call (no rows come back)."""
        if not rows:
            return
        send_held(connection)
        compiled = self._compile(connection.dialect, rows[0])
        bind = _Binder(compiled, rows[0].keys())
        _execute_many(connection, compiled, [bind(row) for row in rows], rows)

    def explain(self, connection: Connection, params: Mapping[str, Any]) -> list[str]:
        """The database's plan for this statement with these parameters, a line per step."""
        compiled = self._compile(connection.dialect, params)
        prefix = "EXPLAIN QUERY PLAN " if connection.dialect.name == "sqlite" else "EXPLAIN "
        cursor = driver_connection(connection).cursor()
        try:
            cursor.execute(prefix + compiled.sql, _bind(compiled, params))
            return [str(row[-1]) for row in cursor.fetchall()]
        finally:
            cursor.close()

    def _compile(self, dialect: Dialect, params: Mapping[str, Any]) -> _Compiled:
        key = (dialect.name, frozenset(params))
        compiled = self._compiled.get(key)
        if compiled is None:
            compiled = self._compiled[key] = _compile(self._build(dialect.name), dialect, params)
        return compiled


class BulkInsert:
    """Many new rows of one table in one driver call: COPY on PostgreSQL, executemany elsewhere.

    Each row is bound as `DriverStatement` binds an INSERT's (SQLAlchemy's own processors, the
    Python-side defaults of the columns left out), so what is stored is what the INSERT would
    store. Why COPY: psycopg's executemany (a pipeline) spends about 60 µs of Python per row
    preparing, sending and reading each statement; COPY streams the rows as one text.
    """

    def __init__(self, table: Table) -> None:
        self._table = table
        self._insert = DriverStatement(table.insert())
        # Per set of columns that no row of a batch fills: the INSERT with NULL written in.
        self._with_nulls: dict[frozenset[str], DriverStatement] = {}

    def run(
        self,
        connection: Connection,
        rows: Sequence[Mapping[str, Any]],
        shared: Mapping[str, Any] | None = None,
    ) -> None:
        """Insert the rows, all with the keys of the first; nothing comes back.

        `shared`: columns with one value for every row (a batch's moment, campaign, purpose),
        given once instead of in each row, and processed once; none of them in the rows.
        """
        if not rows:
            return
        shared = shared or {}
        if not shared.keys().isdisjoint(rows[0]):
            both = ", ".join(sorted(shared.keys() & rows[0].keys()))
            raise ValueError(f"columns given both in the rows and as shared: {both}")
        send_held(connection)
        dialect = connection.dialect
        if dialect.name != "postgresql":
            self._execute_many(connection, rows, shared)
            return
        bind = _Binder(self._insert._compile(dialect, {**rows[0], **shared}), rows[0], shared)
        bound = [bind(row) for row in rows]
        keys = list(bound[0])
        quote = dialect.identifier_preparer
        columns = ", ".join(quote.quote(self._table.c[key].name) for key in keys)
        sql = f"COPY {quote.format_table(self._table)} ({columns}) FROM STDIN"
        in_order = _picker(keys)
        cursor = _cursor(connection, sql, rows, many=True)
        try:
            with cursor.copy(sql) as copy:
                for values in bound:
                    copy.write_row(in_order(values))
        except dialect.loaded_dbapi.Error as error:
            raise exc.DBAPIError.instance(
                sql, {**rows[0], **shared}, error, dialect.loaded_dbapi.Error, dialect=dialect
            ) from error
        finally:
            cursor.close()

    def _execute_many(
        self,
        connection: Connection,
        rows: Sequence[Mapping[str, Any]],
        shared: Mapping[str, Any],
    ) -> None:
        """executemany, with NULL written into the statement for each column no row fills.

        SQLite's driver adapts every None it binds (about 0.65 µs each, where a str or an int
        costs nothing), and a campaign's text leaves eight of its columns empty. Empty are the
        shared columns that are None and the row columns None in every row, unless their type
        binds None as something else (JSON's 'null'); a column a default fills is bound, None
        or not: the same row either way.
        """
        dialect = connection.dialect
        processors = dict(self._insert._compile(dialect, {**rows[0], **shared}).binders)
        empty = frozenset(
            name
            for name in [
                *(name for name, value in shared.items() if value is None),
                *(key for key in rows[0] if all(row[key] is None for row in rows)),
            ]
            if name not in processors or processors[name](None) is None
        )
        statement = self._with_nulls_in(empty) if empty else self._insert
        given = {key: value for key, value in shared.items() if key not in empty}
        keys = [key for key in rows[0] if key not in empty]
        compiled = statement._compile(dialect, dict.fromkeys([*keys, *given]))
        bind = _Binder(compiled, keys, given)
        _execute_many(
            connection, compiled, [bind(row) for row in rows], rows, {**rows[0], **shared}
        )

    def _with_nulls_in(self, empty: frozenset[str]) -> DriverStatement:
        """The INSERT with NULL written in for the columns `empty`."""
        statement = self._with_nulls.get(empty)
        if statement is None:
            with_nulls = self._table.insert().values({name: null() for name in empty})
            statement = self._with_nulls[empty] = DriverStatement(with_nulls)
        return statement


def _execute_many(
    connection: Connection,
    compiled: _Compiled,
    bound: Sequence[Any],
    rows: Sequence[Mapping[str, Any]],
    first: Mapping[str, Any] | None = None,
) -> None:
    """Run `compiled` once per bound row in one driver call (`rows`: as given, for the
    statement's listeners; an error shows `first`, the first row whole, or the first of them)."""
    cursor = _cursor(connection, compiled.sql, rows, many=True)
    try:
        cursor.executemany(compiled.sql, bound)
    except connection.dialect.loaded_dbapi.Error as error:
        raise _wrapped(compiled, rows[0] if first is None else first, error, connection) from error
    finally:
        cursor.close()


def _cursor(
    connection: Connection, sql: str, params: Any, *, many: bool, announced: bool = True
) -> Any:
    """A driver cursor for one statement, announced as SQLAlchemy announces its own: the
    connection's before_cursor_execute listeners (SQL logging, tracing, the tests' statement
    counters) see every statement, not only those SQLAlchemy runs itself."""
    cursor = driver_connection(connection).cursor()
    announce = connection.dispatch.before_cursor_execute
    if announce and announced:  # no listener, as in production by default: nothing to call
        announce(connection, cursor, sql, params, None, many)
    return cursor


@dataclass(frozen=True)
class _Sent:
    compiled: _Compiled
    params: Mapping[str, Any]
    cursor: Any

    def rows(self, connection: Connection) -> Rows:
        try:
            row_type = self.compiled.row_type
            if row_type is None:
                return Rows([])
            readers = self.compiled.readers
            return Rows([_read(row_type, readers, row) for row in self.cursor.fetchall()])
        except connection.dialect.loaded_dbapi.Error as error:
            raise _wrapped(self.compiled, self.params, error, connection) from error
        finally:
            self.cursor.close()


def run_together(
    connection: Connection, statements: Sequence[tuple[DriverStatement, Mapping[str, Any]]]
) -> list[Rows]:
    """Run statements in order and return each one's rows: on PostgreSQL in one round trip
    (psycopg's pipeline mode: sent together, answered together), elsewhere one by one.

    Each statement still runs on its own, in order, so a later one sees what an earlier one
    wrote or waited for (a row lock, under READ COMMITTED). Writes held by `run_later` go
    first.
    """
    held: list[tuple[DriverStatement, Mapping[str, Any]]] = connection.info.pop(_HELD, None) or []
    driver = driver_connection(connection)
    if not hasattr(driver, "pipeline"):
        every = [*held, *statements]
        return [statement.run(connection, params) for statement, params in every][len(held) :]
    sent: list[_Sent] = []
    try:
        with driver.pipeline():
            sent.extend(statement._send(connection, params) for statement, params in held)
            sent.extend(statement._send(connection, params) for statement, params in statements)
    except connection.dialect.loaded_dbapi.Error as error:
        # The pipeline's sync raised it: name the statement that failed.
        failed = _failed_in(sent) or sent[-1]
        for one in sent:
            one.cursor.close()
        raise _wrapped(failed.compiled, failed.params, error, connection) from error
    return [one.rows(connection) for one in sent][len(held) :]


def _failed_in(sent: Sequence[_Sent]) -> _Sent | None:
    """Of statements sent in one pipeline whose sync raised, the first without a result (the
    one that failed: those after it were skipped); None if every one has its result."""
    return next((one for one in sent if one.cursor.pgresult is None), None)


def send_held(connection: Connection) -> None:
    """Send the writes `run_later` holds, if any, in one round trip."""
    if connection.info.get(_HELD):
        run_together(connection, [])


def holds_only(connection: Connection, statement: DriverStatement) -> bool:
    """Whether `statement` is the one write `run_later` holds on `connection`."""
    held: list[tuple[DriverStatement, Mapping[str, Any]]] = connection.info.get(_HELD) or []
    return len(held) == 1 and held[0][0] is statement


def drop_held(connection: Connection) -> None:
    """Forget held writes: their transaction is over (rolled back, if they were never sent)."""
    connection.info.pop(_HELD, None)


def commit_with_held(connection: Connection, transaction: Any) -> None:
    """Commit `transaction` (the SQLAlchemy transaction begun on `connection`); on
    PostgreSQL the writes `run_later` holds go with the COMMIT, in one round trip."""
    held = connection.info.pop(_HELD, None)
    if not held:
        transaction.commit()
        return
    driver = driver_connection(connection)
    try:
        with driver.pipeline():
            sent = [statement._send(connection, params) for statement, params in held]
            try:
                # psycopg queues the COMMIT behind them and syncs: a held write's error stops
                # the COMMIT and is raised here (SQLAlchemy's IntegrityError &c.).
                transaction.commit()
            except exc.DBAPIError as error:
                failed = _failed_in(sent)
                if failed is None or connection.invalidated:  # the COMMIT failed, or the
                    raise  # connection is lost: the error says so (no write to blame)
                # As if it had run at once: the error names the held write, not the COMMIT.
                raise _wrapped(failed.compiled, failed.params, error.orig, connection) from error
            finally:
                for one in sent:
                    one.cursor.close()
    except Exception:
        # SQLAlchemy counts the transaction ended by the commit call and would hand the
        # connection back to the pool as it is: in a failed transaction.
        try:
            driver.rollback()
        except connection.dialect.loaded_dbapi.Error:
            connection.invalidate()  # the connection itself is gone: the pool opens another
        raise


def _compile(
    statement: ExecutableReturnsRows, dialect: Dialect, params: Mapping[str, Any]
) -> _Compiled:
    compiler = statement.compile(dialect=dialect, column_keys=list(params))
    assert isinstance(compiler, SQLCompiler)
    if compiler.post_compile_params or compiler.literal_execute_params:
        raise ValueError("DriverStatement cannot run expanding IN parameters; spell them out")
    prefetch = [*compiler.insert_prefetch, *compiler.update_prefetch]
    defaults = {column.key: _default_of(column) for column in prefetch}
    # The processors Connection.execute applies, asked of the types through their public API.
    columns = list(statement.exported_columns.items())
    row_type = namedtuple("Row", [key for key, _c in columns]) if columns else None
    readers = tuple(
        column.type.dialect_impl(dialect).result_processor(dialect, None) for _k, column in columns
    )
    return _Compiled(
        sql=compiler.string,
        positions=(
            tuple(compiler.positiontup)
            if compiler.positional and compiler.positiontup is not None
            else None
        ),
        # Values written into the statement (`.values(sent_at=None)` included), not those a
        # call must give (a bare bindparam) nor the columns' Python-side defaults.
        fixed={
            name: value
            for name, value in compiler.construct_params(dict(params)).items()
            if name not in params and name not in defaults and not compiler.binds[name].required
        },
        defaults=defaults,
        binders=tuple(
            (name, process)
            for name, bind in compiler.binds.items()
            if (process := bind.type.dialect_impl(dialect).bind_processor(dialect)) is not None
        ),
        row_type=row_type,
        readers=readers,
    )


def _default_of(column: Any) -> Callable[[], Any]:
    default = column.default
    if default is None:
        return lambda: None
    if default.is_scalar:
        value = default.arg
        return lambda: value
    if default.is_callable:
        return lambda: default.arg(None)  # SQLAlchemy wraps zero-argument callables
    raise ValueError(f"column {column.key}: pass a value (its default runs in the database)")


def _bind(compiled: _Compiled, params: Mapping[str, Any]) -> Any:
    values = {**compiled.fixed, **params}
    for name, make in compiled.defaults.items():
        if name not in values:
            values[name] = make()
    for name, process in compiled.binders:
        if name in values:
            values[name] = process(values[name])
    if compiled.positions is None:
        return values
    return tuple(values[name] for name in compiled.positions)


class _Binder:
    """`_bind` for many rows of one statement, all with the keys of the first: a value repeated
    down a column (a batch's one moment, status or campaign) is processed once (a timestamp
    costs a few µs on SQLite), and what every row lacks is worked out once. The statement's
    fixed values and `shared` (values the same for every row, not in the rows) are processed
    once, not looked up again for each row."""

    def __init__(
        self, compiled: _Compiled, keys: Iterable[str], shared: Mapping[str, Any] | None = None
    ) -> None:
        per_row = set(keys)
        once = {**compiled.fixed, **(shared or {})}
        processors = dict(compiled.binders)
        self._once = {
            name: processors[name](value) if name in processors else value
            for name, value in once.items()
            if name not in per_row
        }
        self._defaults = [
            (name, make)
            for name, make in compiled.defaults.items()
            if name not in per_row and name not in once
        ]
        per_row.update(name for name, _ in self._defaults)
        self._binders: list[tuple[str, Processor, dict[tuple[type, Any], Any]]] = [
            (name, process, {}) for name, process in compiled.binders if name in per_row
        ]
        positions = compiled.positions
        self._order = None if positions is None else _picker(positions)

    def __call__(self, params: Mapping[str, Any]) -> Any:
        values = {**self._once, **params}
        for name, make in self._defaults:
            values[name] = make()
        for name, process, done in self._binders:
            value = values[name]
            key = (value.__class__, value)  # True and 1 are one dict key, not one value
            try:
                values[name] = done[key]
            except KeyError:
                values[name] = done[key] = process(value)
            except TypeError:  # a list or a map: processed each time
                values[name] = process(value)
        return values if self._order is None else self._order(values)


def _picker(keys: Sequence[Any]) -> Callable[[Any], tuple[Any, ...]]:
    """A function giving the values at `keys` of a row (a mapping or a tuple), as a tuple."""
    if len(keys) > 1:
        return itemgetter(*keys)
    if keys:
        only = keys[0]
        return lambda values: (values[only],)
    return lambda _values: ()


def _read(row_type: Callable[..., Any], readers: Sequence[Processor | None], row: Any) -> Any:
    return row_type(
        *(value if read is None else read(value) for read, value in zip(readers, row, strict=True))
    )


def _wrapped(
    compiled: _Compiled, params: Mapping[str, Any], error: Any, connection: Connection
) -> exc.StatementError:
    """The driver's error as SQLAlchemy's; a connection the server dropped is invalidated, as
    Connection.execute does (the pool opens a new one; `connection_invalidated` says so)."""
    dialect = connection.dialect
    if connection.invalidated:  # lost already; asking for its driver would reconnect
        lost = True
    else:
        driver = connection.connection.driver_connection
        lost = driver is not None and dialect.is_disconnect(error, driver, None)
        if lost:
            connection.invalidate(error)
    return exc.DBAPIError.instance(
        compiled.sql,
        dict(params),
        error,
        dialect.loaded_dbapi.Error,
        connection_invalidated=lost,
        dialect=dialect,
    )

"""Driver statements behave as Connection.execute does: same values in and out, same errors."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import bindparam, create_engine, func, select, update
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import DBAPIError, IntegrityError, MultipleResultsFound, NoResultFound

from bench.round_trips import RoundTripProxy
from bot.domain.vocabulary import Delivery, Direction, MessageStatus, Purpose
from bot.store.db import TransactionLost, before_commit, dialect_insert, make_db, transaction
from bot.store.driver_sql import BulkInsert, DriverStatement, driver_connection, run_together
from bot.store.tables import MESSAGES

WHEN = datetime(2026, 11, 25, 9, 30, 15, 123456, tzinfo=UTC)
INSERT = DriverStatement(MESSAGES.insert().returning(MESSAGES.c.id))
BY_PHONE = DriverStatement(
    select(MESSAGES.c.id, MESSAGES.c.status, MESSAGES.c.media_urls, MESSAGES.c.created_at)
    .where(MESSAGES.c.phone == bindparam("phone"), MESSAGES.c.direction == Direction.OUTBOUND)
    .order_by(MESSAGES.c.id)
)


def outbound(phone: str = "+14155550100", **overrides: object) -> dict[str, object]:
    return {
        "phone": phone,
        "direction": Direction.OUTBOUND,
        "body": "Hello",
        "media_urls": ["https://acme.test/a.png"],
        "status": MessageStatus.PENDING,
        "purpose": Purpose.REPLY,
        "delivery": Delivery.OUTBOX,
        "created_at": WHEN,
        "updated_at": WHEN,
        **overrides,
    }


def test_rows_come_back_as_connection_execute_returns_them(database_url: str) -> None:
    db = make_db(database_url)
    with transaction(db) as connection:
        message_id = INSERT.run(connection, outbound()).scalar_one()
        ours = BY_PHONE.run(connection, {"phone": "+14155550100"}).one()
        theirs = connection.execute(
            select(MESSAGES.c.id, MESSAGES.c.status, MESSAGES.c.media_urls, MESSAGES.c.created_at)
        ).one()
    expected = (message_id, MessageStatus.PENDING, ["https://acme.test/a.png"], WHEN)
    assert tuple(ours) == tuple(theirs) == expected
    assert ours.status is MessageStatus.PENDING and ours.created_at.tzinfo is UTC
    assert ours._fields == ("id", "status", "media_urls", "created_at")


def test_column_defaults_fill_what_the_caller_leaves_out(database_url: str) -> None:
    db = make_db(database_url)
    with transaction(db) as connection:
        INSERT.run(connection, outbound())
        row = connection.execute(select(MESSAGES.c.attempts, MESSAGES.c.segments)).one()
    assert (row.attempts, row.segments) == (0, 1)


def test_a_none_written_into_the_statement_sets_null(database_url: str) -> None:
    db = make_db(database_url)
    unsend = DriverStatement(
        update(MESSAGES)
        .where(MESSAGES.c.id == bindparam("message_id"))
        .values(sent_at=None, error_message=None, status=MessageStatus.PENDING)
    )
    with transaction(db) as connection:
        message_id = INSERT.run(
            connection, outbound(sent_at=WHEN, error_message="busy", status=MessageStatus.SENT)
        ).scalar_one()
        unsend.run(connection, {"message_id": message_id})
        unsend.run_many(connection, [{"message_id": message_id}])
        row = connection.execute(
            select(MESSAGES.c.sent_at, MESSAGES.c.error_message, MESSAGES.c.status)
        ).one()
    assert tuple(row) == (None, None, MessageStatus.PENDING)


def test_many_rows_in_one_call_and_updates_with_named_parameters(database_url: str) -> None:
    db = make_db(database_url)
    insert_plain = DriverStatement(MESSAGES.insert())
    mark = DriverStatement(
        update(MESSAGES)
        .where(MESSAGES.c.phone == bindparam("of_phone"))
        .values(status=bindparam("status"))
    )
    with transaction(db) as connection:
        insert_plain.run_many(connection, [outbound(), outbound(), outbound("+14155550199")])
        mark.run(connection, {"of_phone": "+14155550100", "status": MessageStatus.SENT})
        ids = BY_PHONE.run(connection, {"phone": "+14155550100"}).scalars()
        marked = [row.status for row in BY_PHONE.run(connection, {"phone": "+14155550100"})]
        others = [row.status for row in BY_PHONE.run(connection, {"phone": "+14155550199"})]
    assert len(ids) == 2 and ids == sorted(ids)
    assert marked == [MessageStatus.SENT, MessageStatus.SENT]
    assert others == [MessageStatus.PENDING]


def test_a_dialect_specific_statement_is_built_per_dialect(database_url: str) -> None:
    db = make_db(database_url)
    upsert = DriverStatement(
        lambda dialect: (
            dialect_insert(dialect, MESSAGES)
            .on_conflict_do_nothing(index_elements=["provider_sid"])
            .returning(MESSAGES.c.id)
        )
    )
    with transaction(db) as connection:
        first = upsert.run(connection, outbound(provider_sid="SM1")).scalar_one_or_none()
        again = upsert.run(connection, outbound(provider_sid="SM1")).scalar_one_or_none()
    assert isinstance(first, int)
    assert again is None


def test_driver_errors_are_sqlalchemy_errors_and_roll_back(database_url: str) -> None:
    db = make_db(database_url)
    with pytest.raises(IntegrityError, match="phone"), transaction(db) as connection:
        INSERT.run(connection, outbound())
        INSERT.run(connection, outbound(phone=None))
    with transaction(db) as connection:
        assert BY_PHONE.run(connection, {"phone": "+14155550100"}).first() is None


def test_statements_run_together_in_order_each_seeing_those_before(database_url: str) -> None:
    db = make_db(database_url)
    phone = {"phone": "+14155550100"}
    with transaction(db) as connection:
        first, second, found = run_together(
            connection, [(INSERT, outbound()), (INSERT, outbound()), (BY_PHONE, phone)]
        )
    ids = [first.scalar_one(), second.scalar_one()]
    assert [row.id for row in found] == ids and ids[0] < ids[1]
    assert [row.status for row in found] == [MessageStatus.PENDING] * 2


def test_a_statement_failing_among_others_fails_them_all_as_sqlalchemy_says(
    database_url: str,
) -> None:
    db = make_db(database_url)
    phone = {"phone": "+14155550100"}
    failing = [(INSERT, outbound()), (INSERT, outbound(phone=None)), (BY_PHONE, phone)]
    with pytest.raises(IntegrityError, match="phone"), transaction(db) as connection:
        run_together(connection, failing)
    with transaction(db) as connection:
        assert BY_PHONE.run(connection, phone).first() is None


MARK = DriverStatement(
    update(MESSAGES)
    .where(MESSAGES.c.id == bindparam("message_id"))
    .values(status=bindparam("status"))
)


def _status(connection: Connection, message_id: int) -> MessageStatus:
    query = select(MESSAGES.c.status).where(MESSAGES.c.id == message_id)
    return connection.execute(query).scalar_one()


def test_a_write_run_later_is_seen_by_every_later_statement_and_committed(
    database_url: str,
) -> None:
    db = make_db(database_url)
    with transaction(db) as connection:
        message_id = INSERT.run(connection, outbound()).scalar_one()
        MARK.run_later(connection, {"message_id": message_id, "status": MessageStatus.SENDING})
        assert _status(connection, message_id) is MessageStatus.SENDING  # Connection.execute
        MARK.run_later(connection, {"message_id": message_id, "status": MessageStatus.SENT})
        found = BY_PHONE.run(connection, {"phone": "+14155550100"}).one()  # a driver statement
        assert found.status is MessageStatus.SENT
        MARK.run_later(connection, {"message_id": message_id, "status": MessageStatus.DELIVERED})
    with transaction(db) as connection:  # held to the commit, and committed with it
        assert _status(connection, message_id) is MessageStatus.DELIVERED


def test_a_write_run_later_that_fails_fails_the_transaction_and_the_next_one_runs(
    database_url: str,
) -> None:
    db = make_db(database_url)
    insert_plain = DriverStatement(MESSAGES.insert())
    with pytest.raises(IntegrityError, match="phone") as failed, transaction(db) as connection:
        INSERT.run(connection, outbound())
        insert_plain.run_later(connection, outbound(phone=None))  # fails at the commit at last
    # The error names the write that failed, not the COMMIT it went with.
    assert (failed.value.statement or "").startswith("INSERT INTO message")
    with transaction(db) as connection:  # the pooled connection is not left in a failed state
        assert BY_PHONE.run(connection, {"phone": "+14155550100"}).first() is None


def test_writes_held_by_a_transaction_that_rolled_back_are_never_sent(database_url: str) -> None:
    db = make_db(database_url)
    with transaction(db) as connection:
        message_id = INSERT.run(connection, outbound()).scalar_one()
    with pytest.raises(RuntimeError), transaction(db) as connection:
        MARK.run_later(connection, {"message_id": message_id, "status": MessageStatus.SENT})
        raise RuntimeError("the turn failed")
    with transaction(db) as connection:
        assert _status(connection, message_id) is MessageStatus.PENDING


def test_writes_held_outside_transaction_are_committed_or_forgotten_with_it(
    database_url: str,
) -> None:
    """A plain db.begin() has no commit_with_held: its commit sends them, its rollback drops
    them, and the pooled connection's next user never sends them."""
    db = make_db(database_url, pool_size=1, max_overflow=0)  # one connection, used again
    with db.begin() as connection:
        message_id = INSERT.run(connection, outbound()).scalar_one()
        MARK.run_later(connection, {"message_id": message_id, "status": MessageStatus.SENT})
    with pytest.raises(RuntimeError), db.begin() as connection:
        MARK.run_later(connection, {"message_id": message_id, "status": MessageStatus.FAILED})
        raise RuntimeError("rolled back")
    with db.begin() as connection:
        assert _status(connection, message_id) is MessageStatus.SENT


def test_one_says_how_many_rows_it_found(database_url: str) -> None:
    db = make_db(database_url)
    with transaction(db) as connection:
        with pytest.raises(NoResultFound, match="got none"):
            BY_PHONE.run(connection, {"phone": "+14155550100"}).one()
        INSERT.run(connection, outbound())
        INSERT.run(connection, outbound())
        with pytest.raises(MultipleResultsFound, match="got 2"):
            BY_PHONE.run(connection, {"phone": "+14155550100"}).one()


def test_expanding_in_parameters_are_refused_with_a_reason(database_url: str) -> None:
    db = make_db(database_url)
    statuses = (MessageStatus.SENT, MessageStatus.FAILED)
    statement = DriverStatement(select(MESSAGES.c.id).where(MESSAGES.c.status.in_(statuses)))
    with transaction(db) as connection, pytest.raises(ValueError, match="expanding IN"):
        statement.run(connection)


ALL_COLUMNS = select(MESSAGES).order_by(MESSAGES.c.id)


# What a batch's rows have alike, given once to BulkInsert: enums, moments, a None and a JSON
# None (stored as JSON's null, as the insert stores it, not as SQL's NULL).
SHARED = ("direction", "purpose", "delivery", "created_at", "updated_at", "sent_at", "decision")


@pytest.mark.parametrize("how", ["run_many", "bulk", "bulk, shared columns given once"])
def test_many_rows_are_stored_as_an_insert_stores_them(database_url: str, how: str) -> None:
    # Values repeated down a column (bound once) beside ones that differ, lists and None:
    # each row keeps its own.
    rows = [
        outbound(
            id=10 + index,
            body=body,
            media_urls=media,
            send_after=after,
            sent_at=None,
            decision=None,
        )
        for index, (body, media, after) in enumerate(
            [
                ("Hello", ["https://acme.test/a.png"], None),
                ("Hello", [], WHEN),
                ("Bye", ["https://acme.test/b.png"], datetime(2026, 11, 26, tzinfo=UTC)),
            ]
        )
    ]
    db = make_db(database_url)
    with transaction(db) as connection:
        connection.execute(MESSAGES.insert(), rows)
        expected = [{**row._mapping, "id": row.id + 10} for row in connection.execute(ALL_COLUMNS)]
        moved = [{**row, "id": row["id"] + 10} for row in rows]
        if how == "bulk":
            BulkInsert(MESSAGES).run(connection, moved)
        elif how.startswith("bulk"):
            shared = {name: moved[0][name] for name in SHARED}
            own = [{k: v for k, v in row.items() if k not in shared} for row in moved]
            BulkInsert(MESSAGES).run(connection, own, shared)
        else:
            DriverStatement(MESSAGES.insert()).run_many(connection, moved)
        stored = [
            dict(row._mapping) for row in connection.execute(ALL_COLUMNS.where(MESSAGES.c.id >= 20))
        ]
        # As the driver sees them too: a value bound without its type's processing can read
        # back the same (a moment with its zone) and yet be stored otherwise.
        raw = connection.exec_driver_sql("SELECT * FROM message ORDER BY id").all()
    assert stored == expected
    assert [row[1:] for row in raw[3:]] == [row[1:] for row in raw[:3]]


def test_a_bulk_insert_that_breaks_a_rule_is_an_integrity_error(database_url: str) -> None:
    db = make_db(database_url)
    with pytest.raises(IntegrityError), transaction(db) as connection:
        BulkInsert(MESSAGES).run(connection, [outbound(campaign="sale"), outbound(campaign="sale")])
    with transaction(db) as connection:
        assert BY_PHONE.run(connection, {"phone": "+14155550100"}).first() is None


def test_a_bulk_insert_error_shows_the_shared_columns_too(database_url: str) -> None:
    db = make_db(database_url)
    row = outbound(sent_at=None, decision=None)
    own = {key: value for key, value in row.items() if key not in SHARED}
    shared = {name: row[name] for name in SHARED} | {"campaign": "sale"}
    with pytest.raises(IntegrityError) as raised, transaction(db) as connection:
        BulkInsert(MESSAGES).run(connection, [own, own], shared)
    assert raised.value.params["campaign"] == "sale"  # type: ignore[call-overload, index]
    assert raised.value.params["phone"] == "+14155550100"  # type: ignore[call-overload, index]


def test_a_column_given_both_in_the_rows_and_shared_is_refused(database_url: str) -> None:
    db = make_db(database_url)
    refused = pytest.raises(ValueError, match="both in the rows and as shared: flow")
    with refused, transaction(db) as connection:
        BulkInsert(MESSAGES).run(connection, [outbound(flow="welcome")], {"flow": None})


def test_a_value_written_into_the_statement_is_stored_as_execute_stores_it(
    database_url: str,
) -> None:
    # A fixed value (here a moment, which SQLite stores as text without its zone) is processed
    # once for all the rows, as Connection.execute processes it for each.
    later = datetime(2026, 11, 26, 8, 0, tzinfo=UTC)
    touch = update(MESSAGES).where(MESSAGES.c.id == bindparam("of_id")).values(updated_at=later)
    db = make_db(database_url)
    with transaction(db) as connection:
        DriverStatement(MESSAGES.insert()).run_many(
            connection, [outbound(id=1), outbound(id=2), outbound(id=3), outbound(id=4)]
        )
        connection.execute(touch, [{"of_id": 1}, {"of_id": 2}])
        DriverStatement(touch).run_many(connection, [{"of_id": 3}, {"of_id": 4}])
        raw = connection.exec_driver_sql("SELECT * FROM message ORDER BY id").all()
    assert [row[1:] for row in raw[2:]] == [row[1:] for row in raw[:2]]


def test_a_transaction_that_fails_keeps_none_of_its_writes(database_url: str) -> None:
    """On PostgreSQL transaction() sends its own BEGIN with the first statement, the driver in
    autocommit meanwhile: were that BEGIN lost, each write would commit on its own."""
    db = make_db(database_url, pool_size=1, max_overflow=0)  # one connection, used again
    with pytest.raises(RuntimeError), transaction(db) as connection:
        INSERT.run(connection, outbound(phone="+14155550101"))  # with the BEGIN
        connection.execute(MESSAGES.insert().values(outbound(phone="+14155550102")))
        raise RuntimeError("the turn failed")
    with pytest.raises(RuntimeError), transaction(db) as connection:
        connection.execute(MESSAGES.insert().values(outbound(phone="+14155550103")))  # first
        raise RuntimeError("the turn failed")
    # The pooled connection is handed on out of autocommit: a plain db.begin() that rolls
    # back keeps nothing either.
    with pytest.raises(RuntimeError), db.begin() as connection:
        connection.execute(MESSAGES.insert().values(outbound(phone="+14155550104")))
        raise RuntimeError("rolled back")
    with db.connect() as connection:
        assert connection.execute(select(MESSAGES.c.phone)).all() == []


def test_a_write_transaction_begins_in_its_first_statements_round_trip(
    database_url: str,
) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("round trips are PostgreSQL's: SQLite runs in the process")
    proxy = RoundTripProxy((make_url(database_url).host or "127.0.0.1", 5432))
    proxied = make_url(database_url).set(host="127.0.0.1", port=proxy.start())
    db = make_db(proxied.render_as_string(hide_password=False))
    try:
        with transaction(db) as connection:
            INSERT.run(connection, outbound())  # opens the pooled connection
        before = proxy.round_trips
        with transaction(db) as connection:
            INSERT.run(connection, outbound())  # the BEGIN goes with it
        # The INSERT with its BEGIN, then the COMMIT: psycopg alone sends its BEGIN in a round
        # trip of its own, one more for every write transaction.
        assert proxy.round_trips - before == 2
        before = proxy.round_trips
        with transaction(db):
            pass  # nothing to begin nor commit
        assert proxy.round_trips == before
    finally:
        db.dispose()
        proxy.stop()


@pytest.mark.parametrize("second", ["driver", "sqlalchemy", "held", "commit"])
def test_a_connection_the_server_drops_mid_transaction_says_so(
    database_url: str, second: str
) -> None:
    """The error says the connection was lost (what handle_inbound's retry looks for), not
    that a rolled-back transaction was touched while it was being tidied away."""
    if not database_url.startswith("postgresql"):
        pytest.skip("a server dropping the connection is PostgreSQL's")
    db = make_db(database_url)
    with pytest.raises(DBAPIError) as lost, transaction(db) as connection:
        INSERT.run(connection, outbound())
        backend = connection.exec_driver_sql("SELECT pg_backend_pid()").scalar_one()
        with make_db(database_url).connect() as other:
            other.execute(select(func.pg_terminate_backend(backend)))
        if second == "driver":
            BY_PHONE.run(connection, {"phone": "+14155550100"})
        elif second == "sqlalchemy":
            connection.execute(select(MESSAGES.c.id))
        elif second == "held":  # sent with the COMMIT
            MARK.run_later(connection, {"message_id": 1, "status": MessageStatus.SENT})
        # "commit": the COMMIT meets the lost connection
    assert lost.value.connection_invalidated
    with transaction(db) as connection:  # a fresh connection; the lost one kept nothing
        assert BY_PHONE.run(connection, {"phone": "+14155550100"}).first() is None


def test_an_engines_own_transaction_settings_are_kept(database_url: str) -> None:
    """An engine made with another isolation level, or in autocommit, gets what it asked for:
    transaction() leaves those to the driver (its own BEGIN says them)."""
    if not database_url.startswith("postgresql"):
        pytest.skip("psycopg's settings")
    repeatable = make_db(database_url, isolation_level="REPEATABLE READ")
    with transaction(repeatable) as connection:
        level = connection.exec_driver_sql("SHOW transaction_isolation").scalar_one()
    assert level == "repeatable read"
    autocommit = make_db(database_url, isolation_level="AUTOCOMMIT", pool_size=1, max_overflow=0)
    with transaction(autocommit) as connection:
        INSERT.run(connection, outbound())
    with autocommit.connect() as connection:
        assert driver_connection(connection).autocommit  # still as the engine made it
    for engine in (repeatable, autocommit):
        engine.dispose()


def test_an_engine_not_made_by_make_db_keeps_psycopgs_own_begin(database_url: str) -> None:
    """Only make_db's engines send held writes before SQLAlchemy's statements: elsewhere a
    held BEGIN would come after a first such statement, which would commit on its own."""
    if not database_url.startswith("postgresql"):
        pytest.skip("psycopg's BEGIN")
    plain = create_engine(database_url)
    with pytest.raises(RuntimeError), transaction(plain) as connection:
        connection.execute(MESSAGES.insert().values(outbound()))
        raise RuntimeError("the turn failed")
    with plain.connect() as connection:
        assert connection.execute(select(MESSAGES.c.phone)).all() == []
    plain.dispose()


def test_before_commit_runs_inside_the_transaction_and_only_there(database_url: str) -> None:
    db = make_db(database_url)
    with transaction(db) as connection:
        message_id = INSERT.run(connection, outbound()).scalar_one()
        sent = {"message_id": message_id, "status": MessageStatus.SENT}
        before_commit(connection, lambda: MARK.run(connection, sent))
        assert _status(connection, message_id) is MessageStatus.PENDING  # not yet
    with transaction(db) as connection:
        assert _status(connection, message_id) is MessageStatus.SENT  # committed with the rest

    def fail() -> None:
        raise RuntimeError("the callback failed")

    with pytest.raises(RuntimeError, match="callback"), transaction(db) as connection:
        INSERT.run(connection, outbound(phone="+14155550109"))
        before_commit(connection, fail)
    with db.connect() as connection:  # the transaction's own write went with it
        assert connection.execute(select(MESSAGES.c.phone)).scalars().all() == ["+14155550100"]
    with pytest.raises(RuntimeError, match="transaction"), db.begin() as connection:
        before_commit(connection, lambda: None)  # elsewhere it would never run: refused


def test_a_transaction_sqlite_ended_early_fails_instead_of_committing_nothing(
    database_url: str,
) -> None:
    """Some SQLite errors end the whole transaction (a trigger's RAISE(ROLLBACK), an
    interrupt); caught where they happened, the commit would find nothing to commit, and the
    caller would answer as if its writes were stored."""
    if not database_url.startswith("sqlite"):
        pytest.skip("PostgreSQL keeps a failed transaction open until it is rolled back")
    db = make_db(database_url)
    with pytest.raises(TransactionLost), transaction(db) as connection:
        INSERT.run(connection, outbound())
        driver_connection(connection).execute("ROLLBACK")  # as SQLite itself would
    with db.connect() as connection:
        assert connection.execute(select(MESSAGES.c.phone)).all() == []

"""Every route refuses what its database cannot hold with a 4xx (issue 12, item 6): id ranges,
whole numbers, column lengths and NUL characters, on SQLite and PostgreSQL alike."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, insert, select, text
from sqlmodel import Session
from werkzeug.test import TestResponse

from bot.domain.vocabulary import Direction, MessageStatus
from bot.store.tables import MESSAGES
from tests.support.harness import API_KEY
from tests.support.inbox import Inbox, post
from tests.support.sms import ALICE, reply_to
from tests.support.sms import text as send_text

MAX_ROW_ID = 2**63 - 1  # the largest BIGINT
BEARER = {"Authorization": f"Bearer {API_KEY}"}
PAST_64_BITS = str(MAX_ROW_ID + 1)
PAST_32_BITS = str(2**31)
NOW = datetime(2026, 1, 5, 20, 0, tzinfo=UTC)


@pytest.fixture
def inbox(database_url: str) -> Inbox:
    return Inbox(database_url)


@pytest.fixture
def agent(inbox: Inbox) -> FlaskClient:
    return inbox.logged_in("dana@acme.test")


def _each(cases: list[str], answer: Callable[[str], TestResponse], status: int) -> None:
    """Every case gets `status`; a table in one test, as one app serves them all."""
    wrong = {case: answer(case).status_code for case in cases}
    assert {case: code for case, code in wrong.items() if code != status} == {}


def _a_conversation(inbox: Inbox) -> int:
    reply_to(inbox.new_client(), "FEEDBACK")
    with inbox.services.db.connect() as connection:
        return connection.execute(text("SELECT max(id) FROM conversation")).scalar_one()


def _message_count(inbox: Inbox) -> int:
    with inbox.services.db.connect() as connection:
        return connection.execute(select(func.count()).select_from(MESSAGES)).scalar_one()


# Ids and whole numbers


def test_a_conversation_id_out_of_range_is_a_404(agent: FlaskClient) -> None:
    paths = [f"/inbox/conversations/{n}" for n in (PAST_64_BITS, PAST_32_BITS, "9" * 40, "0")]
    _each(paths, agent.get, 404)


def test_the_inbox_poll_takes_only_a_message_id_as_after(inbox: Inbox, agent: FlaskClient) -> None:
    events = f"/inbox/conversations/{_a_conversation(inbox)}/events?after="
    _each([PAST_64_BITS, "-1", "²", "1_000", "abc"], lambda n: agent.get(events + n), 422)
    response = agent.get(f"{events}{MAX_ROW_ID}")
    assert response.status_code == 200 and response.json is not None
    assert response.json["messages"] == []


def test_the_api_pages_past_32_bit_message_ids(inbox: Inbox) -> None:
    """`after` up to the documented maximum; a message whose id needs 64 bits is listed."""
    client = inbox.new_client()
    messages = "/api/messages?phone=%2B14155550100&after="
    _each([str(MAX_ROW_ID), PAST_32_BITS], lambda n: client.get(messages + n, headers=BEARER), 200)
    big_id = 2**40
    with inbox.services.db.begin() as connection:
        connection.execute(
            insert(MESSAGES).values(
                id=big_id,
                phone=ALICE,
                direction=Direction.INBOUND,
                body="hello",
                media_urls=[],
                status=MessageStatus.RECEIVED,
                created_at=NOW,
                updated_at=NOW,
            )
        )
    response = client.get(f"{messages}{big_id - 1}", headers=BEARER)
    assert response.json is not None
    assert [message["id"] for message in response.json["messages"]] == [big_id]


def test_growing_tables_count_past_32_bits(inbox: Inbox) -> None:
    """On PostgreSQL the id sequences are BIGINT too (SQLite's rowid always was 64-bit)."""
    db = inbox.services.db
    if db.dialect.name != "postgresql":
        pytest.skip("SQLite's INTEGER PRIMARY KEY is 64-bit by construction")
    with db.begin() as connection:
        connection.execute(text(f"ALTER SEQUENCE message_id_seq RESTART WITH {2**31 + 7}"))
    reply_to(inbox.new_client(), "HELP")
    with Session(db) as session:
        assert max(session.scalars(select(MESSAGES.c.id)).all()) > 2**31


# Text: control characters and lengths


def test_a_nul_in_any_parameter_is_a_400(inbox: Inbox, agent: FlaskClient) -> None:
    pages = ["/inbox/conversations?q=%00", "/inbox/campaigns/spring%00", "/inbox/flows/a%00"]
    _each(pages, agent.get, 400)
    api = [
        "/api/campaigns/spring%00/stats",
        "/api/campaigns/spring%00/stats.csv",
        "/api/flows/welcome%00/results",
        "/api/messages?phone=%2B14155550100%00",
    ]
    client = inbox.new_client()
    _each(api, lambda path: client.get(path, headers=BEARER), 400)
    response = client.get(api[0], headers=BEARER)
    assert response.json == {
        "error": "name: contains a NUL character, which cannot be stored",
        "field": "name",
    }


def test_a_control_character_in_next_goes_to_the_queue(inbox: Inbox, agent: FlaskClient) -> None:
    for next_url in ("/inbox/%0d%0aX-Evil:%201", "/inbox/%0aabc", "/inbox/%09"):
        response = agent.get(f"/inbox/login?next={next_url}")
        assert response.status_code == 302 and response.location == "/inbox/"
        page = inbox.new_client().get(f"/inbox/login?next={next_url}")
        assert page.status_code == 200
        assert 'name="next" value="/inbox/"' in page.get_data(as_text=True)


def test_a_non_ascii_bearer_token_is_a_401(client: FlaskClient) -> None:
    keys = ["é", "ключ", "\u200b", f"{API_KEY}é"]
    _each(
        keys, lambda key: client.get("/api/flows", headers={"Authorization": f"Bearer {key}"}), 401
    )


# The webhook


def test_an_inbound_text_that_cannot_be_stored_is_a_400_and_stores_nothing(inbox: Inbox) -> None:
    cases = [
        ({"MessageSid": "SM" + "0" * 63}, "MessageSid"),
        ({"MessageSid": "SM\x00x"}, "MessageSid"),
        ({"MessageSid": "SM\tx"}, "MessageSid"),
        ({"NumMedia": "99999999999999999999"}, "NumMedia"),
        ({"NumMedia": "٣"}, "NumMedia"),
    ]
    for form, field in cases:
        response = send_text(inbox.new_client(), "hello", **form)
        assert response.status_code == 400, response.get_data(as_text=True)
        assert response.json is not None and response.json["field"] == field
    assert _message_count(inbox) == 0
    assert reply_to(inbox.new_client(), "HELP", sid="S" * 64)  # the column's length is taken


def test_a_status_callback_that_cannot_be_stored_is_a_400_and_changes_nothing(
    inbox: Inbox,
) -> None:
    reply_to(inbox.new_client(), "HELP")
    with inbox.services.db.connect() as connection:
        before = connection.execute(select(MESSAGES)).all()
    cases = [
        ({"MessageSid": "S" * 65}, "?mid=2", "MessageSid"),
        ({"MessageSid": "SM\x00"}, "?mid=2", "MessageSid"),
        ({"MessageSid": "SMx"}, f"?mid={PAST_64_BITS}", "mid"),
        ({"MessageSid": "SMx", "ErrorCode": "99999999999"}, "?mid=2", "ErrorCode"),
        ({"MessageSid": "SMx", "ErrorCode": "-1"}, "?mid=2", "ErrorCode"),
    ]
    for form, query, field in cases:
        response = inbox.new_client().post(
            f"/twilio/status{query}", data={"MessageStatus": "failed", **form}
        )
        assert response.status_code == 400, response.get_data(as_text=True)
        assert response.json is not None and response.json["field"] == field
    with inbox.services.db.connect() as connection:
        assert connection.execute(select(MESSAGES)).all() == before


def test_a_queued_text_whose_id_needs_64_bits_can_be_marked_done(
    inbox: Inbox, agent: FlaskClient
) -> None:
    reply_to(inbox.new_client(), "Where is my parcel? It has been a week.")
    big_id = 2**40
    with inbox.services.db.begin() as connection:
        connection.execute(text("UPDATE unanswered_text SET id = :id"), {"id": big_id})
    response = post(agent, f"/inbox/texts/{big_id}/done")
    assert response.status_code == 302
    assert "Marked done" in agent.get("/inbox/").get_data(as_text=True)

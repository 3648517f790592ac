"""The Twilio edge: bad input, retries, TwiML and status callbacks."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient
from sqlalchemy import create_engine
from sqlalchemy.pool import NullPool
from sqlmodel import Session, func, select

from bot.domain.vocabulary import MessageStatus
from bot.store.models import ConsentEvent, Message, Subscriber
from tests.support.databases import POSTGRESQL_ONLY
from tests.support.sms import ALICE, BRAND_NUMBER, next_sid, replies, reply_to, text


def count_rows(session: Session) -> tuple[int, int, int]:
    session.rollback()
    return tuple(  # type: ignore[return-value]
        session.exec(select(func.count()).select_from(model)).one()
        for model in (Message, Subscriber, ConsentEvent)
    )


BAD_REQUESTS = [
    pytest.param({"From": ALICE, "Body": "HELP"}, 400, "MessageSid", id="missing MessageSid"),
    pytest.param({"MessageSid": "SM1", "Body": "HELP"}, 400, "From", id="missing From"),
    pytest.param(
        {"MessageSid": "SM1", "From": "not a phone", "Body": "HELP"}, 400, "From", id="bad From"
    ),
    pytest.param(
        {"MessageSid": "SM1", "From": "+1415", "Body": "HELP"}, 400, "From", id="short From"
    ),
    pytest.param(
        {"MessageSid": "SM1", "From": ALICE, "Body": "x" * 1601}, 400, "Body", id="oversized Body"
    ),
    pytest.param(
        {"MessageSid": "SM1", "From": ALICE, "Body": "SURVEY\x00"}, 400, "Body", id="NUL in Body"
    ),
    pytest.param(
        {"MessageSid": "SM1", "From": ALICE, "Body": "hi", "NumMedia": "lots"},
        400,
        "NumMedia",
        id="NumMedia not a number",
    ),
]


@pytest.mark.parametrize(("form", "status", "field"), BAD_REQUESTS)
def test_bad_webhooks_are_4xx_and_store_nothing(
    client: FlaskClient, session: Session, form: dict[str, str], status: int, field: str
) -> None:
    response = client.post("/twilio/sms", data=form)
    assert response.status_code == status
    assert response.json is not None and response.json["field"] == field
    assert count_rows(session) == (0, 0, 0)


def test_json_instead_of_a_form_is_415(client: FlaskClient, session: Session) -> None:
    response = client.post("/twilio/sms", json={"MessageSid": "SM1", "From": ALICE, "Body": "HI"})
    assert response.status_code == 415
    assert "form-encoded" in response.json["error"]
    assert count_rows(session) == (0, 0, 0)


def test_huge_request_is_413(client: FlaskClient, session: Session) -> None:
    form = {"MessageSid": "SM1", "From": ALICE, "Body": "x" * 100_000}
    assert client.post("/twilio/sms", data=form).status_code == 413
    assert count_rows(session) == (0, 0, 0)


def test_get_is_405_not_500(client: FlaskClient) -> None:
    assert client.get("/twilio/sms").status_code == 405


def test_local_format_number_is_stored_as_e164(client: FlaskClient, session: Session) -> None:
    text(client, "HELP", phone="(415) 555-0100")
    assert session.exec(select(Subscriber.phone)).all() == ["+14155550100"]


def test_unknown_extra_parameters_are_fine(client: FlaskClient) -> None:
    response = text(client, "HELP", AccountSid="AC123", FromCity="SF", SmsStatus="received")
    assert len(replies(response)) == 1


def test_retried_message_sid_answers_the_same_and_changes_nothing(
    client: FlaskClient, session: Session
) -> None:
    sid = next_sid()
    first = text(client, "JOIN", sid=sid)
    before = count_rows(session)
    second = text(client, "JOIN", sid=sid)
    assert second.get_data() == first.get_data()
    assert count_rows(session) == before


def test_retried_stop_confirms_once(client: FlaskClient, session: Session) -> None:
    reply_to(client, "JOIN")
    sid = next_sid()
    first = replies(text(client, "STOP", sid=sid))
    assert replies(text(client, "STOP", sid=sid)) == first
    kinds = session.exec(select(ConsentEvent.kind)).all()
    assert kinds.count("opt_out") == 1


def test_twiml_reply_carries_a_status_callback(client: FlaskClient, session: Session) -> None:
    response = text(client, "HELP")
    body = response.get_data(as_text=True)
    outbound = session.exec(select(Message).where(Message.direction == "outbound")).one()
    assert f'action="/twilio/status?mid={outbound.id}"' in body
    assert outbound.status is MessageStatus.ACCEPTED


def test_media_urls_are_logged(client: FlaskClient, session: Session) -> None:
    text(client, "look", NumMedia="1", MediaUrl0="https://media.example/cat.jpg")
    message = session.exec(select(Message).where(Message.direction == "inbound")).one()
    assert message.media_urls == ["https://media.example/cat.jpg"]


def status_callback(client: FlaskClient, sid: str, status: str, **extra: str):
    form = {"MessageSid": sid, "MessageStatus": status, "To": ALICE, "From": BRAND_NUMBER}
    form.update(extra)
    return client.post("/twilio/status", data=form)


def reply_and_sid(client: FlaskClient, session: Session) -> tuple[Message, str]:
    text(client, "HELP")
    session.rollback()
    message = session.exec(
        select(Message).where(Message.direction == "outbound").order_by(Message.id.desc())
    ).first()
    assert message is not None
    sid = next_sid()
    response = client.post(
        f"/twilio/status?mid={message.id}", data={"MessageSid": sid, "MessageStatus": "sent"}
    )
    assert response.status_code == 204
    return message, sid


def status_now(session: Session, message_id: int | None) -> Message:
    session.rollback()
    message = session.get(Message, message_id)
    assert message is not None
    return message


def test_status_callback_binds_the_sid_of_a_twiml_reply(
    client: FlaskClient, session: Session
) -> None:
    message, sid = reply_and_sid(client, session)
    stored = status_now(session, message.id)
    assert stored.provider_sid == sid and stored.status is MessageStatus.SENT


@pytest.mark.parametrize(
    ("sequence", "final"),
    [
        (["sending", "sent", "delivered"], MessageStatus.DELIVERED),
        (["delivered", "sent"], MessageStatus.DELIVERED),  # late "sent" arrives after delivery
        (["delivered", "failed"], MessageStatus.DELIVERED),  # a final status is never replaced
        (["undelivered", "delivered"], MessageStatus.UNDELIVERED),
        (["sent", "queued"], MessageStatus.SENT),
        (["read"], MessageStatus.DELIVERED),
        (["delivered", "delivered"], MessageStatus.DELIVERED),
    ],
)
def test_status_callbacks_only_move_forward(
    client: FlaskClient, session: Session, sequence: list[str], final: MessageStatus
) -> None:
    message, sid = reply_and_sid(client, session)
    for status in sequence:
        assert status_callback(client, sid, status).status_code == 204
    assert status_now(session, message.id).status is final


def test_error_21610_in_a_callback_opts_the_number_out(
    client: FlaskClient, session: Session
) -> None:
    reply_to(client, "JOIN")
    reply_to(client, "Y")
    message, sid = reply_and_sid(client, session)
    status_callback(client, sid, "failed", ErrorCode="21610")
    assert status_now(session, message.id).error_code == 21610
    subscriber = session.exec(select(Subscriber)).one()
    session.refresh(subscriber)
    assert subscriber.status == "unsubscribed"
    assert session.exec(select(ConsentEvent.source).order_by(ConsentEvent.id.desc())).first() == (
        "carrier"
    )


@pytest.mark.parametrize(
    ("form", "status"),
    [
        ({"MessageStatus": "sent"}, 400),
        ({"MessageSid": "SM404"}, 400),
        ({"MessageSid": "SM404", "MessageStatus": "delivered"}, 204),  # unknown sid: ignored
        ({"MessageSid": "SM404", "MessageStatus": "exploded"}, 204),  # unknown status word
        ({"MessageSid": "SM1", "MessageStatus": "sent", "ErrorCode": "abc"}, 400),
    ],
)
def test_odd_status_callbacks_are_answered_clearly(
    client: FlaskClient, form: dict[str, str], status: int
) -> None:
    assert client.post("/twilio/status", data=form).status_code == status


def test_status_mid_that_is_not_a_number_is_400(client: FlaskClient) -> None:
    response = client.post(
        "/twilio/status?mid=abc", data={"MessageSid": "SM9", "MessageStatus": "sent"}
    )
    assert response.status_code == 400


@POSTGRESQL_ONLY
def test_a_text_on_a_connection_the_server_dropped_is_answered_and_stored(
    database_url: str, client: FlaskClient, session: Session
) -> None:
    """A restarted or failed-over PostgreSQL leaves the pool's connections dead: the next
    text still gets its answer and is stored (Twilio does not send it again)."""
    assert reply_to(client, "HELP") != []  # the pool now holds a connection to the server
    session.rollback()  # and has it back: the session took the same one
    backend = session.connection().exec_driver_sql("SELECT pg_backend_pid()").scalar_one()
    session.rollback()
    killer = create_engine(database_url, poolclass=NullPool)  # as a restart would
    with killer.begin() as connection:
        connection.exec_driver_sql(f"SELECT pg_terminate_backend({int(backend)})")
    killer.dispose()
    assert reply_to(client, "JOIN") != []
    assert count_rows(session)[0] == 4  # both texts and both answers

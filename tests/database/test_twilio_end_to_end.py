"""The whole outbound path with the real twilio client against a local fake of Twilio's API."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask.testing import FlaskClient
from sqlmodel import Session, select
from twilio.request_validator import RequestValidator

from bot.app import create_app, services_of
from bot.domain.vocabulary import MessageStatus, SubscriberStatus
from bot.store.models import Message, Subscriber
from bot.twilio.fake_server import FakeTwilioServer
from tests.support.harness import API_KEY, make_settings
from tests.support.sms import ALICE

ACCOUNT_SID = "AC" + "a" * 32
AUTH_TOKEN = "b" * 32
PUBLIC_URL = "https://sms.acme.example"
SIGNUP = {"phone": ALICE, "source": "web", "consent_text": "Text me deals from Acme."}


@pytest.fixture
def twilio() -> Iterator[FakeTwilioServer]:
    with FakeTwilioServer(account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN) as server:
        yield server


@pytest.fixture
def twilio_client(database_url: str, twilio: FakeTwilioServer) -> FlaskClient:
    settings = make_settings(
        database_url,
        GATEWAY="twilio",
        TWILIO_ACCOUNT_SID=ACCOUNT_SID,
        TWILIO_AUTH_TOKEN=AUTH_TOKEN,
        TWILIO_FROM="+14155559999",
        TWILIO_API_URL=twilio.base_url,
        PUBLIC_URL=PUBLIC_URL,
    )
    return create_app(settings).test_client()


def sign_up(client: FlaskClient) -> int:
    response = client.post(
        "/api/subscribers", json=SIGNUP, headers={"Authorization": f"Bearer {API_KEY}"}
    )
    assert response.status_code == 201, response.json
    return response.status_code


def outbound(client: FlaskClient) -> Message:
    with Session(services_of(client.application).db) as session:
        return session.exec(select(Message).where(Message.direction == "outbound")).one()


def test_signup_text_reaches_twilio_with_a_status_callback(
    twilio_client: FlaskClient, twilio: FakeTwilioServer
) -> None:
    sign_up(twilio_client)
    [sent] = twilio.messages
    assert sent["To"] == ALICE and sent["From"] == "+14155559999"
    assert "Reply Y" in sent["Body"]
    message = outbound(twilio_client)
    assert sent["StatusCallback"] == f"{PUBLIC_URL}/twilio/status?mid={message.id}"
    assert message.provider_sid == sent["sid"] and message.status is MessageStatus.QUEUED


def test_a_signed_delivery_report_completes_the_story(
    twilio_client: FlaskClient, twilio: FakeTwilioServer
) -> None:
    sign_up(twilio_client)
    [sent] = twilio.messages
    form = {"MessageSid": sent["sid"], "MessageStatus": "delivered", "To": ALICE}
    url = sent["StatusCallback"]
    signature = RequestValidator(AUTH_TOKEN).compute_signature(url, form)
    path = url.removeprefix(PUBLIC_URL)
    response = twilio_client.post(path, data=form, headers={"X-Twilio-Signature": signature})
    assert response.status_code == 204
    assert outbound(twilio_client).status is MessageStatus.DELIVERED


def test_twilio_21610_opts_the_number_out(
    twilio_client: FlaskClient, twilio: FakeTwilioServer
) -> None:
    twilio.opted_out.add(ALICE)
    sign_up(twilio_client)
    message = outbound(twilio_client)
    assert message.status is MessageStatus.FAILED and message.error_code == 21610
    with Session(services_of(twilio_client.application).db) as session:
        subscriber = session.exec(select(Subscriber)).one()
        assert subscriber.status is SubscriberStatus.UNSUBSCRIBED


def test_twilio_throttling_leaves_the_text_pending_for_a_retry(
    twilio_client: FlaskClient, twilio: FakeTwilioServer
) -> None:
    twilio.fail_next(status=429)
    sign_up(twilio_client)
    assert twilio.messages == []
    assert outbound(twilio_client).status is MessageStatus.PENDING

"""Webhook signatures, checked with Twilio's own RequestValidator; a bad one stores nothing."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient
from sqlmodel import Session, func, select
from twilio.request_validator import RequestValidator

from bot.app import create_app
from bot.sending.gateways.fake import FakeGateway
from bot.store.models import Message
from tests.support.databases import REFUSED_BEFORE_ANY_QUERY
from tests.support.harness import make_settings
from tests.support.sms import ALICE, next_sid, replies

AUTH_TOKEN = "0123456789abcdef0123456789abcdef"
PUBLIC_URL = "https://sms.acme.example"


def signed_client(database_url: str, **overrides: object) -> FlaskClient:
    settings = make_settings(database_url, TWILIO_AUTH_TOKEN=AUTH_TOKEN, **overrides)
    return create_app(settings, gateway=FakeGateway()).test_client()


def sign(url: str, form: dict[str, str], token: str = AUTH_TOKEN) -> str:
    return RequestValidator(token).compute_signature(url, form)


def inbound_form(body: str = "HELP") -> dict[str, str]:
    return {"MessageSid": next_sid(), "From": ALICE, "To": "+14155559999", "Body": body}


def stored_messages(client: FlaskClient) -> int:
    db = client.application.extensions["parley"].db
    with Session(db) as session:
        return session.exec(select(func.count()).select_from(Message)).one()


def test_valid_signature_is_answered(database_url: str) -> None:
    client = signed_client(database_url)
    form = inbound_form()
    signature = sign("http://localhost/twilio/sms", form)
    response = client.post("/twilio/sms", data=form, headers={"X-Twilio-Signature": signature})
    assert len(replies(response)) == 1


@REFUSED_BEFORE_ANY_QUERY
@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param(lambda form, sig: (form, None), id="missing"),
        pytest.param(lambda form, sig: (form, "bm90IGEgc2lnbmF0dXJl"), id="garbage"),
        pytest.param(lambda form, sig: ({**form, "Body": "STOP"}, sig), id="tampered body"),
        pytest.param(lambda form, sig: ({**form, "From": "+14155550199"}, sig), id="tampered from"),
        pytest.param(
            lambda form, sig: (form, sign("http://localhost/twilio/sms", form, "x" * 32)),
            id="wrong token",
        ),
    ],
)
def test_bad_signature_is_403_and_stores_nothing(database_url: str, tamper) -> None:
    client = signed_client(database_url)
    form = inbound_form()
    form, signature = tamper(form, sign("http://localhost/twilio/sms", form))
    headers = {"X-Twilio-Signature": signature} if signature else {}
    response = client.post("/twilio/sms", data=form, headers=headers)
    assert response.status_code == 403
    assert stored_messages(client) == 0


def test_behind_a_proxy_the_public_url_is_what_is_signed(database_url: str) -> None:
    client = signed_client(database_url, PUBLIC_URL=PUBLIC_URL)
    form = inbound_form()
    # Twilio signed the public https URL; the app sees plain http on an internal host.
    good = sign(f"{PUBLIC_URL}/twilio/sms", form)
    response = client.post(
        "/twilio/sms", data=form, headers={"X-Twilio-Signature": good}, base_url="http://10.0.0.5"
    )
    assert response.status_code == 200
    naive = sign("http://10.0.0.5/twilio/sms", inbound_form())
    response = client.post(
        "/twilio/sms", data=inbound_form(), headers={"X-Twilio-Signature": naive}
    )
    assert response.status_code == 403


def test_public_url_keeps_the_query_string(database_url: str) -> None:
    client = signed_client(database_url, PUBLIC_URL=PUBLIC_URL)
    form = {"MessageSid": next_sid(), "MessageStatus": "sent"}
    signature = sign(f"{PUBLIC_URL}/twilio/status?mid=7", form)
    response = client.post(
        "/twilio/status?mid=7", data=form, headers={"X-Twilio-Signature": signature}
    )
    assert response.status_code == 204


def test_status_callbacks_need_a_signature_too(database_url: str) -> None:
    client = signed_client(database_url)
    response = client.post("/twilio/status", data={"MessageSid": "SM1", "MessageStatus": "sent"})
    assert response.status_code == 403


def test_without_a_token_signatures_are_not_required(client: FlaskClient) -> None:
    response = client.post("/twilio/sms", data=inbound_form())
    assert response.status_code == 200


SIGNATURE_SETTINGS_HEADER = "X-Twilio-Webhooks-Signature-Settings"


def test_a_sha256_signature_named_in_the_settings_header_is_answered(database_url: str) -> None:
    client = signed_client(database_url)
    form = inbound_form()
    url = "http://localhost/twilio/sms"
    signature = RequestValidator(AUTH_TOKEN).compute_signature(url, form, "HMAC_SHA256")
    headers = {
        "X-Twilio-Signature": signature,
        SIGNATURE_SETTINGS_HEADER: "key=k1,algorithm=HMAC_SHA256",
    }
    assert len(replies(client.post("/twilio/sms", data=form, headers=headers))) == 1
    headers[SIGNATURE_SETTINGS_HEADER] = (
        "algorithm=HMAC_SHA1"  # the same signature under another algorithm
    )
    assert client.post("/twilio/sms", data=form, headers=headers).status_code == 403


def test_an_unknown_signature_algorithm_is_refused_not_an_error(database_url: str) -> None:
    client = signed_client(database_url)
    form = inbound_form()
    headers = {"X-Twilio-Signature": sign("http://localhost/twilio/sms", form)}
    headers[SIGNATURE_SETTINGS_HEADER] = "algorithm=HMAC_MD5"
    response = client.post("/twilio/sms", data=form, headers=headers)
    assert response.status_code == 403
    assert stored_messages(client) == 0


def test_a_signature_for_the_url_with_its_default_port_is_answered(database_url: str) -> None:
    client = signed_client(database_url)
    form = inbound_form()
    signature = sign("http://localhost:80/twilio/sms", form)  # some Twilio signers add it
    response = client.post("/twilio/sms", data=form, headers={"X-Twilio-Signature": signature})
    assert len(replies(response)) == 1

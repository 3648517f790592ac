"""Gateways: Twilio through the real client against a local fake server, console and fake."""

from __future__ import annotations

import io
import json
import re
import socket
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from bot.sending.gateways.base import Gateway, OutboundText, SendOutcome, SendResult
from bot.sending.gateways.console import ConsoleGateway
from bot.sending.gateways.fake import FakeGateway
from bot.testing.clock import FakeClock
from bot.twilio.fake_server import FakeTwilioServer
from bot.twilio.gateway import (
    DEFAULT_TIMEOUT_SECONDS,
    MessageLookupError,
    RebasedHttpClient,
    TwilioGateway,
)

ACCOUNT_SID = "AC" + "0" * 32
AUTH_TOKEN = "secret"
SENDER = "+15550000000"
SERVICE_SID = "MG" + "1" * 32
ALICE = "+15551112222"
BOB = "+15553334444"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime(2024, 5, 1, 12, 0, tzinfo=UTC))


@pytest.fixture
def server(clock: FakeClock) -> Iterator[FakeTwilioServer]:
    with FakeTwilioServer(account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN, clock=clock) as running:
        yield running


def twilio_gateway(
    base_url: str | None,
    *,
    auth_token: str = AUTH_TOKEN,
    from_number: str | None = SENDER,
    messaging_service_sid: str | None = None,
    timeout: float = 10.0,  # the default: only a test of timeouts shortens it
) -> TwilioGateway:
    return TwilioGateway(
        ACCOUNT_SID,
        auth_token,
        from_number=from_number,
        messaging_service_sid=messaging_service_sid,
        api_base_url=base_url,
        timeout=timeout,
    )


@pytest.fixture
def gateway(server: FakeTwilioServer) -> TwilioGateway:
    return twilio_gateway(server.base_url)


def closed_port_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


# -- Twilio gateway against the fake server --------------------------------------------------


def test_accepted_send_records_the_request_and_returns_the_sid(
    server: FakeTwilioServer, gateway: TwilioGateway
) -> None:
    text = OutboundText(to=ALICE, body="Welcome!", status_callback_url="https://bot/status?mid=7")

    result = gateway.send(text)

    assert result.outcome is SendOutcome.ACCEPTED
    assert result.status == "queued"
    assert re.fullmatch(r"SM[0-9a-f]{32}", result.provider_sid or "")
    assert server.messages == [
        {
            "To": ALICE,
            "From": SENDER,
            "Body": "Welcome!",
            "StatusCallback": "https://bot/status?mid=7",
            "sid": result.provider_sid,
        }
    ]


def test_messaging_service_sends_without_from(server: FakeTwilioServer) -> None:
    gateway = twilio_gateway(server.base_url, from_number=None, messaging_service_sid=SERVICE_SID)

    result = gateway.send(OutboundText(to=ALICE, body="Hi"))

    assert (result.outcome, result.status) == (SendOutcome.ACCEPTED, "accepted")
    (received,) = server.messages
    assert received["MessagingServiceSid"] == SERVICE_SID
    assert "From" not in received


def test_media_urls_are_sent_as_repeated_params(
    server: FakeTwilioServer, gateway: TwilioGateway
) -> None:
    media = ("https://cdn.example/a.jpg", "https://cdn.example/b.png")

    result = gateway.send(OutboundText(to=ALICE, body="Look", media_urls=media))

    assert result.outcome is SendOutcome.ACCEPTED
    assert server.messages[0]["MediaUrl"] == list(media)


@pytest.mark.parametrize(
    ("status", "code", "outcome"),
    [
        (429, 20429, SendOutcome.RETRYABLE),
        (500, 20500, SendOutcome.RETRYABLE),
        (503, 20503, SendOutcome.RETRYABLE),
        (400, 21211, SendOutcome.FAILED),
        (400, 21610, SendOutcome.OPTED_OUT),
    ],
    ids=["throttled", "server error", "unavailable", "invalid to", "opted out code"],
)
def test_error_answers_map_to_outcomes(
    server: FakeTwilioServer,
    gateway: TwilioGateway,
    status: int,
    code: int,
    outcome: SendOutcome,
) -> None:
    server.fail_next(status=status, code=code, message="Scripted trouble")

    result = gateway.send(OutboundText(to=ALICE, body="Hi"))

    assert (result.outcome, result.error_code, result.provider_sid) == (outcome, code, None)
    assert "Scripted trouble" in (result.error_message or "")
    assert not result.maybe_accepted
    assert server.messages == []


def test_opted_out_number_answers_opted_out(
    server: FakeTwilioServer, gateway: TwilioGateway
) -> None:
    server.opted_out.add(ALICE)

    result = gateway.send(OutboundText(to=ALICE, body="Sale!"))

    assert (result.outcome, result.error_code) == (SendOutcome.OPTED_OUT, 21610)
    assert "unsubscribed recipient" in (result.error_message or "")


def test_scripted_failures_are_consumed_in_order(
    server: FakeTwilioServer, gateway: TwilioGateway
) -> None:
    server.fail_next(status=429)
    server.fail_next(status=500)
    text = OutboundText(to=ALICE, body="Hi")

    outcomes = [gateway.send(text).outcome for _ in range(3)]

    assert outcomes == [SendOutcome.RETRYABLE, SendOutcome.RETRYABLE, SendOutcome.ACCEPTED]
    assert len(server.messages) == 1


def test_missing_body_is_a_permanent_failure(gateway: TwilioGateway) -> None:
    result = gateway.send(OutboundText(to=ALICE, body=""))

    assert (result.outcome, result.error_code) == (SendOutcome.FAILED, 21602)


def test_wrong_auth_token_fails_with_401_code(server: FakeTwilioServer) -> None:
    gateway = twilio_gateway(server.base_url, auth_token="wrong")

    result = gateway.send(OutboundText(to=ALICE, body="Hi"))

    assert (result.outcome, result.error_code) == (SendOutcome.FAILED, 20003)
    assert server.messages == []


def test_server_down_is_retryable_and_provably_not_sent() -> None:
    gateway = twilio_gateway(closed_port_url())

    result = gateway.send(OutboundText(to=ALICE, body="Hi"))

    assert result.outcome is SendOutcome.RETRYABLE
    assert not result.maybe_accepted
    assert "ConnectionError" in (result.error_message or "")


def test_read_timeout_is_retryable_but_flagged_for_reconciliation(
    server: FakeTwilioServer,
) -> None:
    # The server creates the message, then answers too late: Twilio has it, we don't know.
    server.hold_answers()
    gateway = twilio_gateway(server.base_url, timeout=0.05)

    result = gateway.send(OutboundText(to=ALICE, body="Hi"))
    server.release_answers()
    server.wait_until_idle()

    assert result.outcome is SendOutcome.RETRYABLE
    assert result.maybe_accepted
    assert [message["Body"] for message in server.messages] == ["Hi"]


def test_list_messages_filters_by_recipient_and_date(
    server: FakeTwilioServer, gateway: TwilioGateway, clock: FakeClock
) -> None:
    start = clock.now
    gateway.send(OutboundText(to=ALICE, body="old"))
    clock.set(start + timedelta(hours=1))
    gateway.send(OutboundText(to=BOB, body="for bob"))
    gateway.send(OutboundText(to=ALICE, body="new"))

    assert [m["body"] for m in gateway.list_messages()] == ["new", "for bob", "old"]
    assert [m["body"] for m in gateway.list_messages(to=ALICE)] == ["new", "old"]
    recent = gateway.list_messages(to=ALICE, date_sent_after=start + timedelta(minutes=30))
    assert [m["body"] for m in recent] == ["new"]
    assert recent[0]["date_created"] == start + timedelta(hours=1)
    assert recent[0].keys() == {"sid", "to", "body", "status", "date_created"}
    assert recent[0]["sid"] == server.messages[-1]["sid"]


def test_list_messages_raises_when_twilio_cannot_answer() -> None:
    # An empty list would read as "never sent" and invite a double send.
    gateway = twilio_gateway(closed_port_url())

    with pytest.raises(MessageLookupError, match="could not list Twilio messages"):
        gateway.list_messages(to=ALICE)


def test_fake_server_pages_like_twilio(server: FakeTwilioServer, gateway: TwilioGateway) -> None:
    for number in range(5):
        gateway.send(OutboundText(to=ALICE, body=f"text {number}"))
    client = Client(
        ACCOUNT_SID, AUTH_TOKEN, http_client=RebasedHttpClient(server.base_url, timeout=2)
    )

    first_page = client.messages.page(to=ALICE, page_size=2)
    every_page = client.messages.list(to=ALICE, page_size=2)

    assert [m.body for m in first_page] == ["text 4", "text 3"]
    assert first_page.next_page_url is not None
    assert [m.body for m in every_page] == [f"text {n}" for n in (4, 3, 2, 1, 0)]


def test_fake_server_refuses_another_accounts_url(server: FakeTwilioServer) -> None:
    http = RebasedHttpClient(server.base_url, timeout=2)
    other_account = "AC" + "9" * 32

    response = http.request(
        "GET",
        f"https://api.twilio.com/2010-04-01/Accounts/{other_account}/Messages.json",
        auth=(ACCOUNT_SID, AUTH_TOKEN),
    )

    assert (response.status_code, json.loads(response.text)["code"]) == (404, 20404)


def test_twilio_gateway_needs_a_sender() -> None:
    with pytest.raises(ValueError, match="from_number"):
        TwilioGateway(ACCOUNT_SID, AUTH_TOKEN)


def test_without_base_url_the_stock_client_is_used_with_a_timeout() -> None:
    gateway = TwilioGateway(ACCOUNT_SID, AUTH_TOKEN, from_number=SENDER)

    http = gateway.client.http_client
    assert type(http) is TwilioHttpClient
    assert http.timeout == DEFAULT_TIMEOUT_SECONDS


def test_rebased_client_keeps_path_and_query_under_a_prefix(server: FakeTwilioServer) -> None:
    http = RebasedHttpClient(server.base_url + "/", timeout=2)

    response = http.request(
        "GET",
        f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json",
        params={"To": ALICE},
        auth=(ACCOUNT_SID, AUTH_TOKEN),
    )

    assert response.status_code == 200
    assert json.loads(response.text)["messages"] == []


# -- console gateway ---------------------------------------------------------------------------


def test_console_gateway_prints_one_json_line_per_text() -> None:
    stream = io.StringIO()
    gateway = ConsoleGateway(stream=stream)

    first = gateway.send(OutboundText(to=ALICE, body="Don’t miss out 😀"))
    second = gateway.send(OutboundText(to=BOB, body="a" * 161, media_urls=("https://x/y.jpg",)))

    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert lines == [
        {
            "gateway": "console",
            "to": ALICE,
            "body": "Don’t miss out 😀",
            "media_urls": [],
            "sid": first.provider_sid,
            "segments": 1,
            "encoding": "UCS-2",
        },
        {
            "gateway": "console",
            "to": BOB,
            "body": "a" * 161,
            "media_urls": ["https://x/y.jpg"],
            "sid": second.provider_sid,
            "segments": 2,
            "encoding": "GSM-7",
        },
    ]
    assert (first.outcome, first.status) == (SendOutcome.ACCEPTED, "sent")
    assert re.fullmatch(r"CN[0-9a-f]{32}", first.provider_sid or "")
    assert first.provider_sid != second.provider_sid


def test_console_gateway_keeps_a_multiline_body_on_one_line() -> None:
    stream = io.StringIO()

    ConsoleGateway(stream=stream).send(OutboundText(to=ALICE, body="line one\nline two"))

    assert stream.getvalue().count("\n") == 1


# -- fake gateway ------------------------------------------------------------------------------


def test_fake_gateway_accepts_and_records() -> None:
    gateway = FakeGateway()
    texts = [OutboundText(to=ALICE, body="one"), OutboundText(to=BOB, body="two")]

    results = [gateway.send(text) for text in texts]

    assert gateway.outbox == texts
    assert [r.provider_sid for r in results] == [f"SM{1:032x}", f"SM{2:032x}"]
    assert {(r.outcome, r.status) for r in results} == {(SendOutcome.ACCEPTED, "queued")}


def test_fake_gateway_refuses_opted_out_numbers() -> None:
    gateway = FakeGateway()
    gateway.opted_out.add(ALICE)
    text = OutboundText(to=ALICE, body="Sale!")

    result = gateway.send(text)

    assert (result.outcome, result.error_code) == (SendOutcome.OPTED_OUT, 21610)
    assert gateway.outbox == []
    assert gateway.attempts == [text]


def test_fake_gateway_plays_scripted_failures_in_order() -> None:
    gateway = FakeGateway()
    gateway.fail_next(SendOutcome.RETRYABLE)
    gateway.fail_next(SendOutcome.FAILED, error_code=21211)
    gateway.fail_next(SendOutcome.OPTED_OUT)
    text = OutboundText(to=ALICE, body="Hi")

    results = [gateway.send(text) for _ in range(4)]

    assert [(r.outcome, r.error_code) for r in results] == [
        (SendOutcome.RETRYABLE, None),
        (SendOutcome.FAILED, 21211),
        (SendOutcome.OPTED_OUT, 21610),
        (SendOutcome.ACCEPTED, None),
    ]
    assert gateway.outbox == [text]
    assert len(gateway.attempts) == 4


def test_fake_gateway_refuses_to_script_success() -> None:
    with pytest.raises(ValueError, match="failure outcome"):
        FakeGateway().fail_next(SendOutcome.ACCEPTED)


def test_every_gateway_satisfies_the_protocol(server: FakeTwilioServer) -> None:
    gateways: list[Gateway] = [
        FakeGateway(),
        ConsoleGateway(stream=io.StringIO()),
        twilio_gateway(server.base_url),
    ]

    results = [g.send(OutboundText(to=ALICE, body="Hi")) for g in gateways]

    assert all(isinstance(r, SendResult) and r.outcome is SendOutcome.ACCEPTED for r in results)
    assert [g.name for g in gateways] == ["fake", "console", "twilio"]

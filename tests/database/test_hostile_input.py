"""Hypothesis against the webhook (signed with Twilio's own RequestValidator), the inbox (as
a logged-in agent) and the public sign-up page: whatever the parameters, no 5xx, and a refused
request stores nothing."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlencode

from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from twilio.request_validator import RequestValidator

from bot.store.models import Click, ConsentEvent, Conversation, Message, Subscriber, UnansweredText
from tests.support.inbox import Inbox, post
from tests.support.join import hidden_fields
from tests.support.sms import ALICE

MAX_ROW_ID = 2**63 - 1  # the largest BIGINT
AUTH_TOKEN = "0123456789abcdef0123456789abcdef"
TABLES = [model.__table__ for model in (Message, Subscriber, ConsentEvent, Conversation)]
TABLES += [UnansweredText.__table__, Click.__table__]
EXAMPLES = settings(
    max_examples=25,
    derandomize=True,  # the same examples every run: CI is repeatable
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)

# What a hostile or careless sender puts in a parameter: ordinary words, any text (NUL and
# control characters included), long text, and numbers on and past every integer boundary.
numbers = st.sampled_from([0, 1, -1, 2**31 - 1, 2**31, 2**63 - 1, 2**63, 10**30]).map(str)
words = st.text(max_size=20) | st.text(min_size=60, max_size=300) | numbers
real_phones = st.sampled_from([ALICE, "+14155550101", "4155550102"])
phones = st.one_of(real_phones, real_phones, st.sampled_from(["+1", ""]), words)
sids = st.one_of(
    st.uuids().map(lambda u: f"SM{u.hex}"),
    st.text(min_size=1, max_size=20).map(lambda text: f"SM{text}"),  # control characters too
    st.integers(min_value=63, max_value=400).map(lambda length: "S" * length),
    words,
)
maybe = st.none() | words


def _rows(inbox: Inbox) -> list[int]:
    with inbox.services.db.connect() as connection:
        return [
            connection.execute(select(func.count()).select_from(table)).scalar_one()
            for table in TABLES
        ]


def _signed_post(client: FlaskClient, path: str, form: dict[str, str]) -> Any:
    signature = RequestValidator(AUTH_TOKEN).compute_signature(f"http://localhost{path}", form)
    return client.post(path, data=form, headers={"X-Twilio-Signature": signature})


def _form(values: dict[str, str | None]) -> dict[str, str]:
    return {name: value for name, value in values.items() if value is not None}


def test_the_webhook_never_fails_and_a_refusal_stores_nothing(database_url: str) -> None:
    inbox = Inbox(database_url, TWILIO_AUTH_TOKEN=AUTH_TOKEN)
    client = inbox.new_client()

    @given(
        sid=st.none() | sids,
        sender=phones,
        body=st.sampled_from(["HELP", "STOP", "JOIN", "FEEDBACK", "yes"]) | words,
        extra=st.fixed_dictionaries(
            {},
            optional={
                "To": words,
                "NumMedia": numbers | words,
                "MediaUrl0": words,
                "OptOutType": st.sampled_from(["STOP", "START", "HELP"]) | words,
            },
        ),
    )
    @EXAMPLES
    def inbound(sid: str | None, sender: str, body: str, extra: dict[str, str]) -> None:
        before = _rows(inbox)
        form = _form({"MessageSid": sid, "From": sender, "Body": body, **extra})
        response = _signed_post(client, "/twilio/sms", form)
        assert response.status_code < 500, response.get_data(as_text=True)
        if response.status_code >= 400:
            assert _rows(inbox) == before

    inbound()

    @given(
        sid=st.none() | sids,
        status=maybe | st.sampled_from(["delivered", "failed", "undelivered", "sent"]),
        error_code=maybe | st.just("21610"),
        mid=st.none() | numbers | words,
    )
    @EXAMPLES
    def status_callback(
        sid: str | None, status: str | None, error_code: str | None, mid: str | None
    ) -> None:
        with inbox.services.db.connect() as connection:
            before = connection.execute(select(Message.__table__)).all()
        form = _form({"MessageSid": sid, "MessageStatus": status, "ErrorCode": error_code})
        path = "/twilio/status" + ("" if mid is None else "?" + urlencode({"mid": mid}))
        response = _signed_post(client, path, form)
        assert response.status_code < 500, response.get_data(as_text=True)
        if response.status_code >= 400:
            with inbox.services.db.connect() as connection:
                assert connection.execute(select(Message.__table__)).all() == before

    status_callback()


def test_the_inbox_never_fails_whatever_its_parameters(database_url: str) -> None:
    inbox = Inbox(database_url)
    conversation_id = inbox.handed_off()
    agent = inbox.logged_in("dana@acme.test")
    ids = st.sampled_from([conversation_id, 1, 0, MAX_ROW_ID, MAX_ROW_ID + 1, 10**30]).map(str)
    ids |= words

    @given(
        page=st.sampled_from(
            [
                "/inbox/conversations/{id}",
                "/inbox/conversations/{id}/events?after={value}",
                "/inbox/conversations?q={value}",
                "/inbox/login?next={value}",
                "/inbox/campaigns/{value}",
                "/inbox/flows/{value}",
                "/l/{value}",
            ]
        ),
        row_id=ids,
        value=words,
    )
    @EXAMPLES
    def pages(page: str, row_id: str, value: str) -> None:
        path = page.format(id=quote(row_id, safe=""), value=quote(value, safe=""))
        response = agent.get(path)
        assert response.status_code < 500, (path, response.get_data(as_text=True))

    pages()

    @given(
        action=st.sampled_from(
            [
                "/inbox/conversations/{id}/reply",
                "/inbox/conversations/{id}/take",
                "/inbox/texts/{id}/done",
                "/inbox/segments",
            ]
        ),
        row_id=ids,
        body=words,
        next_url=maybe,
    )
    @EXAMPLES
    def forms(action: str, row_id: str, body: str, next_url: str | None) -> None:
        before = _rows(inbox)
        form = _form({"body": body, "text": body, "next": next_url})
        response = post(agent, action.format(id=quote(row_id, safe="")), **form)
        assert response.status_code < 500, response.get_data(as_text=True)
        if response.status_code >= 400:
            assert _rows(inbox) == before

    forms()


def test_the_sign_up_page_never_fails_and_a_refusal_stores_nothing(database_url: str) -> None:
    inbox = Inbox(database_url, TWILIO_FROM="+14155559999", JOIN_LIMIT_PER_NUMBER=2)
    client = inbox.new_client()
    token = hidden_fields(client.get("/join").text)["csrf_token"]
    tokens = st.sampled_from([token, token[:-2], token + "x", "", "a.b.c"]) | words

    @given(
        csrf=st.none() | tokens,
        phone=st.none() | phones,
        first_name=maybe,
        consent=st.none() | st.sampled_from(["yes", "on", ""]) | words,
        source=maybe | st.sampled_from(["instagram", "Shop_2"]),
        query=maybe,
        address=st.sampled_from(["192.0.2.1", "192.0.2.2", "2001:db8::1"]),
    )
    @EXAMPLES
    def sign_ups(
        csrf: str | None,
        phone: str | None,
        first_name: str | None,
        consent: str | None,
        source: str | None,
        query: str | None,
        address: str,
    ) -> None:
        before = _rows(inbox)
        form = _form(
            {
                "csrf_token": csrf,
                "phone": phone,
                "first_name": first_name,
                "consent": consent,
                "source": source,
            }
        )
        path = "/join" + ("" if query is None else "?" + urlencode({"source": query}))
        environ = {"REMOTE_ADDR": address}
        page = client.get(path, environ_base=environ)
        assert page.status_code < 500, page.get_data(as_text=True)
        response = client.post("/join", data=form, environ_base=environ)
        assert response.status_code < 500, response.get_data(as_text=True)
        if response.status_code >= 400:
            assert _rows(inbox) == before

    sign_ups()

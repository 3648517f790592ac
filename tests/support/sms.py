"""Speak Twilio to the app: post inbound texts and status callbacks, read TwiML answers."""

from __future__ import annotations

import uuid
import xml.etree.ElementTree as ElementTree

from flask.testing import FlaskClient
from werkzeug.test import TestResponse

ALICE = "+14155550100"
BOB = "+14155550101"
BRAND_NUMBER = "+14155559999"


def next_sid() -> str:
    """A fresh Twilio-shaped MessageSid."""
    return f"SM{uuid.uuid4().hex}"


def text(
    client: FlaskClient, body: str, *, phone: str = ALICE, sid: str | None = None, **extra: str
) -> TestResponse:
    """Post an inbound text as Twilio does."""
    form = {"MessageSid": sid or next_sid(), "From": phone, "To": BRAND_NUMBER, "Body": body}
    form.update(extra)
    return client.post("/twilio/sms", data=form)


def replies(response: TestResponse) -> list[str]:
    """The bodies of the TwiML <Message> elements in a webhook answer."""
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == "application/xml"
    root = ElementTree.fromstring(response.get_data())
    assert root.tag == "Response"
    return [(message.text or "").strip() for message in root.iter("Message")]


def reply_to(client: FlaskClient, body: str, *, phone: str = ALICE, **extra: str) -> list[str]:
    """Text the bot and return what it answered."""
    return replies(text(client, body, phone=phone, **extra))

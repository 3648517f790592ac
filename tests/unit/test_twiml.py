"""Our TwiML answer is byte for byte what twilio's MessagingResponse writes."""

from __future__ import annotations

import pytest
from twilio.twiml.messaging_response import MessagingResponse

from bot.twilio.twiml import TwimlMessage, messaging_response

CASES = {
    "no reply": [],
    "one reply": [TwimlMessage("Acme: You're in! Reply STOP to opt out.", "/twilio/status?mid=1")],
    "markup and quotes": [TwimlMessage("Tom & Jerry <3 \"quotes\" 'too'", "/s?mid=2&x=1")],
    "emoji, accents, new lines": [TwimlMessage("Gracias 👍 ¿qué tal?\nSecond line\r\n\tend")],
    "an awkward action": [TwimlMessage("hi", 'https://h.test/a"b\n\tc?mid=3')],
    "media": [
        TwimlMessage("Look", "/s?mid=4", ("https://cdn.test/a.png?w=1&h=2", "https://cdn.test/b"))
    ],
    "several replies": [TwimlMessage("first", "/s?mid=5"), TwimlMessage("second", "/s?mid=6")],
    "no action": [TwimlMessage("plain")],
}


@pytest.mark.parametrize("messages", CASES.values(), ids=CASES.keys())
def test_same_xml_as_messaging_response(messages: list[TwimlMessage]) -> None:
    expected = MessagingResponse()
    for message in messages:
        kwargs = {} if message.action is None else {"action": message.action}
        element = expected.message(message.body, **kwargs)
        for url in message.media_urls:
            element.media(url)
    assert messaging_response(messages) == str(expected)

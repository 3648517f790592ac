"""The webhook's TwiML answer, written out directly.

twilio's `MessagingResponse` builds an ElementTree and serialises it, which took a tenth of the
whole webhook request. The answer is always the same small shape, so it is written here as a
string, escaped with the standard library; a test holds it to MessagingResponse's exact output.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from xml.sax.saxutils import escape

DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>'
# What ElementTree escapes in an attribute value beyond &, < and >.
_ATTRIBUTE_ENTITIES = {'"': "&quot;", "\n": "&#10;", "\r": "&#13;", "\t": "&#09;"}


@dataclass(frozen=True)
class TwimlMessage:
    """One <Message>: its text, where Twilio reports its fate, its media."""

    body: str
    action: str | None = None
    media_urls: Sequence[str] = ()


def messaging_response(messages: Iterable[TwimlMessage]) -> str:
    """`<Response>` with a `<Message>` per text, as MessagingResponse would write it."""
    parts = [_message(message) for message in messages]
    if not parts:
        return f"{DECLARATION}<Response />"
    return f"{DECLARATION}<Response>{''.join(parts)}</Response>"


def _message(message: TwimlMessage) -> str:
    action = (
        "" if message.action is None else f' action="{escape(message.action, _ATTRIBUTE_ENTITIES)}"'
    )
    media = "".join(f"<Media>{escape(url)}</Media>" for url in message.media_urls)
    return f"<Message{action}>{escape(message.body)}{media}</Message>"

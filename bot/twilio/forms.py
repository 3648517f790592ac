"""Twilio's webhook form parameters, checked and turned into plain values."""

from __future__ import annotations

from werkzeug.datastructures import MultiDict

from bot.domain.inbound import InboundSms
from bot.domain.phones import InvalidPhone, normalise_phone
from bot.domain.statuses import parse_provider_status
from bot.domain.vocabulary import MessageStatus
from bot.sending.status_updates import StatusUpdate
from bot.store.tables import MESSAGES, max_length
from bot.web.limits import MAX_INT32, MAX_ROW_ID, whole_number

FORM_TYPES = frozenset({"application/x-www-form-urlencoded", "multipart/form-data"})
MAX_MEDIA = 10  # Twilio's own limit per message
MAX_SID = max_length(MESSAGES.c.provider_sid)  # Twilio's are 34 characters


class BadField(ValueError):
    """A parameter is missing or wrong; names the parameter."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def parse_inbound(
    form: MultiDict[str, str], *, default_region: str, max_body_chars: int
) -> InboundSms:
    """The inbound text in Twilio's form, or BadField naming what is wrong."""
    message_sid = _sid(form)
    try:
        from_phone = normalise_phone(_required(form, "From"), default_region)
    except InvalidPhone as error:
        raise BadField("From", str(error)) from None
    body = form.get("Body", "")
    if "\x00" in body:  # no phone sends one (GSM's 0x00 is "@"); PostgreSQL cannot store it
        raise BadField("Body", "contains a NUL character")
    if len(body) > max_body_chars:
        raise BadField("Body", f"{len(body)} characters is more than the {max_body_chars} allowed")
    return InboundSms(
        message_sid=message_sid,
        from_phone=from_phone,
        body=body,
        to_phone=form.get("To") or None,
        media_urls=_media_urls(form),
        opt_out_type=form.get("OptOutType") or None,
    )


def parse_status(form: MultiDict[str, str], message_id: str | None) -> StatusUpdate | None:
    """The status callback, or None for a status word we do not track."""
    message_sid = _sid(form)
    word = form.get("MessageStatus") or form.get("SmsStatus")
    if not word:
        raise BadField("MessageStatus", "is required")
    status = parse_provider_status(word)
    if status is None or status in (MessageStatus.RECEIVED, MessageStatus.PENDING):
        return None
    return StatusUpdate(
        message_sid=message_sid,
        status=status,
        error_code=_optional_int("ErrorCode", form.get("ErrorCode"), high=MAX_INT32),
        message_id=_optional_int("mid", message_id, high=MAX_ROW_ID),
    )


def _required(form: MultiDict[str, str], name: str) -> str:
    value = (form.get(name) or "").strip()
    if not value:
        raise BadField(name, "is required")
    return value


def _sid(form: MultiDict[str, str]) -> str:
    sid = _required(form, "MessageSid")
    if len(sid) > MAX_SID or not sid.isprintable():
        raise BadField("MessageSid", f"must be at most {MAX_SID} printable characters")
    return sid


def _media_urls(form: MultiDict[str, str]) -> tuple[str, ...]:
    count = _optional_int("NumMedia", form.get("NumMedia"), high=MAX_MEDIA) or 0
    urls = tuple(form.get(f"MediaUrl{index}", "").strip() for index in range(count))
    return tuple(url for url in urls if url)


def _optional_int(name: str, raw: str | None, *, high: int) -> int | None:
    """A whole number from 0 to `high`, None when absent; BadField naming it otherwise."""
    try:
        return whole_number(raw, low=0, high=high)
    except ValueError as error:
        raise BadField(name, str(error)) from None

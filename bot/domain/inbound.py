"""The plain value a webhook becomes: one text a customer sent us."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class InboundSms:
    """One inbound text, already checked: the sender is E.164, the sid is present."""

    message_sid: str
    from_phone: str
    body: str
    to_phone: str | None = None
    media_urls: tuple[str, ...] = ()
    # Set by Twilio Advanced Opt-Out ("STOP", "START", "HELP") when it has already answered.
    opt_out_type: str | None = None

"""The interface every outbound gateway implements, and the values it speaks in."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Protocol, runtime_checkable


@dataclass(frozen=True)
class OutboundText:
    """One text to hand to the provider; the send policy has already allowed it."""

    to: str  # E.164
    body: str
    media_urls: tuple[str, ...] = ()
    status_callback_url: str | None = None


class SendOutcome(StrEnum):
    """What became of a hand-over to the provider."""

    ACCEPTED = "accepted"  # the provider took it and gave us an id
    OPTED_OUT = "opted_out"  # the provider says the recipient opted out (Twilio 21610)
    RETRYABLE = "retryable"  # throttled or a server error: try again later
    FAILED = "failed"  # permanent: bad number, bad request …


@dataclass(frozen=True)
class SendResult:
    """The provider's answer to one send."""

    outcome: SendOutcome
    provider_sid: str | None = None
    status: str | None = None  # the provider's own status word, e.g. "queued"
    error_code: int | None = None
    error_message: str | None = None
    # True when the provider may have taken the text although we got no answer (e.g. a read
    # timeout): reconcile with the provider before any resend, never resend blindly.
    maybe_accepted: bool = False
    extra: dict[str, str] = field(default_factory=dict)


class Gateway(Protocol):
    """Hands texts to a provider. It never decides whether a text may be sent."""

    name: str

    def send(self, text: OutboundText) -> SendResult:
        """Send one text and say what happened; never raise for a provider error."""
        ...


class ProviderLookupError(RuntimeError):
    """The provider could not be asked what it holds: the answer is unknown, not "nothing"."""


@runtime_checkable
class SupportsLookup(Protocol):
    """A gateway that can say whether the provider already holds a text (to reconcile)."""

    def lookup(
        self, text: OutboundText, created_after: datetime, *, skip_sids: Collection[str] = ()
    ) -> SendResult | None:
        """The provider's oldest copy of `text` since `created_after`, or None if it has none."""
        # As an ACCEPTED result with the provider's sid and status. `skip_sids` are copies
        # already matched to other rows (the same words sent twice). Raises ProviderLookupError
        # when the provider cannot be asked: never answer None for "don't know".
        ...

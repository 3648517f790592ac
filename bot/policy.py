"""The one send policy every outbound text passes. Pure: values in, a verdict out."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from bot.models import Purpose, SubscriberStatus


class Verdict(StrEnum):
    SEND = "send"
    SUPPRESS = "suppress"


@dataclass(frozen=True)
class Decision:
    """Whether a text may go out, and if not, why (stored with the suppressed message)."""

    verdict: Verdict
    reason: str | None = None

    @property
    def allowed(self) -> bool:
        return self.verdict is Verdict.SEND


SEND = Decision(Verdict.SEND)

# What each consent status lets through. Compliance texts (the opt-out confirmation, a HELP
# answer, the double opt-in request) are what carriers require us to send, so they always pass.
_ALLOWED: dict[SubscriberStatus, frozenset[Purpose]] = {
    SubscriberStatus.UNSUBSCRIBED: frozenset({Purpose.COMPLIANCE}),
    SubscriberStatus.NEW: frozenset({Purpose.COMPLIANCE, Purpose.REPLY, Purpose.TRANSACTIONAL}),
    SubscriberStatus.PENDING: frozenset({Purpose.COMPLIANCE, Purpose.REPLY, Purpose.TRANSACTIONAL}),
    SubscriberStatus.SUBSCRIBED: frozenset(Purpose),
}


def decide(*, purpose: Purpose, recipient_status: SubscriberStatus) -> Decision:
    """Consent first: an opted-out number gets compliance texts only, marketing needs opt-in."""
    if purpose in _ALLOWED[recipient_status]:
        return SEND
    if recipient_status is SubscriberStatus.UNSUBSCRIBED:
        return Decision(Verdict.SUPPRESS, "recipient opted out")
    return Decision(Verdict.SUPPRESS, f"no marketing consent (status {recipient_status})")

"""Web-form signups: consent asked for off-SMS, confirmed by a reply Y (double opt-in)."""

from __future__ import annotations

from dataclasses import dataclass

from bot.domain.compliance import ComplianceTexts
from bot.domain.effects import ChangeStatus, Effect, FillFirstName, RecordConsent, Send
from bot.domain.vocabulary import ConsentKind, Purpose, SubscriberStatus


class OptedOutBySms(Exception):
    """The number opted out by text; only the person can undo that, by texting START."""


@dataclass(frozen=True)
class SignupResult:
    """Whether the signup was new, and the outbox rows to send now."""

    created: bool
    message_ids: tuple[int, ...]


def signup_effects(
    status: SubscriberStatus, texts: ComplianceTexts, first_name: str | None
) -> tuple[Effect, ...]:
    """What a web-form signup does to a number in `status`: PENDING and the double opt-in
    text for a new one; a repeat signup only offers its first name; an opt-out is refused."""
    if status is SubscriberStatus.UNSUBSCRIBED:
        raise OptedOutBySms()
    name = (FillFirstName(first_name),) if first_name else ()
    if status in (SubscriberStatus.PENDING, SubscriberStatus.SUBSCRIBED):
        return name
    return (
        *name,
        ChangeStatus(SubscriberStatus.PENDING),
        RecordConsent(ConsentKind.OPT_IN_REQUESTED),
        Send(texts.confirm_join(), Purpose.COMPLIANCE),
    )

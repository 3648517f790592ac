"""Effects: what the domain asks the host to do. Only the conversation service applies them."""

from __future__ import annotations

from dataclasses import dataclass

from bot.models import ConsentKind, Purpose, SubscriberStatus


@dataclass(frozen=True)
class Send:
    """Text the subscriber."""

    body: str
    purpose: Purpose
    media_urls: tuple[str, ...] = ()


@dataclass(frozen=True)
class ChangeStatus:
    """Move the subscriber to a new consent status."""

    status: SubscriberStatus


@dataclass(frozen=True)
class RecordConsent:
    """Append an entry to the consent ledger."""

    kind: ConsentKind
    keyword: str | None = None


Effect = Send | ChangeStatus | RecordConsent

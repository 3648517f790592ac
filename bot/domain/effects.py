"""Effects: what the domain, the flow engine and the conversation service ask to happen.

Nothing here touches a database: `bot.conversations.apply` is the one place effects become rows.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.domain.http_calls import HttpRequest
from bot.domain.urls import Span
from bot.domain.vocabulary import ConsentKind, Purpose, SubscriberStatus, TimerKind


@dataclass(frozen=True)
class Send:
    """Text the subscriber.

    `brand_spans` are the stretches of `body` the brand wrote; only a URL wholly inside one
    becomes a tracked link (none: the text goes out exactly as it is).
    """

    body: str
    purpose: Purpose
    media_urls: tuple[str, ...] = ()
    brand_spans: tuple[Span, ...] = ()
    external_id: str | None = None  # an API client's id for the text: one text per id


@dataclass(frozen=True)
class ChangeStatus:
    """Move the subscriber to a new consent status."""

    status: SubscriberStatus


@dataclass(frozen=True)
class RecordConsent:
    """Append an entry to the consent ledger."""

    kind: ConsentKind
    keyword: str | None = None


@dataclass(frozen=True)
class FillFirstName:
    """The person gave a first name off-SMS (a web form): keep it unless one is on record."""

    name: str


@dataclass(frozen=True)
class QueueForAgents:
    """Put the text this turn answers in the agents' queue: no step could take it.

    `acknowledged`: the text queued just before this effect (in the same batch) told the person
    someone will answer; the queue keeps its id so an agent sees what was said.
    """

    flow: str | None  # where the person stood: the flow and step, if any
    step: str | None
    context: str  # for the agent: "sent while welcome waited at wait_a_day"
    acknowledged: bool = False


@dataclass(frozen=True)
class SetFirstName:
    """The brand's systems set the person's first name (None: forget it), over any on record."""

    name: str | None


@dataclass(frozen=True)
class SetTimezone:
    """The brand's systems set the person's IANA time zone (None: forget it, go by the number)."""

    zone: str | None


@dataclass(frozen=True)
class DropAttributes:
    """Forget these of the subscriber's attributes."""

    names: tuple[str, ...]


Effect = (
    Send
    | ChangeStatus
    | RecordConsent
    | FillFirstName
    | QueueForAgents
    | SetFirstName
    | SetTimezone
    | DropAttributes
)


# Effects the flow engine asks for; besides these it may Send.


@dataclass(frozen=True)
class ScheduleTimer:
    """Resume the conversation at `due_at`; a conversation has at most one timer per kind."""

    kind: TimerKind
    step: str | None
    due_at: datetime


@dataclass(frozen=True)
class CancelTimers:
    """Drop the conversation's pending timers (of one kind, or all)."""

    kind: TimerKind | None = None


@dataclass(frozen=True)
class SetAttributes:
    """Store values on the subscriber (e.g. a coupon code, a preferred size)."""

    values: Mapping[str, Any]


@dataclass(frozen=True)
class ChangeTags:
    """Add and remove subscriber tags."""

    add: tuple[str, ...] = ()
    remove: tuple[str, ...] = ()


@dataclass(frozen=True)
class RecordAnswer:
    """Store a validated answer to a question."""

    flow: str
    step: str
    name: str
    value: Any


@dataclass(frozen=True)
class SetEmail:
    """The person gave an e-mail address (an `expect: email` answer): it joins their profile."""

    address: str


@dataclass(frozen=True)
class EnterStep:
    """The conversation reached a step (for the funnel)."""

    flow: str
    step: str


@dataclass(frozen=True)
class HandOff:
    """A human should take this conversation over."""

    reason: str


@dataclass(frozen=True)
class CallAction:
    """Run a custom action; the host resumes the flow with its result."""

    name: str
    step: str
    # The step's first call, for a step that calls once per person: the host claims it first.
    once_per_person: bool = False


@dataclass(frozen=True)
class CallHttp:
    """Call a URL (an `http` step); the host resumes the flow with what it answered."""

    step: str
    request: HttpRequest


@dataclass(frozen=True)
class StartFlow:
    """End this flow and start another."""

    name: str


@dataclass(frozen=True)
class EndFlow:
    """The flow is over."""

    flow: str
    reason: str  # completed, expired, stopped, interrupted, invalid, changed …


FlowEffect = (
    Send
    | ScheduleTimer
    | CancelTimers
    | SetAttributes
    | ChangeTags
    | RecordAnswer
    | SetEmail
    | EnterStep
    | HandOff
    | CallAction
    | CallHttp
    | StartFlow
    | EndFlow
)

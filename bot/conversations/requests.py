"""What the brand's systems may ask about one person (a text, a flow, profile changes), and
what they are answered: the outcomes and refusals of the service's request methods."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Literal

from bot.conversations.turn import PendingAction
from bot.domain.effects import (
    ChangeTags,
    DropAttributes,
    Effect,
    FlowEffect,
    Send,
    SetAttributes,
    SetFirstName,
    SetTimezone,
)
from bot.domain.policy import Decision
from bot.store.tables import AnyRow


class UnknownNumber(Exception):
    """Nobody with this number is stored: a request about them changes nothing."""

    def __init__(self, phone: str) -> None:
        super().__init__(f"no subscriber with phone {phone}")
        self.phone = phone


class OptedOut(Exception):
    """The number opted out: nothing but the opt-out's confirmation may reach it."""

    def __init__(self, phone: str) -> None:
        super().__init__(f"{phone} opted out; nothing is sent to it until its owner texts START")
        self.phone = phone


class IdInUse(Exception):
    """An API client's id names an earlier text that differs from this one."""

    def __init__(self, external_id: str, message_id: int, differences: list[str]) -> None:
        super().__init__(
            f"id {external_id!r} was already given to text {message_id}, which has another "
            f"{' and another '.join(differences)}; give each new text a new id"
        )
        self.message_id = message_id


@dataclass(frozen=True)
class SentText:
    """A text asked for: its message id, what the send policy decided, and whether it was a
    retry of an id seen before (answered as the first time, nothing queued)."""

    message_id: int
    decision: Decision
    duplicate: bool = False


def earlier_text(row: AnyRow, phone: str, send: Send) -> SentText:
    """The answer to a retry of the text in `row` (found by its id); IdInUse if it differs."""
    asked = {
        "phone": phone,
        "body": send.body,
        "media_urls": list(send.media_urls),
        "purpose": send.purpose,
    }
    differences = [name for name, value in asked.items() if getattr(row, name) != value]
    if differences:
        assert send.external_id is not None
        raise IdInUse(send.external_id, row.id, differences)
    return SentText(row.id, Decision.from_json(row.decision), duplicate=True)


@dataclass(frozen=True)
class FlowStart:
    """Whether a flow started (`refusal` says why not), the texts it queued, and the action it
    waits for, which the caller runs once it has answered."""

    refusal: str | None
    message_ids: list[int] = field(default_factory=list)
    action: PendingAction | None = None


class _Keep(Enum):
    KEEP = "keep"


KEEP = _Keep.KEEP  # a profile field a patch leaves as it is


@dataclass(frozen=True)
class ProfilePatch:
    """Changes to a person's profile; never to their consent, which only they can change.

    `first_name` and `timezone`: KEEP, a new value, or None to forget it. `attributes` are
    merged in, a None value forgetting that attribute.
    """

    first_name: str | Literal[_Keep.KEEP] | None = KEEP
    timezone: str | Literal[_Keep.KEEP] | None = KEEP
    attributes: Mapping[str, Any] = field(default_factory=dict)
    add_tags: tuple[str, ...] = ()
    remove_tags: tuple[str, ...] = ()

    def effects(self) -> list[Effect | FlowEffect]:
        """The effects that make these changes, for `bot.conversations.apply`."""
        effects: list[Effect | FlowEffect] = []
        if self.first_name is not KEEP:
            effects.append(SetFirstName(self.first_name))
        if self.timezone is not KEEP:
            effects.append(SetTimezone(self.timezone))
        kept = {name: value for name, value in self.attributes.items() if value is not None}
        dropped = tuple(name for name, value in self.attributes.items() if value is None)
        if kept:
            effects.append(SetAttributes(kept))
        if dropped:
            effects.append(DropAttributes(dropped))
        if self.add_tags or self.remove_tags:
            effects.append(ChangeTags(add=self.add_tags, remove=self.remove_tags))
        return effects

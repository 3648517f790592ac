"""Opt-outs an agent records for a customer who asked by another channel (a call, an e-mail).

They go through the conversation service like the shop's opt-outs: the status changes, the
consent ledger gains an entry naming the agent (`agent:<email>`) and how the person asked,
their flow ends as after STOP, and webhook receivers hear of it. No text is sent: the person
did not text, and an opted-out number gets nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.domain.effects import ChangeStatus, RecordConsent
from bot.domain.vocabulary import ConsentKind, SubscriberStatus

if TYPE_CHECKING:
    from bot.conversations.apply import AnyEffect
    from bot.conversations.service import ConversationService
    from bot.store.subscribers import SubscriberRow

AGENT_SOURCE = "agent:"  # the ledger's source for an agent's entry: agent:<their email>
MAX_NOTE_CHARS = 500  # how the person asked, in the agent's words


def record_opt_out(
    service: ConversationService, phone: str, *, agent_email: str, note: str | None
) -> bool:
    """Opt the number out for the person, in the ledger under the agent's name; False (and
    nothing written) when it had opted out already."""
    update = service.update_person(
        phone, _opt_out, source=f"{AGENT_SOURCE}{agent_email}", consent_text=note or None
    )
    return bool(update.effects)


def _opt_out(person: SubscriberRow) -> list[AnyEffect]:
    if person.status is SubscriberStatus.UNSUBSCRIBED:
        return []
    return [ChangeStatus(SubscriberStatus.UNSUBSCRIBED), RecordConsent(ConsentKind.OPT_OUT)]

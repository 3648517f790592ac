"""What a conversation page's header says and offers: one answer for the page and its live poll.

The page renders it once; the poll (`/inbox/conversations/<id>/events`) sends it again with every
answer, and inbox.js puts each field where the page first rendered it. So whatever changes the
chat elsewhere (another agent, a STOP, the flow going on after a hand-back) shows without a reload.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from bot.domain.vocabulary import ConversationStatus, HandledBy, SubscriberStatus

# How a subscriber's status reads to an agent.
SUBSCRIBER_STATUS = {
    SubscriberStatus.NEW: "not subscribed",
    SubscriberStatus.PENDING: "asked to join, not confirmed yet",
    SubscriberStatus.SUBSCRIBED: "subscribed",
    SubscriberStatus.UNSUBSCRIBED: "opted out",
}
OPTED_OUT_HINT = "This number opted out: it cannot be texted."
ENDED_HINT = "This conversation has ended."
TAKE_OVER_HINT = "Take the chat over to reply; the bot stays quiet while you have it."


@dataclass(frozen=True)
class ChatState:
    """Who has the chat, what the header says about it, and what this agent may do."""

    status: str
    handled_by: str
    agent_name: str | None
    label: str  # who has the chat, or how it ended
    summary: str  # the subscriber's status and where the flow is
    handoff_reason: str | None  # why a human was asked for, while a human is involved
    hint: str | None  # why there is no reply box; None when there is one
    mine: bool  # this agent holds the chat: hand back is offered
    can_take: bool  # nobody holds the chat: take over is offered
    can_reply: bool

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def chat_state(chat: Any, agent_id: int) -> ChatState:
    """The header of a conversation row (with `agent_name` and `subscriber_status`) for an agent."""
    active = chat.status is ConversationStatus.ACTIVE
    held = active and chat.handled_by is HandledBy.AGENT
    mine = held and chat.agent_id == agent_id
    holder = chat.agent_name or "Another agent"
    opted_out = chat.subscriber_status is SubscriberStatus.UNSUBSCRIBED
    human_involved = active and chat.handled_by is not HandledBy.BOT
    if not active:
        label = f"Ended ({chat.end_reason})" if chat.end_reason else "Ended"
    elif held:
        label = "You have this chat" if mine else f"{holder} has this chat"
    elif chat.handled_by is HandledBy.WAITING_FOR_AGENT:
        label = "Waiting for an agent"
    else:
        label = "The bot has this chat"
    can_reply = mine and not opted_out
    if can_reply:
        hint = None
    elif opted_out:
        hint = OPTED_OUT_HINT
    elif not active:
        hint = ENDED_HINT
    elif held and not mine:
        hint = f"{holder} has this chat: only they can reply or hand it back."
    else:
        hint = TAKE_OVER_HINT
    # An ended chat is at no step any more: its last one would read as where it waits.
    where = f"flow {chat.flow}" + (f" at {chat.step}" if chat.step and active else "")
    status = SUBSCRIBER_STATUS.get(chat.subscriber_status, str(chat.subscriber_status))
    return ChatState(
        status=str(chat.status),
        handled_by=str(chat.handled_by),
        agent_name=chat.agent_name,
        label=label,
        summary=f"{status} · {where}",
        handoff_reason=chat.handoff_reason if human_involved else None,
        hint=hint,
        mine=mine,
        can_take=active and not held,
        can_reply=can_reply,
    )

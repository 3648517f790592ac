"""A turn: one transaction's worth of work for one person, and what it leaves to do after."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from sqlalchemy.engine import Connection

from bot.actions.base import ActionRequest
from bot.domain.http_calls import HttpRequest
from bot.domain.policy import DEFAULT_RULES, PolicyRules
from bot.domain.vocabulary import Delivery
from bot.engine.state import FlowState
from bot.store.conversations import ActiveConversation, Wake
from bot.store.db import after_commit, before_commit
from bot.store.messages import QueuedText
from bot.store.subscribers import SubscriberRow


class AssignRound(Protocol):
    """Gives waiting people to available agents (bot.conversations.assignment)."""

    def __call__(self) -> object:
        """Run a round now, in a transaction of its own."""
        ...

    def runs_in_turn(self, connection: Connection) -> bool:
        """Whether the round goes inside the turn's transaction (else after its commit)."""
        ...

    def in_turn(self, connection: Connection) -> None:
        """Run the round inside the turn's transaction, as it is about to commit."""
        ...


@dataclass(frozen=True)
class PendingAction:
    """A call a stored turn left its conversation waiting for (a custom action, or an `http`
    step's URL): make it with no transaction open, then complete it."""

    conversation_id: int
    flow: str
    step: str
    phone: str
    request: ActionRequest | HttpRequest
    wake: Wake  # the conversation's timer while it waits: tells this call from a later one
    inbound: tuple[int, str] | None = None  # the text the turn answered: its id and body
    depth: int = 0  # how deep in start_flow chains the flow that calls it is

    def describe(self) -> str:
        """What is called, and by which flow and step, for logs."""
        if isinstance(self.request, HttpRequest):
            where = f"flow '{self.flow}', step '{self.step}'"
            return f"http call {self.request.describe()} ({where})"
        return self.request.describe()


@dataclass(frozen=True)
class GaveUp:
    """A flow that ended because it could not take the person's text: who a human answers for."""

    flow: str
    state: FlowState  # where it stood when the text came
    reason: str  # "no valid answer", "flow removed"


@dataclass
class Turn:
    """One transaction's worth of work for one person: where texts go and what was queued.

    Made by `ConversationService.turn` from a claim (the subscriber's row lock and active
    conversation); `bot.conversations.apply` writes its effects and keeps `conversation`
    current as flows start, move and end.
    """

    connection: Connection
    subscriber: SubscriberRow
    delivery: Delivery
    now: datetime
    inbound_id: int | None = None
    rules: PolicyRules = DEFAULT_RULES
    queued: list[QueuedText] = field(default_factory=list)
    public_url: str | None = None  # where tracked links point; None leaves URLs as written
    conversation: ActiveConversation | None = None
    text: str | None = None  # the text this turn answers; None for a timer or an event
    source: str = "sms"  # where a consent change in this turn came from (sms, web form …)
    consent_text: str | None = None  # the words that gave or withdrew consent, for the ledger
    agent_id: int | None = None  # the agent whose texts these are, for an agent's reply
    replying: bool | None = None  # None: a turn answering a text (inbound_id) replies
    action: PendingAction | None = None  # a call to make once the turn is stored
    gave_up: GaveUp | None = None  # the flow this turn's text ended without being understood
    # Gives waiting people to available agents (assignment.py); run once the turn commits,
    # if the turn put someone in the queue.
    assign: AssignRound | None = None
    assign_asked: bool = False

    def ask_for_assignment(self) -> None:
        """Someone joined the agents' queue: assign them as this turn commits (it has written
        all it will by then), or once it has."""
        assign = self.assign
        if assign is None or self.assign_asked:
            return
        self.assign_asked = True
        if assign.runs_in_turn(self.connection):
            before_commit(self.connection, lambda: assign.in_turn(self.connection))
        else:
            after_commit(self.connection, assign)

    def waiting_action(self) -> PendingAction | None:
        """The call the turn left its conversation waiting for, unless it moved on since."""
        action, conversation = self.action, self.conversation
        if action is None or conversation is None or conversation.id != action.conversation_id:
            return None  # that flow ended (or was interrupted) later in the turn
        return action

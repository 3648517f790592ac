"""Agents and the bot sharing a conversation: take over, reply, hand back, release idle chats.

Texts no step could take wait in the queue (bot/conversations/unanswered.py) until an agent
takes the chat over, replies to the person, or marks them done. What the inbox lists is read
in `inbox_lists.py`.

While an agent holds a chat the bot is quiet and the conversation's timers wait (the clock skips
them); STOP still works. Handing back resumes the flow where its `handoff` step says, or leaves
it waiting as it was; a chat left idle with an agent goes back to the bot by itself.

Each step is also noted on the person's `agent_chat` row (`bot/store/agent_chats.py`), what the
reports measure. On hand-back the agent may have the bot ask "How did we do?" (`CSAT_FLOW`):
it is asked as a reply to the person (held by quiet hours, never to an opted-out number), and
only when the chat ends no flow, so it never cuts a flow short.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import bindparam, or_, select, update
from sqlalchemy.engine import Connection

from bot.conversations.apply import apply_effects, apply_flow_turn, end_active
from bot.conversations.flows import HUMAN_FLOW
from bot.conversations.turn import PendingAction, Turn
from bot.conversations.unanswered import close_open, has_open, subscriber_of
from bot.domain.effects import HandOff, QueueForAgents, ScheduleTimer, Send
from bot.domain.policy import decide_consent
from bot.domain.vocabulary import (
    ConversationStatus,
    Delivery,
    Direction,
    HandledBy,
    Purpose,
    SubscriberStatus,
    TimerKind,
)
from bot.engine.inputs import HandedBack
from bot.engine.state import FlowState, Waiting
from bot.store.agent_chats import (
    chat_answered,
    chat_closed,
    chat_passed_on,
    chat_taken,
    rating_asked,
)
from bot.store.conversations import (
    HELD_BY_AGENTS,
    Claimed,
    claim,
    claim_conversation,
    claim_known,
)
from bot.store.db import transaction
from bot.store.driver_sql import DriverStatement
from bot.store.messages import QueuedText
from bot.store.models import status_is
from bot.store.tables import AGENTS, CONVERSATIONS, MESSAGES
from bot.store.tables import UNANSWERED_TEXTS as UNANSWERED

if TYPE_CHECKING:
    from bot.services import Services

CSAT_FLOW = "csat"  # the flow that asks a person to rate a chat just handed back (flows/csat.yaml)
JUST_SENT = timedelta(hours=1)  # an agent's answer within this of the customer's text is a reply


class TakeoverError(Exception):
    """The chat cannot be taken, handed back or answered by this agent; says why."""


class ReplyRefused(Exception):
    """The text may not be sent (the number opted out); says why."""


OPTED_OUT = "This number opted out: it cannot be texted."


def take_over(services: Services, *, conversation_id: int, agent_id: int) -> None:
    """Give the chat to this agent; the bot goes quiet. Two agents cannot hold one chat."""
    now = services.conversations.clock()
    with transaction(services.db) as connection:
        if not _take(connection, conversation_id, agent_id, now):
            raise TakeoverError(_why_not(connection, conversation_id))
        subscriber_id = connection.execute(
            select(CONVERSATIONS.c.subscriber_id).where(CONVERSATIONS.c.id == conversation_id)
        ).scalar_one()
        close_open(
            connection,
            subscriber_id=subscriber_id,
            now=now,
            outcome="taken over",
            agent_id=agent_id,
        )
        chat_taken(
            connection,
            subscriber_id=subscriber_id,
            conversation_id=conversation_id,
            agent_id=agent_id,
            now=now,
        )


def take_from_queue(services: Services, *, text_id: int, agent_id: int) -> int:
    """Take over the chat of someone whose text waits in the queue; returns its conversation.

    Someone outside any flow gets a conversation of their own with the agent; someone in a
    flow has that flow's conversation taken over (it waits until the agent hands it back).
    """
    now = services.conversations.clock()
    with transaction(services.db) as connection:
        owner = subscriber_of(connection, text_id)
        if owner is None:
            raise TakeoverError("There is no such text in the queue.")
        claimed = claim(connection, owner[1], now)
        conversation = claimed.conversation
        if conversation is None:
            conversation_id = apply_flow_turn(
                services.conversations.turn(claimed, Delivery.OUTBOX, now),
                flow=HUMAN_FLOW,
                state=FlowState(HUMAN_FLOW, "-", None, Waiting.AGENT, now),
                effects=(HandOff("taken from the queue"),),
                conversation=None,
            )
        else:
            conversation_id = conversation.id
        if not _take(connection, conversation_id, agent_id, now):
            raise TakeoverError(_why_not(connection, conversation_id))
        close_open(
            connection, subscriber_id=owner[0], now=now, outcome="taken over", agent_id=agent_id
        )
        chat_taken(
            connection,
            subscriber_id=owner[0],
            conversation_id=conversation_id,
            agent_id=agent_id,
            now=now,
        )
    return conversation_id


def mark_done(services: Services, *, text_id: int, agent_id: int) -> int:
    """Take a person's texts up to this one out of the queue: no answer needed; how many."""
    now = services.conversations.clock()
    with transaction(services.db) as connection:
        owner = subscriber_of(connection, text_id)
        if owner is None:
            raise TakeoverError("There is no such text in the queue.")
        done = close_open(
            connection,
            subscriber_id=owner[0],
            now=now,
            outcome="marked done",
            agent_id=agent_id,
            up_to=text_id,
        )
        if not has_open(connection, owner[0]):  # nothing of theirs waits any more
            chat_closed(
                connection,
                subscriber_id=owner[0],
                now=now,
                outcome="marked done",
                only_if_untaken=True,
            )
    _slot_freed(services)
    return done


def hand_back(
    services: Services, *, conversation_id: int, agent_id: int, ask_rating: bool = False
) -> None:
    """Give the chat back to the bot: a flow parked on a handoff goes on; timers resume.

    With `ask_rating`, the person is then asked to rate the chat (`CSAT_FLOW`), if nothing
    else is going on with them.
    """
    now = services.conversations.clock()
    with transaction(services.db) as connection:
        claimed = claim_conversation(connection, conversation_id, now)
        if claimed is None:
            raise TakeoverError("This conversation has ended.")
        if not _holds(connection, conversation_id, agent_id):
            raise TakeoverError("Only the agent who has this chat can hand it back.")
        chat = chat_closed(
            connection, subscriber_id=claimed.subscriber.id, now=now, outcome="handed back"
        )
        turn, action = _give_to_bot(services, claimed, now)
        if ask_rating and chat is not None and action is None:
            _ask_rating(services, turn, chat_id=chat[0])
    _slot_freed(services)
    services.conversations.run_actions(action)  # a flow that goes on to an action: after commit


def agent_reply(services: Services, *, conversation_id: int, agent_id: int, body: str) -> None:
    """Text the customer as the agent, through the send policy."""
    text = _draft(body)
    now = services.conversations.clock()
    with transaction(services.db) as connection:
        claimed = claim_conversation(connection, conversation_id, now)
        if claimed is None:
            raise TakeoverError(_why_not(connection, conversation_id))
        if not _holds(connection, conversation_id, agent_id):
            raise TakeoverError("Take the chat over before replying.")
        replying = _customer_just_wrote(connection, claimed.subscriber.phone, now)
        queued = _send_as_agent(
            services, claimed, conversation_id, agent_id, Send(text, Purpose.REPLY), now, replying
        )
    services.dispatcher.send([queued.id])


def start_chat(services: Services, *, phone: str, agent_id: int, body: str) -> int:
    """Text a contact first, as the agent, who then holds their chat as after a take-over;
    returns the conversation.

    A support text: transactional, so quiet hours do not hold it, but consent does (an opted-out
    number is refused). Someone outside any flow gets a conversation of their own with the
    agent; someone in a flow has that conversation taken over, unless another agent holds it.
    """
    text = _draft(body)
    now = services.conversations.clock()
    with transaction(services.db) as connection:
        claimed = claim_known(connection, phone)
        if claimed is None:
            raise TakeoverError("There is no such contact.")
        if claimed.conversation is None:
            conversation_id = apply_flow_turn(
                services.conversations.turn(claimed, Delivery.OUTBOX, now),
                flow=HUMAN_FLOW,
                state=FlowState(HUMAN_FLOW, "-", None, Waiting.AGENT, now),
                effects=(),
                conversation=None,
            )
        else:
            conversation_id = claimed.conversation.id
        if not _take(connection, conversation_id, agent_id, now):
            raise TakeoverError(_why_not(connection, conversation_id))
        chat_taken(
            connection,
            subscriber_id=claimed.subscriber.id,
            conversation_id=conversation_id,
            agent_id=agent_id,
            now=now,
        )
        support = Send(text, Purpose.TRANSACTIONAL)
        queued = _send_as_agent(services, claimed, conversation_id, agent_id, support, now)
    services.dispatcher.send([queued.id])
    return conversation_id


def _draft(body: str) -> str:
    text = body.strip()
    if not text:
        raise ReplyRefused("Write something first.")
    return text


def _send_as_agent(
    services: Services,
    claimed: Claimed,
    conversation_id: int,
    agent_id: int,
    send: Send,
    now: datetime,
    replying: bool = False,
) -> QueuedText:
    """Queue the agent's text in the claimed person's turn; refused (and the transaction with
    it) when the number opted out or the send policy says no. Their waiting texts are handled."""
    subscriber = claimed.subscriber
    if subscriber.status is SubscriberStatus.UNSUBSCRIBED:
        raise ReplyRefused(OPTED_OUT)
    turn = services.conversations.turn(claimed, Delivery.OUTBOX, now)
    turn.agent_id = agent_id
    turn.replying = replying
    (queued,) = apply_effects(turn, (send,))
    if queued.suppressed:
        raise ReplyRefused("The send policy refused this text.")
    chat_answered(claimed.connection, subscriber_id=subscriber.id, agent_id=agent_id, now=now)
    claimed.connection.execute(
        update(CONVERSATIONS)
        .where(CONVERSATIONS.c.id == conversation_id)
        .values(agent_active_at=now, updated_at=now)
    )
    close_open(
        claimed.connection,
        subscriber_id=subscriber.id,
        now=now,
        outcome="replied",
        agent_id=agent_id,
    )
    return queued


def pass_on(
    connection: Connection, subscriber_id: int, from_agent: int, to_agent: int, now: datetime
) -> None:
    """The agent holding a person's chat gives it to a colleague, who holds it from now on."""
    moved = connection.execute(
        update(CONVERSATIONS)
        .where(
            CONVERSATIONS.c.subscriber_id == subscriber_id,
            status_is(CONVERSATIONS.c.status, ConversationStatus.ACTIVE),
            CONVERSATIONS.c.handled_by == HandledBy.AGENT,
            CONVERSATIONS.c.agent_id == from_agent,
        )
        .values(agent_id=to_agent, agent_active_at=now, updated_at=now)
    ).rowcount
    if not moved:
        raise TakeoverError("This chat is no longer yours to pass on.")
    chat_passed_on(connection, subscriber_id=subscriber_id, to_agent=to_agent)


# Through ix_conversation_active_handler, as the clock's question of when to look next.
IDLE_HELD_CHATS = DriverStatement(
    select(CONVERSATIONS.c.id, CONVERSATIONS.c.agent_active_at, AGENTS.c.name)
    .outerjoin(AGENTS, AGENTS.c.id == CONVERSATIONS.c.agent_id)
    .where(*HELD_BY_AGENTS, CONVERSATIONS.c.agent_active_at < bindparam("before"))
)


def release_idle(services: Services, *, idle_after: timedelta) -> int:
    """Hand back every chat its agent has left idle for `idle_after`; returns how many."""
    now = services.conversations.clock()
    actions: list[PendingAction | None] = []
    with transaction(services.db) as connection:
        idle = IDLE_HELD_CHATS.run(connection, {"before": now - idle_after})
        for conversation_id, agent_active_at, agent in idle:
            claimed = claim_conversation(connection, conversation_id, now)
            if claimed is not None:
                # Closed first: a text queued now opens the person's next wait. No rating is
                # asked: the agent did not finish the chat, and the person may be waiting.
                chat_closed(
                    connection,
                    subscriber_id=claimed.subscriber.id,
                    now=now,
                    outcome="released idle",
                )
                _queue_unseen(services, claimed, agent or "an agent", agent_active_at, now)
                actions.append(_give_to_bot(services, claimed, now)[1])
    if idle:
        _slot_freed(services)
    for action in actions:
        services.conversations.run_actions(action)
    return len(idle)


def _slot_freed(services: Services) -> None:
    """A chat left an agent's hands: waiting people may go to whoever has room now."""
    if services.conversations.assign is not None:
        services.conversations.assign()


def _queue_unseen(
    services: Services, claimed: Claimed, agent: str, agent_active_at: datetime, now: datetime
) -> None:
    """Texts that came after the agent last acted go to the queue: nobody has answered them."""
    conversation = claimed.conversation
    flows = services.conversations.flows
    if conversation is None or flows is None:
        return
    connection = claimed.connection
    replies = MESSAGES.alias("replies")
    unseen = connection.execute(
        select(MESSAGES.c.id, MESSAGES.c.body, MESSAGES.c.media_urls)
        .where(
            MESSAGES.c.phone == claimed.subscriber.phone,
            MESSAGES.c.direction == Direction.INBOUND,
            MESSAGES.c.created_at > agent_active_at,
            # The bot answered it (HELP), or it already waits in the queue: not unseen.
            ~select(replies.c.id).where(replies.c.in_reply_to_id == MESSAGES.c.id).exists(),
            ~select(UNANSWERED.c.id).where(UNANSWERED.c.message_id == MESSAGES.c.id).exists(),
        )
        .order_by(MESSAGES.c.id)
    ).all()
    context = f"arrived while {agent} held the chat; released idle"
    situation = QueueForAgents(conversation.flow, conversation.state.step, context)
    for text in unseen:
        turn = services.conversations.turn(claimed, Delivery.OUTBOX, now, (text.id, text.body))
        flows.ask_for_human(turn, text.body, with_media=bool(text.media_urls), situation=situation)


def _take(connection: Connection, conversation_id: int, agent_id: int, now: datetime) -> bool:
    """Give an active chat to this agent, unless another agent holds it; whether it worked."""
    return bool(
        connection.execute(
            update(CONVERSATIONS)
            .where(
                CONVERSATIONS.c.id == conversation_id,
                status_is(CONVERSATIONS.c.status, ConversationStatus.ACTIVE),
                or_(
                    CONVERSATIONS.c.handled_by != HandledBy.AGENT,
                    CONVERSATIONS.c.agent_id == agent_id,
                ),
            )
            .values(
                handled_by=HandledBy.AGENT, agent_id=agent_id, agent_active_at=now, updated_at=now
            )
        ).rowcount
    )


def _holds(connection: Connection, conversation_id: int, agent_id: int) -> bool:
    row = connection.execute(
        select(CONVERSATIONS.c.handled_by, CONVERSATIONS.c.agent_id).where(
            CONVERSATIONS.c.id == conversation_id
        )
    ).first()
    return row is not None and row.handled_by is HandledBy.AGENT and row.agent_id == agent_id


def _why_not(connection: Connection, conversation_id: int) -> str:
    row = connection.execute(
        select(CONVERSATIONS.c.status, AGENTS.c.name)
        .outerjoin(AGENTS, AGENTS.c.id == CONVERSATIONS.c.agent_id)
        .where(CONVERSATIONS.c.id == conversation_id)
    ).first()
    if row is None:
        return "There is no such conversation."
    if row.status is not ConversationStatus.ACTIVE:
        return "This conversation has ended."
    return f"{row.name or 'Another agent'} already has this chat."


def _customer_just_wrote(connection: Connection, phone: str, now: datetime) -> bool:
    last = connection.execute(
        select(MESSAGES.c.created_at)
        .where(MESSAGES.c.phone == phone, MESSAGES.c.direction == Direction.INBOUND)
        .order_by(MESSAGES.c.id.desc())
        .limit(1)
    ).scalar_one_or_none()
    return last is not None and now - last <= JUST_SENT


def _give_to_bot(
    services: Services, claimed: Claimed, now: datetime
) -> tuple[Turn, PendingAction | None]:
    """Hand the chat back; returns its turn, and the action the flow went on to (to call
    after the commit)."""
    conversation = claimed.conversation
    assert conversation is not None  # claim_conversation returns only active conversations
    connection = claimed.connection
    connection.execute(
        update(CONVERSATIONS)
        .where(CONVERSATIONS.c.id == conversation.id)
        .values(handled_by=HandledBy.BOT, agent_id=None, agent_active_at=None, updated_at=now)
    )
    conversation.handled_by = HandledBy.BOT
    flows = services.conversations.flows
    flow = flows.registry.catalog().flows.get(conversation.flow) if flows else None
    turn = services.conversations.turn(claimed, Delivery.OUTBOX, now)
    if flow is None or flows is None:
        end_active(turn, "handed back")
        return turn, None
    if conversation.state.waiting is Waiting.AGENT:
        # Its texts wait in the outbox for the dispatchers, like any follow-up.
        flows.resume(turn, flow, conversation, HandedBack())
        return turn, turn.waiting_action()
    if conversation.state.waiting is Waiting.ANSWER:
        # The person was talking to a human: the flow's patience starts again now.
        patience = ScheduleTimer(TimerKind.EXPIRY, None, now + flow.settings.expires_after)
        apply_flow_turn(
            turn,
            flow=flow.name,
            state=conversation.state,
            effects=(patience,),
            conversation=conversation,
        )
    return turn, None


def _ask_rating(services: Services, turn: Turn, *, chat_id: int) -> None:
    """Start the rating question for a chat just handed back, when it may be asked now.

    Not when the person is still in a flow (the hand-back resumed one) or has opted out, nor
    when no `csat` flow is in force.
    """
    flows = services.conversations.flows
    flow = flows.registry.catalog().flows.get(CSAT_FLOW) if flows is not None else None
    if flows is None or flow is None or turn.conversation is not None:
        return
    # Asked as a reply to the chat the person started: any number not opted out may get it.
    if not decide_consent(Purpose.REPLY, turn.subscriber.status).allowed:
        return
    flows.start(turn, flow)
    if turn.conversation is not None:
        rating_asked(turn.connection, chat_id=chat_id, conversation_id=turn.conversation.id)

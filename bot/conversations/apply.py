"""The one place effects become rows: a turn's texts, consent, profile, answers and flow row,
and the webhook events that tell of them (`bot.store.webhook_events`).

Keywords (`bot.domain.compliance`), flows (`bot.engine`), actions, agents' replies, sign-ups
and texts no step could take all reach the database as effects applied here, in the turn's
transaction. Who holds a chat (take over, hand back) is the inbox's bookkeeping, written by
`takeover.py`; delivery states are the dispatcher's (`bot.sending`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.conversations.turn import Turn
from bot.conversations.unanswered import has_open, record_unanswered
from bot.domain.effects import (
    CancelTimers,
    ChangeStatus,
    ChangeTags,
    DropAttributes,
    Effect,
    EndFlow,
    EnterStep,
    FillFirstName,
    FlowEffect,
    HandOff,
    QueueForAgents,
    RecordAnswer,
    RecordConsent,
    ScheduleTimer,
    Send,
    SetAttributes,
    SetEmail,
    SetFirstName,
    SetTimezone,
)
from bot.domain.vocabulary import (
    ConsentKind,
    HandledBy,
    SubscriberStatus,
    TimerKind,
    WebhookEventType,
)
from bot.engine.state import FlowState
from bot.sending.outbox import queue_text
from bot.store.agent_chats import chat_closed, chat_queued
from bot.store.conversations import (
    ActiveConversation,
    Wake,
    end_conversation,
    open_conversation,
    record_answer,
    record_visits,
    save_profile,
    save_state,
)
from bot.store.issued_once import issue_once
from bot.store.messages import QueuedText
from bot.store.subscribers import (
    change_status,
    fill_first_name,
    record_consent,
    save_name_and_timezone,
    set_email,
)
from bot.store.webhook_events import record_webhook_event

AnyEffect = FlowEffect | Effect
COMPLETED = "completed"  # the end reason of a flow that reached its end
# The consent entry that tells receivers of a status change: (kind, new status) → event.
_CONSENT_NEWS = {
    (ConsentKind.OPT_IN, SubscriberStatus.SUBSCRIBED): WebhookEventType.SUBSCRIBED,
    (ConsentKind.OPT_OUT, SubscriberStatus.UNSUBSCRIBED): WebhookEventType.OPTED_OUT,
}


def apply_effects(
    turn: Turn,
    effects: Iterable[AnyEffect],
    *,
    flow: str | None = None,  # the flow that asked (its texts' links and answers name it)
    conversation_id: int | None = None,  # where answers and step visits are recorded
) -> list[QueuedText]:
    """Apply effects in order (a status change comes before the texts it governs).

    Returns the texts queued, which `turn.queued` also gains. Effects that steer flows rather
    than rows (start a flow, call an action) are the host's, and those about the flow's own
    row are `apply_flow_turn`'s: both are passed over here.
    """
    queued: list[QueuedText] = []
    subscriber = turn.subscriber
    profile_changed = name_or_zone_changed = False
    status_changed = False  # in this batch: its consent entry tells webhooks
    email_changed = False
    consent_news: list[tuple[WebhookEventType, str | None]] = []  # and its keyword
    visits: list[str] = []
    for effect in effects:
        match effect:
            case Send():
                queued.append(_queue(turn, effect, flow))
            case ChangeStatus(status=status):
                if status is SubscriberStatus.UNSUBSCRIBED and subscriber.status is not status:
                    # Nobody may text them now: they leave the agents' queue, texts and all.
                    chat_closed(
                        turn.connection,
                        subscriber_id=subscriber.id,
                        now=turn.now,
                        outcome="opted out",
                    )
                status_changed = status_changed or subscriber.status is not status
                change_status(turn.connection, subscriber, status, turn.now)
            case RecordConsent(kind=kind, keyword=keyword):
                record_consent(
                    turn.connection,
                    subscriber,
                    kind=kind,
                    source=turn.source,
                    now=turn.now,
                    keyword=keyword,
                    text=turn.consent_text,
                    message_id=turn.inbound_id,
                )
                news = _CONSENT_NEWS.get((kind, subscriber.status))
                if news is not None and status_changed:
                    consent_news.append((news, keyword))
            case FillFirstName(name=name):
                fill_first_name(turn.connection, subscriber, name, turn.now)
            case SetFirstName(name=name):
                subscriber.first_name = name
                name_or_zone_changed = True
            case SetTimezone(zone=zone):
                subscriber.timezone = zone
                name_or_zone_changed = True
            case SetAttributes(values=values):
                subscriber.attributes.update(values)
                profile_changed = True
            case DropAttributes(names=names):
                for name in names:
                    subscriber.attributes.pop(name, None)
                profile_changed = True
            case ChangeTags(add=add, remove=remove):
                tags = [tag for tag in subscriber.tags if tag not in remove]
                tags.extend(tag for tag in add if tag not in tags)
                subscriber.tags[:] = tags
                profile_changed = True
            case RecordAnswer(step=step, name=name, value=value):
                assert flow is not None and conversation_id is not None, "an answer needs its flow"
                record_answer(
                    turn.connection,
                    conversation_id=conversation_id,
                    subscriber_id=subscriber.id,
                    phone=subscriber.phone,
                    flow=flow,
                    step=step,
                    name=name,
                    value=value,
                    now=turn.now,
                )
                answer = {"flow": flow, "step": step, "name": name, "value": value}
                _tell(turn, WebhookEventType.ANSWER_RECORDED, answer)
            case SetEmail(address=address):
                email_changed = email_changed or subscriber.email != address
                set_email(turn.connection, subscriber, address, turn.now)
            case EnterStep(step=step):
                visits.append(step)
            case QueueForAgents():
                _queue_for_agents(turn, effect, queued[-1] if queued else None)
    if visits:
        assert flow is not None and conversation_id is not None, "a visit needs its flow"
        record_visits(turn.connection, conversation_id, flow, visits, turn.now)
    if profile_changed:
        save_profile(turn.connection, subscriber, turn.now)
    if name_or_zone_changed:
        save_name_and_timezone(turn.connection, subscriber, turn.now)
    if email_changed:
        # The e-mail tool hears of a new address now, not at the person's next opt-out.
        _tell(turn, WebhookEventType.UPDATED, subscriber.event_data(changed=["email"]))
    for news, keyword in consent_news:
        # Told once the batch is applied: with the profile that came with the consent.
        _tell(turn, news, subscriber.event_data(source=turn.source, keyword=keyword))
    turn.queued.extend(queued)
    return queued


def apply_flow_turn(
    turn: Turn,
    *,
    flow: str,
    state: FlowState | None,  # where the flow now stands; None: it ended
    effects: Iterable[FlowEffect],
    conversation: ActiveConversation | None,  # None: the effects open a new conversation
    opening_state: FlowState | None = None,  # a new conversation's state if `state` is None
) -> int:
    """Write one flow's turn: its conversation row (opened, moved on or ended), then its
    effects; returns the conversation's id and leaves `turn.conversation` current."""
    effects = tuple(effects)
    row = _RowChanges.of(effects, conversation)
    if conversation is None:
        written = state or opening_state
        assert written is not None, "a new conversation needs a state"
        # Written once, as the first turn left it: no insert-then-update.
        conversation_id = _open(turn, written, row)
    else:
        conversation_id = conversation.id
    apply_effects(turn, effects, flow=flow, conversation_id=conversation_id)
    if conversation is not None:
        _save(turn, conversation, state, row)
    if row.handoff_reason is not None:
        chat_queued(
            turn.connection,
            subscriber_id=turn.subscriber.id,
            conversation_id=conversation_id,
            now=turn.now,
        )
        _tell(turn, WebhookEventType.HANDOFF, {"flow": flow, "reason": row.handoff_reason})
        turn.ask_for_assignment()
    if row.end_reason == COMPLETED:
        # The state held every earlier answer; this turn's are its effects (no read-back).
        answers = dict(conversation.state.answers) if conversation is not None else {}
        answers.update((e.name, e.value) for e in effects if isinstance(e, RecordAnswer))
        _tell(turn, WebhookEventType.FLOW_COMPLETED, {"flow": flow, "answers": answers})
    return conversation_id


def claim_once_per_person(turn: Turn, key: str) -> bool:
    """Claim what the person may get only once (a welcome coupon); False if they had it."""
    return issue_once(turn.connection, subscriber_id=turn.subscriber.id, key=key, now=turn.now)


def end_active(turn: Turn, reason: str) -> None:
    """End the turn's active conversation (STOP, an interruption, a removed flow)."""
    if turn.conversation is not None:
        connection, subscriber_id = turn.connection, turn.subscriber.id
        # A chat waiting for (or held by) an agent leaves the queue with its conversation,
        # unless texts of the person's still wait there.
        if turn.conversation.handled_by is not HandledBy.BOT and not has_open(
            connection, subscriber_id
        ):
            chat_closed(connection, subscriber_id=subscriber_id, now=turn.now, outcome=reason)
        end_conversation(connection, turn.conversation.id, reason, turn.now)
        turn.conversation = None


def _tell(turn: Turn, event_type: WebhookEventType, data: dict[str, Any]) -> None:
    """Record a webhook event about the turn's person, in the turn's transaction."""
    phone = turn.subscriber.phone
    record_webhook_event(turn.connection, event_type, phone=phone, data=data, now=turn.now)


def _queue(turn: Turn, send: Send, flow: str | None) -> QueuedText:
    """Log a text as the send policy decides; URLs within its brand spans become links."""
    return queue_text(
        turn.connection,
        turn.subscriber,
        body=send.body,
        purpose=send.purpose,
        delivery=turn.delivery,
        now=turn.now,
        rules=turn.rules,
        media_urls=send.media_urls,
        in_reply_to_id=turn.inbound_id,
        flow=flow,
        agent_id=turn.agent_id,
        replying=turn.replying,
        brand_spans=send.brand_spans,
        public_url=turn.public_url,
        external_id=send.external_id,
    )


def _queue_for_agents(turn: Turn, effect: QueueForAgents, last: QueuedText | None) -> None:
    assert turn.inbound_id is not None, "only a text someone sent can wait for a human"
    acknowledgement = last if effect.acknowledged and last is not None else None
    record_unanswered(
        turn.connection,
        message_id=turn.inbound_id,
        subscriber_id=turn.subscriber.id,
        phone=turn.subscriber.phone,
        flow=effect.flow,
        step=effect.step,
        context=effect.context,
        acknowledgement_id=(
            None if acknowledgement is None or acknowledgement.suppressed else acknowledgement.id
        ),
        opted_out=turn.subscriber.status is SubscriberStatus.UNSUBSCRIBED,
        now=turn.now,
    )
    chat_queued(
        turn.connection,
        subscriber_id=turn.subscriber.id,
        conversation_id=turn.conversation.id if turn.conversation is not None else None,
        now=turn.now,
    )
    turn.ask_for_assignment()


def _open(turn: Turn, state: FlowState, row: _RowChanges) -> int:
    conversation_id = open_conversation(
        turn.connection,
        subscriber=turn.subscriber,
        state=state,
        now=turn.now,
        expires_at=row.expires_at,
        wake=row.wake,
        handoff_reason=row.handoff_reason,
        end_reason=row.end_reason,
    )
    # A flow that ended in its first turn leaves an ended row and no active conversation.
    turn.conversation = (
        None
        if row.end_reason is not None
        else ActiveConversation(
            conversation_id,
            state.flow,
            HandledBy.BOT if row.handoff_reason is None else HandledBy.WAITING_FOR_AGENT,
            state,
            turn.subscriber.phone,
            row.expires_at,
            row.wake,
        )
    )
    return conversation_id


def _save(
    turn: Turn, conversation: ActiveConversation, state: FlowState | None, row: _RowChanges
) -> None:
    if row.end_reason is not None or state is None:
        end_conversation(turn.connection, conversation.id, row.end_reason or COMPLETED, turn.now)
        turn.conversation = None
        return
    conversation.state = state
    conversation.expires_at = row.expires_at
    conversation.wake = row.wake
    save_state(turn.connection, conversation, turn.now, handoff_reason=row.handoff_reason)
    turn.conversation = conversation


@dataclass(frozen=True)
class _RowChanges:
    """What a turn's effects do to the conversation row itself."""

    expires_at: datetime | None  # a paused flow waits for an answer only until this
    wake: Wake | None
    handoff_reason: str | None
    end_reason: str | None

    @classmethod
    def of(
        cls, effects: Iterable[FlowEffect], conversation: ActiveConversation | None
    ) -> _RowChanges:
        wake = conversation.wake if conversation is not None else None
        expires_at = None
        handoff_reason = end_reason = None
        for effect in effects:
            match effect:
                case ScheduleTimer(kind=TimerKind.EXPIRY, due_at=due_at):
                    expires_at = due_at
                case ScheduleTimer(kind=kind, due_at=due_at):
                    wake = Wake(kind, due_at)
                case CancelTimers(kind=kind):
                    if wake is not None and kind in (None, wake.kind):
                        wake = None
                case HandOff(reason=reason):
                    handoff_reason = reason
                case EndFlow(reason=reason):
                    end_reason = reason
        return cls(expires_at, wake, handoff_reason, end_reason)

"""Runs flows for the conversation service: routes texts and events, applies the effects."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Connection

from bot.actions.base import ActionError, ActionRequest, ActionResult, ActionRunner
from bot.conversations.flow_registry import FlowRegistry
from bot.conversations.unanswered import Situation, has_open, last_conversation, record_unanswered
from bot.domain.compliance import ComplianceTexts
from bot.domain.effects import (
    CallAction,
    CancelTimers,
    ChangeTags,
    EndFlow,
    EnterStep,
    HandOff,
    RecordAnswer,
    ScheduleTimer,
    Send,
    SetAttributes,
    StartFlow,
)
from bot.domain.pleasantries import needs_a_human
from bot.domain.policy import DEFAULT_RULES, PolicyRules
from bot.domain.urls import Span
from bot.domain.vocabulary import Delivery, HandledBy, Purpose, SubscriberStatus
from bot.engine import runtime
from bot.engine.inputs import ActionCompleted, EventArrived, Input, Reply
from bot.engine.model import RESTART_ALWAYS, Flow
from bot.engine.state import FlowState
from bot.engine.steps.action import ActionStep
from bot.engine.steps.base import Waiting
from bot.engine.templates import Filled
from bot.sending.outbox import queue_text
from bot.store.conversations import (
    ActiveConversation,
    Wake,
    end_conversation,
    last_started,
    open_conversation,
    record_answer,
    record_visits,
    save_profile,
    save_state,
)
from bot.store.messages import QueuedText, latest_inbound_text
from bot.store.subscribers import SubscriberRow

log = logging.getLogger(__name__)

HUMAN_FLOW = "inbox"  # the conversation an agent opens to talk with someone outside any flow
MAX_CHAINED_FLOWS = 5  # start_flow chains deeper than this are a mistake, not a feature


@dataclass(frozen=True)
class PendingAction:
    """An action a stored turn left its conversation waiting for: call it, then complete it."""

    conversation_id: int
    flow: str
    step: str
    request: ActionRequest
    wake: Wake  # the conversation's timer while it waits: tells this call from a later one
    inbound: tuple[int, str] | None = None  # the text the turn answered: its id and body
    depth: int = 0  # how deep in start_flow chains the flow that calls it is


@dataclass(frozen=True)
class GaveUp:
    """A flow that ended because it could not take the person's text: who a human answers for."""

    flow: str
    state: FlowState  # where it stood when the text came
    reason: str  # "no valid answer", "flow removed"


@dataclass
class Turn:
    """One transaction's worth of flow work: where texts go and what was queued.

    `conversation` is the subscriber's active conversation, read with the subscriber's lock
    (see conversations.claim); the host keeps it current as flows start, move and end.
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
    action: PendingAction | None = None  # an action to call once the turn is stored
    gave_up: GaveUp | None = None  # the flow this turn's text ended without being understood

    def waiting_action(self) -> PendingAction | None:
        """The action the turn left its conversation waiting for, unless it moved on since."""
        action, conversation = self.action, self.conversation
        if action is None or conversation is None or conversation.id != action.conversation_id:
            return None  # that flow ended (or was interrupted) later in the turn
        return action


class FlowHost:
    """The one place flow effects become rows, outbox texts and timers."""

    def __init__(
        self,
        *,
        registry: FlowRegistry,
        texts: ComplianceTexts,
        actions: ActionRunner | None,
        unexpected_reply: str,  # the default acknowledgement (settings.UNEXPECTED_REPLY)
    ) -> None:
        self.registry = registry
        self.texts = texts
        self.actions = actions
        self.unexpected_reply = unexpected_reply  # "" for none

    def on_text(self, turn: Turn, text: str) -> bool:
        """Give a text that is not a consent keyword to flows; False when no flow could take it.

        A flow that ended on the text without taking it (out of retries, edited away) could
        not take it either: it is noted in `turn.gave_up`, for the agents' queue.
        """
        catalog = self.registry.catalog()
        active = turn.conversation
        by_keyword = self._startable(turn, catalog.for_keyword(text))
        if active is not None and active.handled_by is not HandledBy.BOT:
            return True  # a human has (or is about to have) this conversation: the bot is quiet
        if active is not None:
            flow = catalog.flows.get(active.flow)
            if by_keyword is not None and (flow is None or flow.settings.interruptible):
                self._end(turn, f"interrupted by {by_keyword.name}")
                self.start(turn, by_keyword)
                return True
            if flow is None:
                turn.gave_up = GaveUp(active.flow, active.state, "flow removed")
                self._end(turn, "flow removed")
                turn.queued.append(self._send(turn, runtime.FLOW_CHANGED_TEXT, Purpose.REPLY))
                return False
            return self.resume(turn, flow, active, Reply(text))
        flow = by_keyword or self._startable(turn, catalog.for_intent(text))
        if flow is None:
            return False
        self.start(turn, flow)
        return True

    def on_event(self, turn: Turn, event_type: str, data: Mapping[str, Any]) -> None:
        """Deliver an event: it may end the active flow, and it starts the flows it triggers."""
        catalog = self.registry.catalog()
        active = turn.conversation
        if active is not None:
            flow = catalog.flows.get(active.flow)
            if flow is not None and event_type in flow.settings.cancel_on:
                self.resume(turn, flow, active, EventArrived(event_type, data))
                active = turn.conversation
        for flow in catalog.for_event(event_type):
            if not self.may_start(turn, flow, event_type):
                continue
            if active is not None:
                current = catalog.flows.get(active.flow)
                if current is not None and not current.settings.interruptible:
                    log.info(
                        "%s: %s not started, %s may not be interrupted",
                        turn.subscriber.phone,
                        flow.name,
                        current.name,
                    )
                    continue
                self._end(turn, f"interrupted by {flow.name}")
            self.start(turn, flow, origin="event", event=data)
            active = turn.conversation

    def may_start(self, turn: Turn, flow: Flow, event: str | None = None) -> bool:
        """Whether a trigger (`event`; None for a text) may start `flow` for this person now."""
        rule = flow.triggers.restart_for(event)
        if rule == RESTART_ALWAYS:
            return True  # nothing to look up
        if rule.allows(last_started(turn.connection, turn.subscriber.id, flow.name), turn.now):
            return True
        log.info("%s: %s not started again (its restart rule)", turn.subscriber.phone, flow.name)
        return False

    def _startable(self, turn: Turn, flow: Flow | None) -> Flow | None:
        """The flow a text's keyword or intent names, unless its restart rule holds it back."""
        return flow if flow is not None and self.may_start(turn, flow) else None

    def ask_for_human(
        self,
        turn: Turn,
        text: str,
        *,
        with_media: bool = False,
        situation: Situation | None = None,  # None: worked out from the turn
    ) -> None:
        """Queue a text no step could take for the agents, and tell the person (once).

        The flow the person is in, if any, is left as it was: a welcome series waiting a day
        still sends its next text. "ok", "thanks" and 👍 need nobody and are left alone.
        """
        if not with_media and not needs_a_human(text):
            return
        assert turn.inbound_id is not None, "only a text someone sent can wait for a human"
        subscriber = turn.subscriber
        acknowledgement_id = None
        # One acknowledgement per open item: a second text before an agent came gets none.
        if subscriber.status is not SubscriberStatus.UNSUBSCRIBED and not has_open(
            turn.connection, subscriber.id
        ):
            acknowledgement_id = self._acknowledge(turn)
        record_unanswered(
            turn.connection,
            message_id=turn.inbound_id,
            subscriber_id=subscriber.id,
            phone=subscriber.phone,
            situation=situation or self._situation(turn),
            acknowledgement_id=acknowledgement_id,
            now=turn.now,
        )

    def _acknowledge(self, turn: Turn) -> int | None:
        """Text the wording the person's flow (or the operator) chose; the message id, if sent."""
        # A flow that just gave up on the text still chose how its people are answered.
        where = turn.conversation or turn.gave_up
        flow = self.registry.catalog().flows.get(where.flow) if where is not None else None
        body = None
        if flow is not None and where is not None:
            body = runtime.unexpected_reply(flow, where.state, self._context(turn))
        if body is None:
            flow, body = None, Filled.written(self.unexpected_reply)
        if not body.text:
            return None  # the operator chose silence
        queued = self._send(
            turn,
            body.text,
            Purpose.REPLY,
            flow=flow.name if flow else None,
            brand_spans=body.brand_spans,
        )
        turn.queued.append(queued)
        return None if queued.suppressed else queued.id

    def _situation(self, turn: Turn) -> Situation:
        """Where the person stood, for the agent who picks the text up."""
        active = turn.conversation
        if active is not None:
            step = active.state.step
            return Situation(active.flow, step, f"sent while {active.flow} waited at {step}")
        if turn.gave_up is not None:
            flow, step = turn.gave_up.flow, turn.gave_up.state.step
            return Situation(flow, step, f"{flow} ended on it at {step}: {turn.gave_up.reason}")
        flow, step, ended = last_conversation(turn.connection, turn.subscriber.id)
        if not flow:
            return Situation(None, None, "no flow understood it")
        return Situation(flow, step, f"no flow understood it; {flow} had ended ({ended})")

    def end_active(self, turn: Turn, reason: str) -> None:
        """End whatever flow the subscriber is in (STOP), timers and all."""
        if turn.conversation is not None:
            self._end(turn, reason)

    def _end(self, turn: Turn, reason: str) -> None:
        assert turn.conversation is not None
        end_conversation(turn.connection, turn.conversation.id, reason, turn.now)
        turn.conversation = None

    def start(
        self,
        turn: Turn,
        flow: Flow,
        *,
        origin: str = "person",
        event: Mapping[str, Any] | None = None,
        depth: int = 0,
    ) -> None:
        """Begin a flow in a new conversation."""
        outcome = runtime.start(flow, self._context(turn, event), origin=origin)
        self._apply(turn, flow, None, outcome, depth, origin=origin, event=event)

    def resume(
        self, turn: Turn, flow: Flow, conversation: ActiveConversation, event: Input, depth: int = 0
    ) -> bool:
        """Hand a paused flow its input; False when its step cannot take it.

        Either nothing changes, or the flow ends without understanding it (`turn.gave_up`).
        """
        before = conversation.state
        outcome = runtime.resume(flow, before, event, self._context(turn))
        if not outcome.taken:
            return False
        self._apply(turn, flow, conversation, outcome, depth)
        if not outcome.understood:
            reason = next(e.reason for e in outcome.effects if isinstance(e, EndFlow))
            turn.gave_up = GaveUp(flow.name, before, reason)
            return False
        return True

    def _context(self, turn: Turn, event: Mapping[str, Any] | None = None) -> runtime.Context:
        profile = turn.subscriber
        return runtime.Context(
            now=turn.now,
            phone=turn.subscriber.phone,
            brand=self.texts.brand,
            support=self.texts.support,
            first_name=profile.first_name,
            attributes=profile.attributes,
            event=event,
        )

    def _apply(
        self,
        turn: Turn,
        flow: Flow,
        conversation: ActiveConversation | None,  # None: the outcome starts a new one
        outcome: runtime.Outcome,
        depth: int,
        *,
        origin: str = "person",
        event: Mapping[str, Any] | None = None,
    ) -> None:
        row = _RowChanges.of(outcome, conversation)
        if conversation is None:
            # Written once, as the first turn left it: no insert-then-update.
            state = outcome.state or runtime.initial_state(
                flow, turn.now, origin=origin, event=event
            )
            conversation_id = self._open(turn, state, row)
        else:
            state = conversation.state  # as the turn found it: origin and event stay put
            conversation_id = conversation.id
        connection = turn.connection
        action: CallAction | None = None
        next_flow: str | None = None
        profile_changed = False
        visits: list[str] = []
        for effect in outcome.effects:
            match effect:
                case Send(
                    body=body, purpose=purpose, media_urls=media_urls, brand_spans=brand_spans
                ):
                    turn.queued.append(
                        queue_text(
                            connection,
                            turn.subscriber,
                            body=body,
                            purpose=purpose,
                            delivery=turn.delivery,
                            now=turn.now,
                            rules=turn.rules,
                            media_urls=media_urls,
                            in_reply_to_id=turn.inbound_id,
                            flow=flow.name,
                            brand_spans=brand_spans,
                            public_url=turn.public_url,
                        )
                    )
                case SetAttributes(values=values):
                    turn.subscriber.attributes.update(values)
                    profile_changed = True
                case ChangeTags(add=add, remove=remove):
                    tags = [tag for tag in turn.subscriber.tags if tag not in remove]
                    tags.extend(tag for tag in add if tag not in tags)
                    turn.subscriber.tags[:] = tags
                    profile_changed = True
                case RecordAnswer(step=step, name=name, value=value):
                    record_answer(
                        connection,
                        conversation_id=conversation_id,
                        subscriber_id=turn.subscriber.id,
                        phone=turn.subscriber.phone,
                        flow=flow.name,
                        step=step,
                        name=name,
                        value=value,
                        now=turn.now,
                    )
                case EnterStep(step=step):
                    visits.append(step)
                case CallAction():
                    action = effect
                case StartFlow(name=name):
                    next_flow = name
        record_visits(connection, conversation_id, flow.name, visits, turn.now)
        if conversation is not None:
            self._save(turn, conversation, outcome.state, row)
        if profile_changed:
            save_profile(connection, turn.subscriber, turn.now)
        if action is not None and turn.conversation is not None:
            self._await_action(turn, flow, turn.conversation, action, depth)
        if next_flow is not None:
            self._chain(turn, flow, next_flow, depth, state)

    def _open(self, turn: Turn, state: FlowState, row: _RowChanges) -> int:
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
        self,
        turn: Turn,
        conversation: ActiveConversation,
        state: FlowState | None,
        row: _RowChanges,
    ) -> None:
        if row.end_reason is not None or state is None:
            end_conversation(
                turn.connection, conversation.id, row.end_reason or "completed", turn.now
            )
            turn.conversation = None
            return
        conversation.state = state
        conversation.expires_at = row.expires_at
        conversation.wake = row.wake
        save_state(turn.connection, conversation, turn.now, handoff_reason=row.handoff_reason)
        turn.conversation = conversation

    def _await_action(
        self,
        turn: Turn,
        flow: Flow,
        conversation: ActiveConversation,
        action: CallAction,
        depth: int,
    ) -> None:
        """Leave the call for after the commit: a write transaction must not wait on a network."""
        assert conversation.wake is not None  # the action step's timer: see steps/action.py
        profile = turn.subscriber
        request = ActionRequest(
            action=action.name,
            phone=profile.phone,
            slots={
                **({"first_name": profile.first_name} if profile.first_name else {}),
                **profile.attributes,
                **conversation.state.answers,
            },
            # After a wait or an event, the latest text is an earlier one: look it up.
            latest_message=(
                turn.text
                if turn.text is not None
                else latest_inbound_text(turn.connection, profile.phone)
            ),
            flow=flow.name,
            step=action.step,
        )
        inbound = None if turn.inbound_id is None else (turn.inbound_id, turn.text or "")
        turn.action = PendingAction(
            conversation.id, flow.name, action.step, request, conversation.wake, inbound, depth
        )

    def call_action(self, pending: PendingAction) -> ActionResult | ActionError:
        """Run the action (a network call, for an action server): never inside a transaction."""
        try:
            if self.actions is None:
                raise ActionError(f"no action runner is configured for {pending.request.action!r}")
            return self.actions.run(pending.request)
        except ActionError as error:
            return error

    def complete_action(
        self, turn: Turn, pending: PendingAction, outcome: ActionResult | ActionError
    ) -> None:
        """Send the action's texts, keep its slots and go on, if the flow still waits for it.

        A flow that moved on during the call (STOP, an agent took the chat, the step was edited
        away, a later call was made) drops the result; a flow still on the step but with an
        agent is called again by the step's timer once the agent hands back.
        """
        conversation = turn.conversation
        flow = self.registry.catalog().flows.get(pending.flow)
        if conversation is None or flow is None or not _waits_for(conversation, flow, pending):
            log.info("%s: the flow moved on; result dropped", pending.request.describe())
            return
        if isinstance(outcome, ActionError):
            log.error("flow %s step %s: %s", flow.name, pending.step, outcome)
            self._end(turn, f"action {pending.request.action} failed")
            return
        purpose = runtime.purpose_for(flow, conversation.state.origin)
        # Pictures the action sent go with its last text (an MMS), or alone without one.
        bodies = list(outcome.texts) or ([""] if outcome.media_urls else [])
        for position, body in enumerate(bodies, 1):
            media = outcome.media_urls if position == len(bodies) else ()
            turn.queued.append(self._send(turn, body, purpose, flow=flow.name, media_urls=media))
        if outcome.slot_updates:
            turn.subscriber.attributes.update(outcome.slot_updates)
            save_profile(turn.connection, turn.subscriber, turn.now)
        completed = ActionCompleted(pending.step, outcome.slot_updates)
        self.resume(turn, flow, conversation, completed, pending.depth)

    def _chain(
        self,
        turn: Turn,
        flow: Flow,
        next_flow: str,
        depth: int,
        started_by: FlowState,
    ) -> None:
        target = self.registry.catalog().flows.get(next_flow)
        if target is None or depth >= MAX_CHAINED_FLOWS:
            log.error("flow %s: cannot start flow %r", flow.name, next_flow)
            return
        # The next flow carries on for the same reason as this one: an event's data and its
        # transactional standing go with it.
        self.start(turn, target, origin=started_by.origin, event=started_by.event, depth=depth + 1)

    def _send(
        self,
        turn: Turn,
        body: str,
        purpose: Purpose,
        *,
        flow: str | None = None,
        media_urls: tuple[str, ...] = (),
        brand_spans: tuple[Span, ...] = (),
    ) -> QueuedText:
        """Queue a text of this turn; URLs within `brand_spans` become tracked links."""
        return queue_text(
            turn.connection,
            turn.subscriber,
            body=body,
            purpose=purpose,
            delivery=turn.delivery,
            now=turn.now,
            rules=turn.rules,
            media_urls=media_urls,
            in_reply_to_id=turn.inbound_id,
            flow=flow,
            brand_spans=brand_spans,
            public_url=turn.public_url,
        )


@dataclass(frozen=True)
class _RowChanges:
    """What a turn's effects do to the conversation row itself."""

    expires_at: datetime | None  # a paused flow waits for an answer only until this
    wake: Wake | None
    handoff_reason: str | None
    end_reason: str | None

    @classmethod
    def of(cls, outcome: runtime.Outcome, conversation: ActiveConversation | None) -> _RowChanges:
        wake = conversation.wake if conversation is not None else None
        expires_at = None
        handoff_reason = end_reason = None
        for effect in outcome.effects:
            match effect:
                case ScheduleTimer(kind="expiry", due_at=due_at):
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


def _waits_for(conversation: ActiveConversation, flow: Flow, pending: PendingAction) -> bool:
    """Whether the conversation is still on the action step, waiting for this very call."""
    step = flow.step(pending.step)
    return (
        conversation.id == pending.conversation_id
        and conversation.handled_by is HandledBy.BOT
        and conversation.state.step == pending.step
        and conversation.state.waiting == Waiting.ACTION.value
        and conversation.wake == pending.wake
        and isinstance(step, ActionStep)
        and step.name == pending.request.action
    )

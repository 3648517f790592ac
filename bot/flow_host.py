"""Runs flows for the conversation service: routes texts and events, applies the effects."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Connection

from bot.actions.base import ActionError, ActionRequest, ActionRunner
from bot.compliance import ComplianceTexts
from bot.conversations import (
    ActiveConversation,
    active_conversation,
    cancel_timers,
    end_conversation,
    open_conversation,
    record_answer,
    record_visits,
    save_profile,
    save_state,
    schedule_timer,
    set_handled_by,
)
from bot.effects import (
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
from bot.engine import runtime
from bot.engine.inputs import ActionCompleted, EventArrived, Input, Reply
from bot.engine.model import Flow
from bot.engine.state import FlowState
from bot.engine.steps.base import Waiting
from bot.flow_registry import FlowRegistry
from bot.models import Delivery, HandledBy, Purpose
from bot.outbox import QueuedText, queue_text
from bot.policy import DEFAULT_RULES, PolicyRules
from bot.subscribers import SubscriberRow

log = logging.getLogger(__name__)

HUMAN_FLOW = "inbox"  # the conversation opened for a text no flow wanted: a human should look
MAX_CHAINED_FLOWS = 5  # start_flow chains deeper than this are a mistake, not a feature


@dataclass
class Turn:
    """One transaction's worth of flow work: where texts go and what was queued."""

    connection: Connection
    subscriber: SubscriberRow
    delivery: Delivery
    now: datetime
    inbound_id: int | None = None
    rules: PolicyRules = DEFAULT_RULES
    queued: list[QueuedText] = field(default_factory=list)
    public_url: str | None = None  # where tracked links point; None leaves URLs as written


class FlowHost:
    """The one place flow effects become rows, outbox texts and timers."""

    def __init__(
        self, *, registry: FlowRegistry, texts: ComplianceTexts, actions: ActionRunner | None
    ) -> None:
        self.registry = registry
        self.texts = texts
        self.actions = actions

    def on_text(self, turn: Turn, text: str) -> bool:
        """Give a text that is not a consent keyword to flows; False when no flow wanted it."""
        catalog = self.registry.catalog()
        active = active_conversation(turn.connection, turn.subscriber.id)
        by_keyword = catalog.for_keyword(text)
        unanswered = (
            active is not None
            and active.flow == HUMAN_FLOW
            and active.handled_by is HandledBy.WAITING_FOR_AGENT
        )
        if unanswered and by_keyword is not None:
            # Nobody picked up the unanswered text yet, and now a flow can help: let it.
            assert active is not None
            end_conversation(turn.connection, active.id, f"answered by {by_keyword.name}")
            active = None
        if active is not None and active.handled_by is not HandledBy.BOT:
            return True  # a human has (or is about to have) this conversation: the bot is quiet
        if active is not None:
            flow = catalog.flows.get(active.flow)
            if by_keyword is not None and (flow is None or flow.settings.interruptible):
                end_conversation(turn.connection, active.id, f"interrupted by {by_keyword.name}")
                self.start(turn, by_keyword)
                return True
            if flow is None:
                end_conversation(turn.connection, active.id, "flow removed")
                turn.queued.append(self._send(turn, runtime.FLOW_CHANGED_TEXT, Purpose.REPLY))
                return True
            self.resume(turn, flow, active, Reply(text))
            return True
        flow = by_keyword or catalog.for_intent(text)
        if flow is None:
            return False
        self.start(turn, flow)
        return True

    def on_event(self, turn: Turn, event_type: str, data: Mapping[str, Any]) -> None:
        """Deliver an event: it may end the active flow, and it starts the flows it triggers."""
        catalog = self.registry.catalog()
        active = active_conversation(turn.connection, turn.subscriber.id)
        if active is not None:
            flow = catalog.flows.get(active.flow)
            if flow is not None and event_type in flow.settings.cancel_on:
                self.resume(turn, flow, active, EventArrived(event_type, data))
                active = None
        for flow in catalog.for_event(event_type):
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
                end_conversation(turn.connection, active.id, f"interrupted by {flow.name}")
            self.start(turn, flow, origin="event", event=data)
            active = active_conversation(turn.connection, turn.subscriber.id)

    def ask_for_human(self, turn: Turn, reason: str) -> None:
        """Park the subscriber with the agents: a conversation no flow runs, waiting for one."""
        state = FlowState(HUMAN_FLOW, "-", None, Waiting.AGENT.value, turn.now)
        conversation_id = open_conversation(
            turn.connection,
            subscriber_id=turn.subscriber.id,
            phone=turn.subscriber.phone,
            state=state,
        )
        set_handled_by(turn.connection, conversation_id, HandledBy.WAITING_FOR_AGENT, reason)

    def end_active(self, turn: Turn, reason: str) -> None:
        """End whatever flow the subscriber is in (STOP), timers and all."""
        active = active_conversation(turn.connection, turn.subscriber.id)
        if active is not None:
            end_conversation(turn.connection, active.id, reason)

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
        placeholder = outcome.state or FlowState(
            flow=flow.name, version=flow.version, step=None, waiting=None, started_at=turn.now
        )
        conversation_id = open_conversation(
            turn.connection,
            subscriber_id=turn.subscriber.id,
            phone=turn.subscriber.phone,
            state=placeholder,
        )
        self._apply(turn, flow, conversation_id, outcome, depth, fresh=True)

    def resume(
        self, turn: Turn, flow: Flow, conversation: ActiveConversation, event: Input, depth: int = 0
    ) -> None:
        """Hand a paused flow its input."""
        outcome = runtime.resume(flow, conversation.state, event, self._context(turn))
        self._apply(turn, flow, conversation.id, outcome, depth)

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
        conversation_id: int,
        outcome: runtime.Outcome,
        depth: int,
        *,
        fresh: bool = False,  # the conversation was opened in this turn: it has no timers yet
    ) -> None:
        connection = turn.connection
        action: CallAction | None = None
        next_flow: str | None = None
        profile_changed = False
        visits: list[str] = []
        expires_at = None  # a paused flow waits for an answer only until this
        for effect in outcome.effects:
            match effect:
                case Send(body=body, purpose=purpose, media_urls=media_urls):
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
                            track_links=True,
                            public_url=turn.public_url,
                        )
                    )
                case ScheduleTimer(kind="expiry", due_at=due_at):
                    expires_at = due_at  # stored with the state, see Conversation.expires_at
                case ScheduleTimer(kind=kind, step=step, due_at=due_at):
                    schedule_timer(
                        connection, conversation_id, kind, step, due_at, replace=not fresh
                    )
                case CancelTimers(kind=kind):
                    cancel_timers(connection, conversation_id, kind)
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
                    )
                case EnterStep(step=step):
                    visits.append(step)
                case HandOff(reason=reason):
                    set_handled_by(connection, conversation_id, HandledBy.WAITING_FOR_AGENT, reason)
                case CallAction():
                    action = effect
                case StartFlow(name=name):
                    next_flow = name
                case EndFlow(reason=reason):
                    # The engine cancels the timers just before it ends a flow.
                    end_conversation(connection, conversation_id, reason, drop_timers=False)
        record_visits(connection, conversation_id, flow.name, visits)
        if outcome.state is not None:
            save_state(connection, conversation_id, outcome.state, expires_at)
        if profile_changed:
            save_profile(connection, turn.subscriber)
        if action is not None and outcome.state is not None:
            self._run_action(turn, flow, conversation_id, outcome.state, action, depth)
        if next_flow is not None:
            self._chain(turn, flow, next_flow, depth)

    def _run_action(
        self,
        turn: Turn,
        flow: Flow,
        conversation_id: int,
        state: FlowState,
        action: CallAction,
        depth: int,
    ) -> None:
        try:
            if self.actions is None:
                raise ActionError(f"no action runner is configured for {action.name!r}")
            result = self.actions.run(
                ActionRequest(
                    action=action.name,
                    phone=turn.subscriber.phone,
                    slots={**turn.subscriber.attributes, **state.answers},
                    latest_message=None,
                    flow=flow.name,
                    step=action.step,
                )
            )
        except ActionError as error:
            log.error("flow %s step %s: %s", flow.name, action.step, error)
            end_conversation(turn.connection, conversation_id, f"action {action.name} failed")
            return
        purpose = runtime.purpose_for(flow, state.origin)
        for body in result.texts:
            turn.queued.append(self._send(turn, body, purpose))
        if result.slot_updates:
            turn.subscriber.attributes.update(result.slot_updates)
            save_profile(turn.connection, turn.subscriber)
        conversation = ActiveConversation(conversation_id, flow.name, HandledBy.BOT, state)
        self.resume(
            turn, flow, conversation, ActionCompleted(action.step, result.slot_updates), depth
        )

    def _chain(self, turn: Turn, flow: Flow, next_flow: str, depth: int) -> None:
        target = self.registry.catalog().flows.get(next_flow)
        if target is None or depth >= MAX_CHAINED_FLOWS:
            log.error("flow %s: cannot start flow %r", flow.name, next_flow)
            return
        self.start(turn, target, depth=depth + 1)

    def _send(self, turn: Turn, body: str, purpose: Purpose) -> QueuedText:
        return queue_text(
            turn.connection,
            turn.subscriber,
            body=body,
            purpose=purpose,
            delivery=turn.delivery,
            now=turn.now,
            rules=turn.rules,
            in_reply_to_id=turn.inbound_id,
            track_links=True,
            public_url=turn.public_url,
        )

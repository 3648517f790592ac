"""Runs flows for the conversation service: routes texts, events, timers and call results."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import replace
from datetime import timedelta
from typing import Any

from bot.accounts.presence import available_agents
from bot.actions.base import ActionError, ActionRequest, ActionResult, ActionRunner
from bot.actions.http_calls import HttpCaller
from bot.conversations.apply import (
    apply_effects,
    apply_flow_turn,
    claim_once_per_person,
    end_active,
)
from bot.conversations.flow_registry import FlowRegistry
from bot.conversations.turn import GaveUp, PendingAction, Turn
from bot.conversations.unanswered import has_open, last_conversation
from bot.domain.compliance import ComplianceTexts
from bot.domain.effects import (
    CallAction,
    CallHttp,
    EndFlow,
    QueueForAgents,
    Send,
    SetAttributes,
    StartFlow,
)
from bot.domain.http_calls import HttpReply, HttpRequest
from bot.domain.pleasantries import needs_a_human
from bot.domain.policy import decide_consent
from bot.domain.vocabulary import HandledBy, Purpose, SubscriberStatus
from bot.engine import runtime
from bot.engine.inputs import ActionCompleted, EventArrived, Input, Reply
from bot.engine.model import RESTART_ALWAYS, Flow
from bot.engine.offers import Offer
from bot.engine.state import FlowState, Origin, Waiting
from bot.engine.steps.action import ActionStep
from bot.engine.steps.base import Step
from bot.engine.steps.http import HttpStep
from bot.engine.templates import Filled
from bot.store.conversations import ActiveConversation, last_started
from bot.store.messages import latest_inbound_text
from bot.store.subscribers import requested_with

log = logging.getLogger(__name__)
DEFAULT_AWAY_AFTER = timedelta(minutes=15)  # settings.AGENT_AWAY_MINUTES' default

HUMAN_FLOW = "inbox"  # the conversation an agent opens to talk with someone outside any flow
MAX_CHAINED_FLOWS = 5  # start_flow chains deeper than this are a mistake, not a feature


class FlowHost:
    """Decides which flow a text, event, timer or call result goes to, and runs it.

    The engine answers with effects; `bot.conversations.apply` writes them.
    """

    def __init__(
        self,
        *,
        registry: FlowRegistry,
        texts: ComplianceTexts,
        actions: ActionRunner | None,
        unexpected_reply: str,  # the default acknowledgement (settings.UNEXPECTED_REPLY)
        http: HttpCaller | None = None,  # makes http steps' calls
        away_after: timedelta = DEFAULT_AWAY_AFTER,  # settings.AGENT_AWAY_MINUTES
    ) -> None:
        self.registry = registry
        self.texts = texts
        self.actions = actions
        self.unexpected_reply = unexpected_reply  # "" for none
        self.http = http
        self.away_after = away_after

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
                end_active(turn, f"interrupted by {by_keyword.name}")
                self.start(turn, by_keyword)
                return True
            if flow is None:
                turn.gave_up = GaveUp(active.flow, active.state, "flow removed")
                end_active(turn, "flow removed")
                self._say(turn, runtime.FLOW_CHANGED_TEXT, Purpose.REPLY)
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
                end_active(turn, f"interrupted by {flow.name}")
            self.start(turn, flow, origin=Origin.EVENT, event=data)
            active = turn.conversation

    def offer_for(self, text: str) -> Offer | None:
        """The keyword offer a text asks for (WIN), if it names one."""
        return self.registry.catalog().for_offer(text)

    def start_offer_joined_for(self, turn: Turn) -> bool:
        """Start the offer a person just confirmed their subscription for (they texted its
        keyword, were invited, replied Y); False when they joined for no offer.

        The offer takes the place of the `subscribed` flows (the welcome series): one
        conversation at a time, and it is what they asked for.
        """
        keyword = requested_with(turn.connection, turn.subscriber.id)
        catalog = self.registry.catalog()
        offer = catalog.for_offer(keyword) if keyword else None
        flow = catalog.flows.get(offer.flow) if offer is not None else None
        if flow is None:
            return False
        if self.may_start(turn, flow):
            end_active(turn, f"interrupted by {flow.name}")
            self.start(turn, flow)
        return True

    def may_start(self, turn: Turn, flow: Flow, event: str | None = None) -> bool:
        """Whether a trigger (`event`; None for a text) may start `flow` for this person now."""
        held_back = _restart_refusal(turn, flow, event)
        if held_back is None:
            return True
        log.info("%s: %s not started again (%s)", turn.subscriber.phone, flow.name, held_back)
        return False

    def start_on_request(self, turn: Turn, flow: Flow, data: Mapping[str, Any]) -> str | None:
        """Start `flow` for the person because the brand's systems ask; None if it started,
        else why not.

        It starts as an event starts a flow (its texts inform, unless the flow is promotional)
        when the send policy's consent rule lets its texts through, no human has the chat, the
        flow the person is in may be interrupted, and the flow's restart rule allows it.
        """
        consent = decide_consent(runtime.purpose_for(flow, Origin.EVENT), turn.subscriber.status)
        if not consent.allowed:
            return f"the send policy would suppress its texts ({consent.reason})"
        active = turn.conversation
        if active is not None and active.handled_by is not HandledBy.BOT:
            waiting = active.handled_by is HandledBy.WAITING_FOR_AGENT
            return "the chat waits for an agent" if waiting else "an agent has taken the chat over"
        current = self.registry.catalog().flows.get(active.flow) if active else None
        if current is not None and not current.settings.interruptible:
            return f"the person is in {current.name}, which may not be interrupted"
        held_back = _restart_refusal(turn, flow, None)
        if held_back is not None:
            return held_back
        end_active(turn, f"interrupted by {flow.name}")
        self.start(turn, flow, origin=Origin.EVENT, event=data)
        return None

    def _startable(self, turn: Turn, flow: Flow | None) -> Flow | None:
        """The flow a text's keyword or intent names, unless its restart rule holds it back."""
        return flow if flow is not None and self.may_start(turn, flow) else None

    def ask_for_human(
        self,
        turn: Turn,
        text: str,
        *,
        with_media: bool = False,
        situation: QueueForAgents | None = None,  # None: worked out from the turn
    ) -> None:
        """Queue a text no step could take for the agents, and tell the person (once).

        The flow the person is in, if any, is left as it was: a welcome series waiting a day
        still sends its next text. "ok", "thanks" and 👍 need nobody and are left alone.
        """
        if not with_media and not needs_a_human(text):
            return
        situation = situation or self._situation(turn)
        # One acknowledgement per open item: a second text before an agent came gets none.
        acknowledgement = None
        if turn.subscriber.status is not SubscriberStatus.UNSUBSCRIBED and not has_open(
            turn.connection, turn.subscriber.id
        ):
            acknowledgement = self._acknowledgement(turn)
        if acknowledgement is None:
            apply_effects(turn, (situation,))
            return
        flow, send = acknowledgement
        apply_effects(turn, (send, replace(situation, acknowledged=True)), flow=flow)

    def _acknowledgement(self, turn: Turn) -> tuple[str | None, Send] | None:
        """The text the person's flow (or the operator) chose to say a human will answer, and
        the flow that chose it; None when the operator chose silence."""
        # A flow that just gave up on the text still chose how its people are answered.
        where = turn.conversation or turn.gave_up
        flow = self.registry.catalog().flows.get(where.flow) if where is not None else None
        body = None
        if flow is not None and where is not None:
            body = runtime.unexpected_reply(flow, where.state, self._context(turn))
        if body is None:
            flow, body = None, Filled.written(self._operator_reply(turn))
        if not body.text:
            return None
        send = Send(body.text, Purpose.REPLY, brand_spans=body.brand_spans)
        return (flow.name if flow else None), send

    def _operator_reply(self, turn: Turn) -> str:
        """UNEXPECTED_REPLY; or, out of business hours with nobody available, when the team is
        back ("Thanks! Our team is back Monday at 9:00 AM (PT); we'll reply then.")."""
        hours = self.registry.catalog().hours
        if not self.unexpected_reply or hours is None or hours.is_open(turn.now):
            return self.unexpected_reply
        if available_agents(turn.connection, now=turn.now, away_after=self.away_after):
            return self.unexpected_reply
        return hours.back_text(turn.now) or self.unexpected_reply

    def _situation(self, turn: Turn) -> QueueForAgents:
        """Where the person stood, for the agent who picks the text up."""
        active = turn.conversation
        if active is not None:
            step = active.state.step
            return QueueForAgents(active.flow, step, f"sent while {active.flow} waited at {step}")
        if turn.gave_up is not None:
            flow, step = turn.gave_up.flow, turn.gave_up.state.step
            context = f"{flow} ended on it at {step}: {turn.gave_up.reason}"
            return QueueForAgents(flow, step, context)
        flow, step, ended = last_conversation(turn.connection, turn.subscriber.id)
        if not flow:
            return QueueForAgents(None, None, "no flow understood it")
        return QueueForAgents(flow, step, f"no flow understood it; {flow} had ended ({ended})")

    def end_active(self, turn: Turn, reason: str) -> None:
        """End whatever flow the subscriber is in (STOP), timers and all."""
        end_active(turn, reason)

    def start(
        self,
        turn: Turn,
        flow: Flow,
        *,
        origin: Origin = Origin.PERSON,
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
        origin: Origin = Origin.PERSON,
        event: Mapping[str, Any] | None = None,
    ) -> None:
        if conversation is None:
            state = outcome.state or runtime.initial_state(
                flow, turn.now, origin=origin, event=event
            )
        else:
            state = conversation.state  # as the turn found it: origin and event stay put
        apply_flow_turn(
            turn,
            flow=flow.name,
            state=outcome.state,
            effects=outcome.effects,
            conversation=conversation,
            opening_state=state,
        )
        call = next((e for e in outcome.effects if isinstance(e, CallAction | CallHttp)), None)
        next_flow = next((e.name for e in outcome.effects if isinstance(e, StartFlow)), None)
        if call is not None and turn.conversation is not None:
            self._await_call(turn, flow, turn.conversation, call, depth)
        if next_flow is not None:
            self._chain(turn, flow, next_flow, depth, state)

    def _await_call(
        self,
        turn: Turn,
        flow: Flow,
        conversation: ActiveConversation,
        call: CallAction | CallHttp,
        depth: int,
    ) -> None:
        """Leave the call for after the commit: a write transaction must not wait on a network.

        A call made once per person that this person had already is not made: the flow goes
        on at once, as if the action had answered with nothing.
        """
        assert conversation.wake is not None  # the calling step's timer: see steps/calls.py
        if (
            isinstance(call, CallAction)
            and call.once_per_person
            and not claim_once_per_person(turn, call.name)
        ):
            log.info(
                "%s: had %s once already; %s goes on", turn.subscriber.phone, call.name, flow.name
            )
            self.resume(turn, flow, conversation, ActionCompleted(call.step, {}), depth)
            return
        request = (
            call.request
            if isinstance(call, CallHttp)
            else self._action_request(turn, flow, conversation, call)
        )
        inbound = None if turn.inbound_id is None else (turn.inbound_id, turn.text or "")
        turn.action = PendingAction(
            conversation.id,
            flow.name,
            call.step,
            turn.subscriber.phone,
            request,
            conversation.wake,
            inbound,
            depth,
        )

    def _action_request(
        self, turn: Turn, flow: Flow, conversation: ActiveConversation, action: CallAction
    ) -> ActionRequest:
        profile = turn.subscriber
        return ActionRequest(
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

    def call_action(self, pending: PendingAction) -> ActionResult | ActionError | HttpReply:
        """Make the call (a network call, mostly): never inside a transaction."""
        if isinstance(pending.request, HttpRequest):
            if self.http is None:
                return HttpReply.failed("no http caller is configured")
            return self.http.call(pending.request)
        try:
            if self.actions is None:
                raise ActionError(f"no action runner is configured for {pending.request.action!r}")
            return self.actions.run(pending.request)
        except ActionError as error:
            return error

    def complete_action(
        self, turn: Turn, pending: PendingAction, outcome: ActionResult | ActionError | HttpReply
    ) -> None:
        """Apply a call's result and go on, if the flow still waits for it.

        A flow that moved on during the call (STOP, an agent took the chat, the step was edited
        away, a later call was made) drops the result; a flow still on the step but with an
        agent is called again by the step's timer once the agent hands back.
        """
        conversation = turn.conversation
        flow = self.registry.catalog().flows.get(pending.flow)
        step = flow.step(pending.step) if flow is not None else None
        if conversation is None or flow is None or not _waits_for(conversation, step, pending):
            log.info("%s: the flow moved on; result dropped", pending.describe())
            return
        if isinstance(outcome, HttpReply):
            assert isinstance(step, HttpStep)  # _waits_for saw to it
            answered = step.read(outcome)
            if answered.failure is not None:
                log.warning("%s failed: %s", pending.describe(), answered.failure)
            self.resume(turn, flow, conversation, answered, pending.depth)
            return
        assert isinstance(step, ActionStep)  # _waits_for saw to it
        if isinstance(outcome, ActionError):
            log.error("flow %s step %s: %s", flow.name, pending.step, outcome)
            end_active(turn, f"action {step.name} failed")
            return
        purpose = runtime.purpose_for(flow, conversation.state.origin)
        # Pictures the action sent go with its last text (an MMS), or alone without one.
        bodies = list(outcome.texts) or ([""] if outcome.media_urls else [])
        for position, body in enumerate(bodies, 1):
            media = outcome.media_urls if position == len(bodies) else ()
            self._say(turn, body, purpose, flow=flow.name, media_urls=media)
        if outcome.slot_updates:
            apply_effects(turn, (SetAttributes(outcome.slot_updates),))
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

    def _say(
        self,
        turn: Turn,
        body: str,
        purpose: Purpose,
        *,
        flow: str | None = None,
        media_urls: tuple[str, ...] = (),
    ) -> None:
        """Queue a text of Parley's own or an action's, as written (no tracked links)."""
        apply_effects(turn, (Send(body, purpose, media_urls),), flow=flow)


def _restart_refusal(turn: Turn, flow: Flow, event: str | None) -> str | None:
    """Why the flow's restart rule holds back a start by `event` (None: a text), if it does."""
    rule = flow.triggers.restart_for(event)
    if rule == RESTART_ALWAYS:
        return None  # nothing to look up
    last = last_started(turn.connection, turn.subscriber.id, flow.name)
    if last is None or rule.allows(last, turn.now):
        return None
    started = f"{flow.name} started for this person at {last:%Y-%m-%d %H:%M} UTC"
    if rule.after is None:
        return f"{started} and starts once per person (its restart rule)"
    again = last + rule.after
    return f"{started}; its restart rule allows the next start at {again:%Y-%m-%d %H:%M} UTC"


def _waits_for(conversation: ActiveConversation, step: Step | None, pending: PendingAction) -> bool:
    """Whether the conversation is still on the calling step, waiting for this very call."""
    return (
        conversation.id == pending.conversation_id
        and conversation.handled_by is HandledBy.BOT
        and conversation.state.step == pending.step
        and conversation.state.waiting is Waiting.ACTION
        and conversation.wake == pending.wake
        and _makes(step, pending.request)
    )


def _makes(step: Step | None, request: ActionRequest | HttpRequest) -> bool:
    """Whether `step` (as the flow now reads) is one that makes this kind of call."""
    if isinstance(request, HttpRequest):
        return isinstance(step, HttpStep)
    return isinstance(step, ActionStep) and step.name == request.action

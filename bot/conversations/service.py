"""The conversation service: texts, events and timers in; their effects applied in one go."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import exc
from sqlalchemy.engine import Connection, Engine

from bot.conversations.apply import AnyEffect, apply_effects, end_active
from bot.conversations.events import EventListener, StoredEvent, store_event
from bot.conversations.flows import FlowHost
from bot.conversations.requests import (
    FlowStart,
    OptedOut,
    ProfilePatch,
    SentText,
    UnknownNumber,
    earlier_text,
)
from bot.conversations.signup import SignupResult, signup_effects
from bot.conversations.turn import AssignRound, PendingAction, Turn
from bot.domain.compliance import ComplianceTexts, handle_keyword, invite_to_offer
from bot.domain.effects import ChangeStatus, Send
from bot.domain.inbound import InboundSms
from bot.domain.keywords import KeywordKind, KeywordMatch, Vocabulary, classify
from bot.domain.policy import DEFAULT_RULES, PolicyRules
from bot.domain.vocabulary import Delivery, HandledBy, MessageStatus, SubscriberStatus, TimerKind
from bot.engine.inputs import TimerFired
from bot.engine.model import Flow
from bot.sending.handover import texts_in_flight, wait_for_texts_in_flight
from bot.sending.outbox import move_to_outbox
from bot.store.conversations import (
    Claimed,
    claim,
    claim_conversation,
    claim_for_text,
    claim_known,
    due_timers,
    end_conversation,
    expired_conversations,
)
from bot.store.db import transaction
from bot.store.messages import (
    QueuedText,
    inbound_id_by_sid,
    text_by_external_id,
    twiml_replies_to,
)
from bot.store.models import utcnow
from bot.store.subscribers import SubscriberRow

log = logging.getLogger(__name__)

# The database itself is away: the clock's next tick tries again; nobody's flow is at fault.
_DATABASE_AWAY = (exc.OperationalError, exc.InterfaceError, exc.DisconnectionError)
FAILED_REASON = "failed: see the clock's log"

# Twilio Advanced Opt-Out tells us which of its keyword classes it saw.
_PROVIDER_OPT_OUT_TYPES = {
    "STOP": KeywordKind.OPT_OUT,
    "START": KeywordKind.OPT_IN,
    "HELP": KeywordKind.HELP,
}
SUBSCRIBED_EVENT = "subscribed"  # flows triggered by it run when a double opt-in completes


class SidInUse(Exception):
    """The MessageSid belongs to one of our outbound texts: not a new inbound text."""


@dataclass(frozen=True)
class EventOutcome:
    """What became of an event: our id for it, whether it was a retry, the texts it queued.

    With `call_action=False`, a flow that reached a call (a custom action, an http step) leaves
    it in `action`, for the caller to make (`run_actions`) once it has answered.
    """

    event_id: int
    duplicate: bool
    message_ids: list[int]
    action: PendingAction | None = None


@dataclass(frozen=True)
class PersonUpdate:
    """What another system's decision did to a person: the effects applied, where their
    consent now stands, the texts queued."""

    effects: tuple[AnyEffect, ...]
    status: SubscriberStatus
    message_ids: list[int]


@dataclass(frozen=True)
class InboundResult:
    """What the webhook answers; a retry of the same MessageSid gets the same replies.

    A turn that reached a call (a custom action, an http step) answers with no text: its texts
    so far wait in the outbox (`outbox`), and `after_answer` sends them, makes the call
    (`action`), and sends what follows.
    """

    replies: tuple[QueuedText, ...]
    duplicate: bool = False
    outbox: tuple[int, ...] = ()
    action: PendingAction | None = None


class ConversationService:
    """Texts, events, timers, actions and sign-ups in: keywords first (STOP wins, in every
    state), then flows; every turn's effects applied by `bot.conversations.apply`."""

    def __init__(
        self,
        *,
        db: Engine,
        vocabulary: Vocabulary,
        texts: ComplianceTexts,
        flows: FlowHost | None = None,
        clock: Callable[[], datetime] = utcnow,
        rules: PolicyRules = DEFAULT_RULES,
        public_url: str | None = None,
        on_stored_event: EventListener | None = None,
    ) -> None:
        self.db = db
        self.vocabulary = vocabulary
        self.texts = texts
        self.flows = flows
        self.clock = clock
        self.rules = rules
        self.public_url = public_url  # flow texts' URLs become tracked links on it
        # What else a new event means, decided above this room (orders: bot.campaigns).
        self.on_stored_event = on_stored_event
        # Gives waiting people to available agents; set by the wiring (bot/services.py).
        self.assign: AssignRound | None = None

    def handle_inbound(self, sms: InboundSms) -> InboundResult:
        """Record the text and answer it; a MessageSid seen before changes nothing."""
        # What the words mean needs no database: decided before this writer's turn begins.
        match = self._classify(sms)
        try:
            return self._handle_inbound(sms, match)
        except exc.DBAPIError as error:
            if not error.connection_invalidated:
                raise
            # The server dropped the connection (a restart, a fail-over): nothing of the turn
            # is stored, or, if its COMMIT got through, the MessageSid finds it. Twilio does
            # not send a text again, so it is handled once more, on a new connection; the
            # pool's others are as suspect, and go too.
            log.warning("the database connection was lost during a text; handling it again")
            self.db.dispose()
            return self._handle_inbound(sms, match)

    def _handle_inbound(self, sms: InboundSms, match: KeywordMatch) -> InboundResult:
        with transaction(self.db) as connection:
            now = self.clock()
            claimed = claim_for_text(connection, sms, now)
            if claimed is None:
                result = InboundResult(self._earlier_answer(connection, sms), duplicate=True)
            else:
                result = self._answer(sms, match, *claimed, now)
            # Asked while the STOP holds the person: nearly always no, and then final, so the
            # answer needs no transaction of its own after the commit to make sure.
            in_flight = match.kind is KeywordKind.OPT_OUT and texts_in_flight(
                connection, sms.from_phone, now
            )
        if in_flight:
            self._let_texts_in_flight_land(sms.from_phone)
        return result

    def _let_texts_in_flight_land(self, phone: str) -> None:
        """Answer a STOP only once every text handed over before it has reached the provider."""
        # A dispatcher that checked consent before this STOP committed may still be sending;
        # after the answer, nothing but the confirmation may reach the number.
        if not wait_for_texts_in_flight(self.db, phone, clock=self.clock):
            log.warning("%s opted out while a text to them hung at the provider", phone)

    def after_answer(self, result: InboundResult, send: Callable[[list[int]], None]) -> None:
        """Once the webhook's answer is made: send the turn's texts, make its call, send on."""
        if result.action is None:
            return
        send(list(result.outbox))  # first: what the flow said before the action, in order
        send(self.run_actions(result.action))

    def run_actions(self, pending: PendingAction | None) -> list[int]:
        """Make the call (a custom action, an http step's) a stored turn waits for, and any its
        result leads to; returns the outbox rows they queued.

        No transaction is open during a call: on SQLite one holds the writer lock every process
        shares, so a slow action server or shop would stall every webhook. Each result is
        applied in a transaction of its own, if the conversation still waits for it (see
        complete_action).
        """
        outbox: list[int] = []
        while pending is not None and self.flows is not None:
            outcome = self.flows.call_action(pending)
            with transaction(self.db) as connection:
                now = self.clock()
                claimed = claim_conversation(connection, pending.conversation_id, now)
                if claimed is None:
                    log.info("%s: the conversation ended meanwhile", pending.describe())
                    break
                turn = self.turn(claimed, Delivery.OUTBOX, now, pending.inbound)
                self.flows.complete_action(turn, pending, outcome)
            outbox.extend(_pending_ids(turn.queued))
            pending = turn.waiting_action()
        return outbox

    def sign_up(
        self, phone: str, *, source: str, consent_text: str, first_name: str | None = None
    ) -> SignupResult:
        """Make the number PENDING and queue the double opt-in text; repeat signups send nothing.

        Raises OptedOutBySms for a number that opted out by text.
        """
        update = self.update_person(
            phone,
            lambda person: signup_effects(person.status, self.texts, first_name),
            source=source,
            consent_text=consent_text,
        )
        # A repeat changes no status.
        created = any(isinstance(effect, ChangeStatus) for effect in update.effects)
        return SignupResult(created, tuple(update.message_ids))

    def update_person(
        self,
        phone: str,
        decide: Callable[[SubscriberRow], Sequence[AnyEffect]],
        *,
        source: str,
        consent_text: str | None = None,
    ) -> PersonUpdate:
        """Apply what another system (the shop) decided for a person, in one turn.

        `decide` sees the person as they stand, locked, so its effects (consent, profile) can
        depend on that: a repeat of the same news changes nothing. Consent entries name
        `source` and keep `consent_text`. An opt-out ends the person's flow, as STOP does; a
        subscription starts the flows of the `subscribed` event, as a confirmed JOIN does.
        """
        with transaction(self.db) as connection:
            now = self.clock()
            claimed = claim(connection, phone, now)
            turn = self.turn(claimed, Delivery.OUTBOX, now, source=source)
            turn.consent_text = consent_text
            status_before = turn.subscriber.status
            effects = tuple(decide(turn.subscriber))
            apply_effects(turn, effects)
            status = turn.subscriber.status
            if self.flows is not None and status is not status_before:
                if status is SubscriberStatus.UNSUBSCRIBED:
                    self.flows.end_active(turn, "opted out")
                elif status is SubscriberStatus.SUBSCRIBED:
                    self.flows.on_event(turn, SUBSCRIBED_EVENT, {})
        return PersonUpdate(effects, status, self._after(turn))

    def send_text(self, phone: str, send: Send) -> SentText:
        """Queue one text the brand's systems ask for, through the send policy.

        A known number only (UnknownNumber), never one that opted out (OptedOut). With an
        `external_id`, a retry queues nothing and gets the first answer, and an id given to a
        different text is refused (IdInUse); two requests with one id at once queue one text.
        """
        try:
            return self._send_text(phone, send)
        except exc.IntegrityError:
            if send.external_id is None:
                raise
            # The same id, for another number, committed meanwhile: the second look finds it.
            return self._send_text(phone, send)

    def _send_text(self, phone: str, send: Send) -> SentText:
        with transaction(self.db) as connection:
            now = self.clock()
            earlier = self._text_with_id(connection, phone, send)
            if earlier is not None:
                return earlier
            claimed = claim_known(connection, phone)
            if claimed is None:
                raise UnknownNumber(phone)
            # Looked for again under the person's lock: a request with this id for this number
            # may have committed while this one waited for the lock.
            earlier = self._text_with_id(connection, phone, send)
            if earlier is not None:
                return earlier
            if claimed.subscriber.status is SubscriberStatus.UNSUBSCRIBED:
                raise OptedOut(phone)
            (queued,) = apply_effects(self.turn(claimed, Delivery.OUTBOX, now), (send,))
        return SentText(queued.id, queued.decision)

    @staticmethod
    def _text_with_id(connection: Connection, phone: str, send: Send) -> SentText | None:
        if send.external_id is None:
            return None
        row = text_by_external_id(connection, send.external_id)
        return None if row is None else earlier_text(row, phone, send)

    def start_flow(self, phone: str, flow: Flow, data: Mapping[str, Any]) -> FlowStart:
        """Start a flow for a known number because the brand's systems ask (UnknownNumber if
        nobody has it); the outcome says whether it started, and if not, why."""
        assert self.flows is not None, "flows start only where flows are configured"
        with transaction(self.db) as connection:
            now = self.clock()
            claimed = claim_known(connection, phone)
            if claimed is None:
                raise UnknownNumber(phone)
            turn = self.turn(claimed, Delivery.OUTBOX, now)
            refusal = self.flows.start_on_request(turn, flow, data)
        return FlowStart(refusal, _pending_ids(turn.queued), turn.waiting_action())

    def update_profile(self, phone: str, patch: ProfilePatch) -> None:
        """Change a known person's profile (UnknownNumber if nobody has the number)."""
        with transaction(self.db) as connection:
            claimed = claim_known(connection, phone)
            if claimed is None:
                raise UnknownNumber(phone)
            apply_effects(self.turn(claimed, Delivery.OUTBOX, self.clock()), patch.effects())

    def handle_event(
        self,
        phone: str,
        event_type: str,
        data: Mapping[str, Any],
        *,
        external_id: str | None = None,
        call_action: bool = True,
    ) -> EventOutcome:
        """Store an event and deliver it to the subscriber's flows, in one transaction.

        An `external_id` seen before changes nothing: the shop may safely retry its call.
        """
        with transaction(self.db) as connection:
            now = self.clock()
            receipt = store_event(
                connection,
                event_type=event_type,
                phone=phone,
                data=data,
                external_id=external_id,
                now=now,
            )
            if not receipt.new:
                return EventOutcome(receipt.id, duplicate=True, message_ids=[])
            if self.on_stored_event is not None:
                stored = StoredEvent(receipt.id, event_type, phone, data, external_id, now)
                self.on_stored_event(connection, stored)
            claimed = claim(connection, phone, now)
            turn = self.turn(claimed, Delivery.OUTBOX, now)
            if self.flows is not None:
                self.flows.on_event(turn, event_type, data)
        if not call_action:
            return EventOutcome(receipt.id, False, _pending_ids(turn.queued), turn.waiting_action())
        return EventOutcome(receipt.id, duplicate=False, message_ids=self._after(turn))

    def fire_due_timers(self, *, limit: int = 100) -> list[int]:
        """Resume the conversations whose timers or expiry came due; returns outbox rows to send."""
        now = self.clock()
        with transaction(self.db) as connection:
            woken = due_timers(connection, now, limit)
            expired = expired_conversations(connection, now, limit)
        outbox: list[int] = []
        for conversation_id in woken:
            outbox.extend(self._on_its_own(self.fire_timer, conversation_id, now))
        for conversation_id in expired:
            outbox.extend(self._on_its_own(self.expire, conversation_id, now))
        return outbox

    def _on_its_own(
        self, wake: Callable[[int, datetime], list[int]], conversation_id: int, now: datetime
    ) -> list[int]:
        """Wake one conversation; if it fails, end it, so it cannot hold up everyone after it.

        Due conversations are taken earliest first: one whose turn always fails (data that
        cannot be sent or stored) would otherwise be retried first on every tick, forever.
        """
        try:
            return wake(conversation_id, now)
        except _DATABASE_AWAY:
            raise
        except Exception:
            log.exception("conversation %d failed at its timer; ending it", conversation_id)
            # Straight to the row, not through a turn: reading the row may be what failed.
            with transaction(self.db) as connection:
                end_conversation(connection, conversation_id, FAILED_REASON, now)
            return []

    def fire_timer(self, conversation_id: int, now: datetime) -> list[int]:
        """Fire the conversation's timer if it is (still) due; returns the outbox rows to send."""
        with transaction(self.db) as connection:
            claimed = claim_conversation(connection, conversation_id, now)
            if claimed is None or claimed.conversation is None:
                return []  # ended since it was listed
            conversation = claimed.conversation
            wake = conversation.wake
            if wake is None or wake.due_at > now or conversation.handled_by is not HandledBy.BOT:
                return []  # moved on since, or an agent has the chat (timers wait for them)
            conversation.wake = None  # fired; the turn sets the next one, if any
            turn = self._wake(claimed, TimerFired(wake.kind, conversation.state.step), now)
        return self._after(turn)

    def expire(self, conversation_id: int, now: datetime) -> list[int]:
        """End a conversation whose wait for an answer ran out (if it still has)."""
        with transaction(self.db) as connection:
            claimed = claim_conversation(connection, conversation_id, now)
            if claimed is None or claimed.conversation is None:
                return []
            conversation = claimed.conversation
            expires_at = conversation.expires_at
            if (
                expires_at is None
                or expires_at > now
                or conversation.handled_by is not HandledBy.BOT
            ):
                return []  # answered in the meantime, or an agent has the chat
            turn = self._wake(claimed, TimerFired(TimerKind.EXPIRY, None), now)
        return self._after(turn)

    def _wake(self, claimed: Claimed, event: TimerFired, now: datetime) -> Turn | None:
        conversation = claimed.conversation
        if conversation is None or self.flows is None:
            return None
        flow = self.flows.registry.catalog().flows.get(conversation.flow)
        turn = self.turn(claimed, Delivery.OUTBOX, now)
        if flow is None:
            end_active(turn, "flow removed")
            return None
        self.flows.resume(turn, flow, conversation, event)
        return turn

    def _after(self, turn: Turn | None) -> list[int]:
        """Once a turn is stored: the outbox rows it queued, then its action's (if it waits)."""
        if turn is None:
            return []
        return _pending_ids(turn.queued) + self.run_actions(turn.waiting_action())

    def turn(
        self,
        claimed: Claimed,
        delivery: Delivery,
        now: datetime,
        inbound: tuple[int, str] | None = None,  # the text being answered: its id and body
        *,
        source: str = "sms",  # where a consent change in the turn comes from
    ) -> Turn:
        """A turn for the claimed subscriber, with this service's send rules and link base."""
        return Turn(
            claimed.connection,
            claimed.subscriber,
            delivery,
            now,
            inbound[0] if inbound else None,
            rules=self.rules,
            public_url=self.public_url,
            conversation=claimed.conversation,
            text=inbound[1] if inbound else None,
            source=source,
            consent_text=inbound[1] if inbound else None,
            assign=self.assign,
        )

    def _earlier_answer(self, connection: Connection, sms: InboundSms) -> tuple[QueuedText, ...]:
        inbound_id = inbound_id_by_sid(connection, sms.message_sid)
        if inbound_id is None:
            raise SidInUse(sms.message_sid)
        return twiml_replies_to(connection, inbound_id)

    def _answer(
        self,
        sms: InboundSms,
        match: KeywordMatch,
        inbound_id: int,
        claimed: Claimed,
        now: datetime,
    ) -> InboundResult:
        connection = claimed.connection
        subscriber = claimed.subscriber
        status_before = subscriber.status
        outcome = handle_keyword(
            match, subscriber.status, self.texts, provider_replied=sms.opt_out_type is not None
        )
        offer = None
        if not outcome.handled and subscriber.status is not SubscriberStatus.SUBSCRIBED:
            offer = self.flows.offer_for(sms.body) if self.flows is not None else None
        if offer is not None:
            # Not silence: someone not (yet) subscribed who texts WIN is invited to join.
            outcome = invite_to_offer(offer.keyword, offer.promise, subscriber.status, self.texts)
        turn = self.turn(claimed, Delivery.TWIML, now, (inbound_id, sms.body))
        apply_effects(turn, outcome.effects)
        action = None
        if self.flows is not None:
            self._route_to_flows(turn, sms, match, outcome.handled, status_before)
            action = turn.waiting_action()
        replies = tuple(text for text in turn.queued if not text.suppressed)
        if action is None:
            return InboundResult(replies)
        # The action's texts can only come after this commit, so not in the webhook's answer:
        # the texts before them go through the outbox too, first, and reach the person in order.
        return InboundResult((), outbox=tuple(move_to_outbox(connection, replies)), action=action)

    def _route_to_flows(
        self,
        turn: Turn,
        sms: InboundSms,
        match: KeywordMatch,
        handled: bool,
        status_before: SubscriberStatus,
    ) -> None:
        assert self.flows is not None
        if match.kind is KeywordKind.OPT_OUT:
            self.flows.end_active(turn, "opted out")
        elif not handled and not self.flows.on_text(turn, sms.body):
            # No step could take it: nothing a customer texts is dropped.
            self.flows.ask_for_human(turn, sms.body, with_media=bool(sms.media_urls))
        elif (
            turn.subscriber.status is SubscriberStatus.SUBSCRIBED
            and status_before is not SubscriberStatus.SUBSCRIBED
            and not self.flows.start_offer_joined_for(turn)
        ):
            self.flows.on_event(turn, SUBSCRIBED_EVENT, {})

    def _classify(self, sms: InboundSms) -> KeywordMatch:
        provider_kind = _PROVIDER_OPT_OUT_TYPES.get((sms.opt_out_type or "").upper())
        match = classify(sms.body, self.vocabulary)
        if provider_kind is not None and match.kind is not provider_kind:
            # Twilio's own keyword lists (which the operator may have customised) decide.
            return KeywordMatch(provider_kind, sms.body.strip().upper()[:40] or None, None)
        return match


def _pending_ids(queued: list[QueuedText]) -> list[int]:
    return [text.id for text in queued if text.status is MessageStatus.PENDING]

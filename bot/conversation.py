"""The conversation service: one inbound text in, its effects applied in one transaction."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.engine import Connection, Engine

from bot.compliance import ComplianceTexts, handle_keyword
from bot.db import transaction
from bot.effects_host import EffectContext, apply_effects
from bot.inbound import InboundSms
from bot.keywords import KeywordKind, KeywordMatch, Vocabulary, classify
from bot.messages import inbound_id_by_sid, record_inbound, twiml_replies_to
from bot.models import Delivery
from bot.outbox import QueuedText
from bot.subscribers import claim_subscriber

# Twilio Advanced Opt-Out tells us which of its keyword classes it saw.
_PROVIDER_OPT_OUT_TYPES = {
    "STOP": KeywordKind.OPT_OUT,
    "START": KeywordKind.OPT_IN,
    "HELP": KeywordKind.HELP,
}


class SidInUse(Exception):
    """The MessageSid belongs to one of our outbound texts: not a new inbound text."""


@dataclass(frozen=True)
class InboundResult:
    """What the webhook answers; a retry of the same MessageSid gets the same replies."""

    replies: tuple[QueuedText, ...]
    duplicate: bool = False


class ConversationService:
    """Handles inbound texts: keywords first (STOP wins), then whatever comes next."""

    def __init__(self, *, engine: Engine, vocabulary: Vocabulary, texts: ComplianceTexts) -> None:
        self.engine = engine
        self.vocabulary = vocabulary
        self.texts = texts

    def handle_inbound(self, sms: InboundSms) -> InboundResult:
        """Record the text and answer it; a MessageSid seen before changes nothing."""
        with transaction(self.engine) as connection:
            inbound_id = record_inbound(connection, sms)
            if inbound_id is None:
                return InboundResult(self._earlier_answer(connection, sms), duplicate=True)
            return InboundResult(self._answer(connection, sms, inbound_id))

    def _earlier_answer(self, connection: Connection, sms: InboundSms) -> tuple[QueuedText, ...]:
        inbound_id = inbound_id_by_sid(connection, sms.message_sid)
        if inbound_id is None:
            raise SidInUse(sms.message_sid)
        return twiml_replies_to(connection, inbound_id)

    def _answer(
        self, connection: Connection, sms: InboundSms, inbound_id: int
    ) -> tuple[QueuedText, ...]:
        subscriber = claim_subscriber(connection, sms.from_phone)
        outcome = handle_keyword(
            self._classify(sms),
            subscriber.status,
            self.texts,
            provider_replied=sms.opt_out_type is not None,
        )
        queued = apply_effects(
            connection,
            subscriber,
            outcome.effects,
            EffectContext(
                source="sms",
                delivery=Delivery.TWIML,
                consent_text=sms.body,
                inbound_id=inbound_id,
            ),
        )
        return tuple(text for text in queued if not text.suppressed)

    def _classify(self, sms: InboundSms) -> KeywordMatch:
        provider_kind = _PROVIDER_OPT_OUT_TYPES.get((sms.opt_out_type or "").upper())
        match = classify(sms.body, self.vocabulary)
        if provider_kind is not None and match.kind is not provider_kind:
            # Twilio's own keyword lists (which the operator may have customised) decide.
            return KeywordMatch(provider_kind, sms.body.strip().upper()[:40] or None, None)
        return match

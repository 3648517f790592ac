"""The conversation service: one inbound text in, its effects applied in one transaction."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from bot.compliance import ComplianceTexts, handle_keyword
from bot.db import transaction
from bot.effects_host import EffectContext, apply_effects
from bot.inbound import InboundSms
from bot.keywords import KeywordKind, KeywordMatch, Vocabulary, classify
from bot.models import Delivery, Direction, Message, MessageStatus
from bot.segments import count_segments
from bot.subscribers import get_or_create_subscriber

# Twilio Advanced Opt-Out tells us which of its keyword classes it saw.
_PROVIDER_OPT_OUT_TYPES = {
    "STOP": KeywordKind.OPT_OUT,
    "START": KeywordKind.OPT_IN,
    "HELP": KeywordKind.HELP,
}


class SidInUse(Exception):
    """The MessageSid belongs to one of our outbound texts: not a new inbound text."""


@dataclass(frozen=True)
class Reply:
    """A text to return in the webhook's TwiML answer."""

    message_id: int
    body: str
    media_urls: tuple[str, ...] = ()


@dataclass(frozen=True)
class InboundResult:
    """What the webhook answers; a retry of the same MessageSid gets the same replies."""

    replies: tuple[Reply, ...]
    duplicate: bool = False


class ConversationService:
    """Handles inbound texts: keywords first (STOP wins), then whatever comes next."""

    def __init__(self, *, engine: Engine, vocabulary: Vocabulary, texts: ComplianceTexts) -> None:
        self.engine = engine
        self.vocabulary = vocabulary
        self.texts = texts

    def handle_inbound(self, sms: InboundSms) -> InboundResult:
        """Record the text and answer it; a MessageSid seen before changes nothing."""
        try:
            with transaction(self.engine) as session:
                existing = _inbound_by_sid(session, sms.message_sid)
                if existing is not None:
                    return InboundResult(_replies_to(session, existing), duplicate=True)
                return InboundResult(self._handle_new(session, sms))
        except IntegrityError:
            # The same MessageSid raced us from another worker and won: answer as it did.
            with transaction(self.engine) as session:
                existing = _inbound_by_sid(session, sms.message_sid)
                if existing is None:
                    raise SidInUse(sms.message_sid) from None
                return InboundResult(_replies_to(session, existing), duplicate=True)

    def _handle_new(self, session: Session, sms: InboundSms) -> tuple[Reply, ...]:
        subscriber = get_or_create_subscriber(session=session, phone=sms.from_phone)
        segments = count_segments(sms.body)
        inbound = Message(
            phone=sms.from_phone,
            direction=Direction.INBOUND,
            body=sms.body,
            media_urls=list(sms.media_urls),
            segments=segments.segments,
            encoding=str(segments.encoding),
            status=MessageStatus.RECEIVED,
            provider_sid=sms.message_sid,
        )
        session.add(inbound)
        session.flush()
        outcome = handle_keyword(
            self._classify(sms),
            subscriber.status,
            self.texts,
            provider_replied=sms.opt_out_type is not None,
        )
        queued = apply_effects(
            session=session,
            subscriber=subscriber,
            effects=outcome.effects,
            context=EffectContext(
                source="sms",
                delivery=Delivery.TWIML,
                consent_text=sms.body,
                inbound_id=inbound.id,
            ),
        )
        for message in queued:
            if message.status is MessageStatus.PENDING:
                # Handed to Twilio in the webhook answer; its action callback moves it on.
                message.status = MessageStatus.ACCEPTED
        return tuple(
            _reply(message) for message in queued if message.status is not MessageStatus.SUPPRESSED
        )

    def _classify(self, sms: InboundSms) -> KeywordMatch:
        provider_kind = _PROVIDER_OPT_OUT_TYPES.get((sms.opt_out_type or "").upper())
        match = classify(sms.body, self.vocabulary)
        if provider_kind is not None and match.kind is not provider_kind:
            # Twilio's own keyword lists (which the operator may have customised) decide.
            return KeywordMatch(provider_kind, sms.body.strip().upper()[:40] or None, None)
        return match


def _inbound_by_sid(session: Session, message_sid: str) -> Message | None:
    return session.exec(
        select(Message).where(
            Message.provider_sid == message_sid, Message.direction == Direction.INBOUND
        )
    ).first()


def _replies_to(session: Session, inbound: Message) -> tuple[Reply, ...]:
    rows = session.exec(
        select(Message)
        .where(
            Message.in_reply_to_id == inbound.id,
            Message.delivery == Delivery.TWIML,
            Message.status != MessageStatus.SUPPRESSED,
        )
        .order_by(Message.id)
    ).all()
    return tuple(_reply(message) for message in rows)


def _reply(message: Message) -> Reply:
    assert message.id is not None
    return Reply(message.id, message.body, tuple(message.media_urls))

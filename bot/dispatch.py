"""Hands outbox rows to the gateway, so that no text is ever sent twice."""

from __future__ import annotations

import logging
from collections.abc import Iterable

from sqlalchemy.engine import Engine

from bot import policy
from bot.db import transaction
from bot.gateways.base import Gateway, OutboundText, SendOutcome, SendResult
from bot.models import Message, MessageStatus
from bot.statuses import parse_provider_status
from bot.subscribers import get_or_create_subscriber, opt_out_by_carrier

log = logging.getLogger(__name__)


class Dispatcher:
    """Sends pending outbox messages through the gateway, one claim at a time."""

    def __init__(
        self, *, engine: Engine, gateway: Gateway, status_callback_url: str | None = None
    ) -> None:
        self.engine = engine
        self.gateway = gateway
        self.status_callback_url = status_callback_url

    def send(self, message_ids: Iterable[int]) -> None:
        """Send these messages now, if they are still pending."""
        for message_id in message_ids:
            self.send_one(message_id)

    def send_one(self, message_id: int) -> MessageStatus | None:
        """Claim, re-check consent, send, record. Returns the message's new status."""
        text = self._claim(message_id)
        if text is None:
            return None
        result = self.gateway.send(text)
        return self._record(message_id, result)

    def _claim(self, message_id: int) -> OutboundText | None:
        with transaction(self.engine) as session:
            message = session.get(Message, message_id, with_for_update=True)
            if message is None or message.status is not MessageStatus.PENDING:
                return None
            subscriber = get_or_create_subscriber(session=session, phone=message.phone)
            assert message.purpose is not None
            # Consent may have changed since the text was queued: the last word is now.
            decision = policy.decide(purpose=message.purpose, recipient_status=subscriber.status)
            if not decision.allowed:
                message.status = MessageStatus.SUPPRESSED
                message.error_message = decision.reason
                return None
            # From here until the provider answers, the text's fate is unknown: a crash
            # leaves it UNKNOWN, to be reconciled with the provider, never blindly resent.
            message.status = MessageStatus.UNKNOWN
            return OutboundText(
                to=message.phone,
                body=message.body,
                media_urls=tuple(message.media_urls),
                status_callback_url=self._callback_url(message_id),
            )

    def _callback_url(self, message_id: int) -> str | None:
        if self.status_callback_url is None:
            return None
        return f"{self.status_callback_url}?mid={message_id}"

    def _record(self, message_id: int, result: SendResult) -> MessageStatus:
        with transaction(self.engine) as session:
            message = session.get(Message, message_id, with_for_update=True)
            assert message is not None
            message.error_code = result.error_code
            message.error_message = result.error_message
            if result.outcome is SendOutcome.ACCEPTED:
                message.provider_sid = result.provider_sid
                message.status = (
                    parse_provider_status(result.status or "") or MessageStatus.ACCEPTED
                )
            elif result.outcome is SendOutcome.RETRYABLE and result.maybe_accepted:
                # The request may have reached the provider (a read timeout): resending could
                # text twice, so the row waits for reconciliation instead.
                message.status = MessageStatus.UNKNOWN
            elif result.outcome is SendOutcome.RETRYABLE:
                message.status = MessageStatus.PENDING
            else:
                message.status = MessageStatus.FAILED
                if result.outcome is SendOutcome.OPTED_OUT:
                    opt_out_by_carrier(session=session, phone=message.phone, message_id=message.id)
            log.info("message %s to %s: %s", message_id, message.phone, message.status)
            return message.status

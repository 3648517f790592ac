"""Hands outbox rows to the gateway, so that no text is ever sent twice."""

from __future__ import annotations

import logging
from collections.abc import Iterable

from sqlalchemy import select, update
from sqlalchemy.engine import Engine

from bot import policy
from bot.db import transaction
from bot.gateways.base import Gateway, OutboundText, SendOutcome, SendResult
from bot.models import Message, MessageStatus, utcnow
from bot.statuses import parse_provider_status
from bot.subscribers import claim_subscriber, opt_out_by_carrier

log = logging.getLogger(__name__)

MESSAGES = Message.__table__


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
        return self._record(message_id, text.to, result)

    def _claim(self, message_id: int) -> OutboundText | None:
        with transaction(self.engine) as connection:
            message = connection.execute(
                select(MESSAGES).where(MESSAGES.c.id == message_id).with_for_update()
            ).first()
            if message is None or message.status is not MessageStatus.PENDING:
                return None
            subscriber = claim_subscriber(connection, message.phone)
            # Consent may have changed since the text was queued: the last word is now's.
            decision = policy.decide(purpose=message.purpose, recipient_status=subscriber.status)
            if not decision.allowed:
                _set(
                    connection,
                    message_id,
                    status=MessageStatus.SUPPRESSED,
                    error_message=decision.reason,
                )
                return None
            # From here until the provider answers, the text's fate is unknown: a crash
            # leaves it UNKNOWN, to be reconciled with the provider, never blindly resent.
            _set(connection, message_id, status=MessageStatus.UNKNOWN)
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

    def _record(self, message_id: int, phone: str, result: SendResult) -> MessageStatus:
        status = _status_after(result)
        with transaction(self.engine) as connection:
            _set(
                connection,
                message_id,
                status=status,
                provider_sid=result.provider_sid,
                error_code=result.error_code,
                error_message=result.error_message,
            )
            if result.outcome is SendOutcome.OPTED_OUT:
                opt_out_by_carrier(connection, phone, message_id)
        log.info("message %s to %s: %s", message_id, phone, status)
        return status


def _status_after(result: SendResult) -> MessageStatus:
    if result.outcome is SendOutcome.ACCEPTED:
        return parse_provider_status(result.status or "") or MessageStatus.ACCEPTED
    if result.outcome is SendOutcome.RETRYABLE and result.maybe_accepted:
        # The request may have reached the provider (a read timeout): resending could text
        # twice, so the row waits for reconciliation instead.
        return MessageStatus.UNKNOWN
    if result.outcome is SendOutcome.RETRYABLE:
        return MessageStatus.PENDING
    return MessageStatus.FAILED


def _set(connection, message_id: int, **values: object) -> None:  # type: ignore[no-untyped-def]
    connection.execute(
        update(MESSAGES).where(MESSAGES.c.id == message_id).values(updated_at=utcnow(), **values)
    )

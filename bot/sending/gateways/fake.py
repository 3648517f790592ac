"""The fake gateway for tests: records texts in memory and plays scripted failures."""

from __future__ import annotations

import itertools
import threading
from collections import deque
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import datetime

from bot.sending.gateways.base import OutboundText, ProviderLookupError, SendOutcome, SendResult
from bot.store.models import utcnow

UNSUBSCRIBED_RECIPIENT = 21610  # Twilio's code, so code under test sees what production sees
INVALID_TO_NUMBER = 21211
SERVICE_UNAVAILABLE = 20503  # Twilio's code for an HTTP 503


@dataclass(frozen=True)
class HeldText:
    """A text the fake provider holds, as a lookup finds it."""

    sid: str
    text: OutboundText
    created_at: datetime


@dataclass(frozen=True)
class _Script:
    result: SendResult
    kept: bool  # the provider took the text although the answer says otherwise


class FakeGateway:
    """Accepts every text unless told otherwise; `outbox` holds the texts it accepted."""

    name = "fake"

    def __init__(self, clock: Callable[[], datetime] = utcnow) -> None:
        self.clock = clock  # stamps held texts, as the provider's date_created
        self.outbox: list[OutboundText] = []  # accepted texts, in send order
        self.attempts: list[OutboundText] = []  # every text handed over, accepted or not
        self.held: list[HeldText] = []  # what a lookup can find: the outbox, with sids and times
        self.opted_out: set[str] = set()  # numbers that answer OPTED_OUT, as after a STOP
        self.invalid_numbers: set[str] = set()  # numbers that answer FAILED 21211 (no such phone)
        self.lookup_fails = False  # when True, lookups raise as if the provider were down
        # An outage: until `clock` reaches it, every send answers RETRYABLE 20503 (HTTP 503).
        self.down_until: datetime | None = None
        self._scripted: deque[_Script] = deque()
        # Counted, not random, sids keep golden transcripts stable: SM000…001, SM000…002 …
        self._serial = itertools.count(1)
        # Dispatcher threads may share one fake, as they share one real gateway.
        self._lock = threading.Lock()

    def fail_next(
        self,
        outcome: SendOutcome,
        error_code: int | None = None,
        *,
        maybe_accepted: bool = False,
        kept: bool = False,
    ) -> None:
        """Answer the next send with this outcome; queued failures are used in order.

        With `kept`, the provider takes the text anyway (a timeout after it was created).
        """
        if outcome is SendOutcome.ACCEPTED:
            raise ValueError("fail_next takes a failure outcome; ACCEPTED is the default answer")
        if kept and not maybe_accepted:
            raise ValueError("kept=True needs maybe_accepted=True: the sender must be told")
        if error_code is None and outcome is SendOutcome.OPTED_OUT:
            error_code = UNSUBSCRIBED_RECIPIENT
        result = SendResult(
            outcome=outcome,
            error_code=error_code,
            error_message=f"scripted {outcome}",
            maybe_accepted=maybe_accepted,
        )
        with self._lock:
            self._scripted.append(_Script(result, kept))

    def send(self, text: OutboundText) -> SendResult:
        """Record the text and answer like a provider would."""
        with self._lock:
            self.attempts.append(text)
            script = self._scripted.popleft() if self._scripted else None
            if script is not None:
                if script.kept:
                    self._hold(text)
                return script.result
            if self.down_until is not None and self.clock() < self.down_until:
                return SendResult(
                    outcome=SendOutcome.RETRYABLE,
                    error_code=SERVICE_UNAVAILABLE,
                    error_message="Service unavailable (HTTP 503)",
                )
            if text.to in self.invalid_numbers:
                return SendResult(
                    outcome=SendOutcome.FAILED,
                    error_code=INVALID_TO_NUMBER,
                    error_message="The 'To' number is not a valid phone number",
                )
            if text.to in self.opted_out:
                return SendResult(
                    outcome=SendOutcome.OPTED_OUT,
                    error_code=UNSUBSCRIBED_RECIPIENT,
                    error_message="Attempt to send to unsubscribed recipient",
                )
            sid = self._hold(text)
        return SendResult(outcome=SendOutcome.ACCEPTED, provider_sid=sid, status="queued")

    def lookup(
        self, text: OutboundText, created_after: datetime, *, skip_sids: Collection[str] = ()
    ) -> SendResult | None:
        """The oldest held copy of `text` since `created_after`, or None if there is none."""
        if self.lookup_fails:
            raise ProviderLookupError("scripted lookup failure")
        with self._lock:
            for held in self.held:
                if (
                    held.text.to == text.to
                    and held.text.body == text.body
                    and held.sid not in skip_sids
                    and held.created_at >= created_after
                ):
                    return SendResult(
                        outcome=SendOutcome.ACCEPTED, provider_sid=held.sid, status="sent"
                    )
        return None

    def _hold(self, text: OutboundText) -> str:
        sid = f"SM{next(self._serial):032x}"
        self.outbox.append(text)
        self.held.append(HeldText(sid, text, self.clock()))
        return sid

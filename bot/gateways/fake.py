"""The fake gateway for tests: records texts in memory and plays scripted failures."""

from __future__ import annotations

import itertools
from collections import deque

from bot.gateways.base import OutboundText, SendOutcome, SendResult

UNSUBSCRIBED_RECIPIENT = 21610  # Twilio's code, so code under test sees what production sees


class FakeGateway:
    """Accepts every text unless told otherwise; `outbox` holds the texts it accepted."""

    name = "fake"

    def __init__(self) -> None:
        self.outbox: list[OutboundText] = []  # accepted texts, in send order
        self.attempts: list[OutboundText] = []  # every text handed over, accepted or not
        self.opted_out: set[str] = set()  # numbers that answer OPTED_OUT, as after a STOP
        self._scripted: deque[SendResult] = deque()
        # Counted, not random, sids keep golden transcripts stable: SM000…001, SM000…002 …
        self._serial = itertools.count(1)

    def fail_next(
        self, outcome: SendOutcome, error_code: int | None = None, *, maybe_accepted: bool = False
    ) -> None:
        """Answer the next send with this outcome; queued failures are used in order."""
        if outcome is SendOutcome.ACCEPTED:
            raise ValueError("fail_next takes a failure outcome; ACCEPTED is the default answer")
        if error_code is None and outcome is SendOutcome.OPTED_OUT:
            error_code = UNSUBSCRIBED_RECIPIENT
        self._scripted.append(
            SendResult(
                outcome=outcome,
                error_code=error_code,
                error_message=f"scripted {outcome}",
                maybe_accepted=maybe_accepted,
            )
        )

    def send(self, text: OutboundText) -> SendResult:
        """Record the text and answer like a provider would."""
        self.attempts.append(text)
        if self._scripted:
            return self._scripted.popleft()
        if text.to in self.opted_out:
            return SendResult(
                outcome=SendOutcome.OPTED_OUT,
                error_code=UNSUBSCRIBED_RECIPIENT,
                error_message="Attempt to send to unsubscribed recipient",
            )
        self.outbox.append(text)
        sid = f"SM{next(self._serial):032x}"
        return SendResult(outcome=SendOutcome.ACCEPTED, provider_sid=sid, status="queued")

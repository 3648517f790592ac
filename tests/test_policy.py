"""The send policy, table-tested: consent decides what may go out."""

from __future__ import annotations

import pytest

from bot.models import Purpose, SubscriberStatus
from bot.policy import Verdict, decide

S = SubscriberStatus
P = Purpose

CASES = [
    (S.UNSUBSCRIBED, P.COMPLIANCE, Verdict.SEND),
    (S.UNSUBSCRIBED, P.REPLY, Verdict.SUPPRESS),
    (S.UNSUBSCRIBED, P.TRANSACTIONAL, Verdict.SUPPRESS),
    (S.UNSUBSCRIBED, P.PROMOTIONAL, Verdict.SUPPRESS),
    (S.NEW, P.REPLY, Verdict.SEND),
    (S.NEW, P.PROMOTIONAL, Verdict.SUPPRESS),
    (S.PENDING, P.COMPLIANCE, Verdict.SEND),
    (S.PENDING, P.PROMOTIONAL, Verdict.SUPPRESS),
    (S.SUBSCRIBED, P.PROMOTIONAL, Verdict.SEND),
    (S.SUBSCRIBED, P.REPLY, Verdict.SEND),
]


@pytest.mark.parametrize(("status", "purpose", "verdict"), CASES)
def test_consent_decides(status: SubscriberStatus, purpose: Purpose, verdict: Verdict) -> None:
    decision = decide(purpose=purpose, recipient_status=status)
    assert decision.verdict is verdict
    assert (decision.reason is None) == (verdict is Verdict.SEND)


def test_the_reason_says_opted_out() -> None:
    decision = decide(purpose=P.PROMOTIONAL, recipient_status=S.UNSUBSCRIBED)
    assert decision.reason == "recipient opted out"

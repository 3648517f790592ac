"""The `Parley-Signature` header, signed as Stripe signs: `t=<unix time>,v1=<hex HMAC-SHA256>`.

The HMAC is of `"<t>.<body>"` with the endpoint's secret, so a receiver can check both that the
body is ours and that it is fresh (README, "Webhooks", shows the check in Python).
"""

from __future__ import annotations

import hashlib
import hmac

SIGNATURE_HEADER = "Parley-Signature"


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The header's value for this body, sent at `timestamp` (seconds since the epoch)."""
    signed = f"{timestamp}.".encode() + body
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"

"""Shopify's webhook signature: the base64 HMAC-SHA256 of the raw body, keyed by the secret."""

from __future__ import annotations

import base64
import hashlib
import hmac

SIGNATURE_HEADER = "X-Shopify-Hmac-Sha256"


def signature_of(secret: str, body: bytes) -> str:
    """What Shopify puts in X-Shopify-Hmac-Sha256 for this body."""
    digest = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def signed_by(secret: str, body: bytes, signature: str | None) -> bool:
    """Whether `signature` is Shopify's for `body`; compared in constant time."""
    if not signature:
        return False
    # Bytes, not text: compare_digest refuses text with characters outside ASCII.
    return hmac.compare_digest(
        signature_of(secret, body).encode("ascii"), signature.strip().encode("utf-8", "replace")
    )

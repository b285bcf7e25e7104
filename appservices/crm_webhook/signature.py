"""HMAC-SHA256 webhook signatures: ``sha256=<hex>`` over ``"{timestamp}." + body``.

Signing the timestamp with the body lets the receiver refuse replays of an
old delivery once it is outside the tolerance window.
"""

from __future__ import annotations

import hashlib
import hmac


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The ``X-CRM-Signature`` header value for a delivery."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return f"sha256={mac.hexdigest()}"


def verify(
    secret: str,
    timestamp: str | None,
    signature: str | None,
    body: bytes,
    *,
    now_s: float,
    tolerance_s: int,
) -> bool:
    """Whether the signature is right and the timestamp within ``tolerance_s`` of now."""
    if timestamp is None or signature is None or not timestamp.isdigit():
        return False
    if abs(now_s - int(timestamp)) > tolerance_s:
        return False
    return hmac.compare_digest(sign(secret, timestamp, body), signature)

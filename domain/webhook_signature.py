"""Webhook signatures: HMAC-SHA256 over "<timestamp>.<body>", so receivers can verify both.

Headers sent with every webhook:

    X-Journeys-Timestamp: 1764057600
    X-Journeys-Signature: v1=<hex digest>

A receiver recomputes the digest with the shared secret and refuses a request whose
timestamp is further than `tolerance` from its clock (a replayed request).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from datetime import datetime, timedelta

TIMESTAMP_HEADER = "X-Journeys-Timestamp"
SIGNATURE_HEADER = "X-Journeys-Signature"
VERSION = "v1"


class SignatureError(ValueError):
    """A webhook whose signature or timestamp does not hold."""


def _digest(secret: str, timestamp: str, body: bytes) -> str:
    signed = timestamp.encode("ascii") + b"." + body
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def signature_headers(secret: str, body: bytes, now: datetime) -> dict[str, str]:
    timestamp = str(int(now.timestamp()))
    return {
        TIMESTAMP_HEADER: timestamp,
        SIGNATURE_HEADER: f"{VERSION}={_digest(secret, timestamp, body)}",
    }


def verify_webhook_signature(
    secret: str,
    body: bytes,
    headers: Mapping[str, str],
    now: datetime,
    tolerance: timedelta = timedelta(minutes=5),
) -> None:
    """Raise SignatureError unless `body` was signed with `secret` within `tolerance` of now."""
    lowered = {key.lower(): value for key, value in headers.items()}
    timestamp = lowered.get(TIMESTAMP_HEADER.lower())
    signature = lowered.get(SIGNATURE_HEADER.lower(), "")
    if not timestamp or not timestamp.isdigit():
        raise SignatureError(f"missing or malformed {TIMESTAMP_HEADER} header")
    if abs(now.timestamp() - int(timestamp)) > tolerance.total_seconds():
        raise SignatureError("the timestamp is outside the tolerance: a replayed request?")
    expected = f"{VERSION}={_digest(secret, timestamp, body)}"
    if not hmac.compare_digest(signature, expected):
        raise SignatureError("the signature does not match the body")

"""Signed, expiring tokens for links sent to customers (unsubscribe, survey answers).

A token is `<base64url JSON payload>.<base64url HMAC-SHA256>`; the payload names its purpose
and expiry, so a token made for one purpose is refused for another, and a changed byte or a
wrong key is refused as forged. Nothing is stored: the signature is the proof.

Rotation: tokens are signed with the current key only, and verified against the current key
and the previous ones (JOURNEYS_SECRET_KEY_PREVIOUS), so links already in inboxes keep
working while every process moves to a new key.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
from collections.abc import Sequence
from datetime import datetime
from typing import Any

# Both halves of a token are unpadded base64url; anything else (a non-ASCII character, a
# space, padding) is no token we made.
_PART = re.compile(r"^[A-Za-z0-9_-]+$")
# Long enough for any claims we sign (a click target is at most 2000 characters).
MAX_TOKEN_LENGTH = 8192


class TokenError(ValueError):
    """A token that must not be honoured; `reason` is 'malformed', 'forged' or 'expired'."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _signature(secret: str, body: str) -> str:
    return _b64(hmac.new(secret.encode(), body.encode("ascii"), hashlib.sha256).digest())


def sign(secret: str, purpose: str, claims: dict[str, Any], expires_at: datetime) -> str:
    """A token carrying `claims` for `purpose`, valid until `expires_at` (aware datetime)."""
    if not secret:
        raise ValueError("a signing secret is required (JOURNEYS_SECRET_KEY)")
    if expires_at.tzinfo is None:
        raise ValueError("expires_at must be timezone-aware")
    payload = {"p": purpose, "exp": int(expires_at.timestamp()), "c": claims}
    body = _b64(json.dumps(payload, separators=(",", ":"), sort_keys=True).encode())
    return f"{body}.{_signature(secret, body)}"


def verify(
    secret: str, purpose: str, token: str, now: datetime, *, previous: Sequence[str] = ()
) -> dict[str, Any]:
    """The claims of a genuine, unexpired token for `purpose`; TokenError otherwise.

    A token signed with `secret` or with one of the `previous` keys is genuine.
    """
    if len(token) > MAX_TOKEN_LENGTH:
        raise TokenError("malformed", "the link is malformed (too long)")
    body, dot, signature = token.partition(".")
    if not dot or not body or not signature:
        raise TokenError("malformed", "the link is malformed (no signature)")
    if not _PART.match(body) or not _PART.match(signature):
        raise TokenError("malformed", "the link is malformed (not a token)")
    keys = [key for key in (secret, *previous) if key]
    # Every key is tried (no early exit), so the time taken does not tell which one matched.
    matches = [hmac.compare_digest(signature, _signature(key, body)) for key in keys]
    if not any(matches):
        raise TokenError("forged", "the link's signature does not match: it was altered")
    try:
        payload = json.loads(_unb64(body))
    except (binascii.Error, ValueError) as exc:
        raise TokenError("malformed", "the link is malformed (unreadable payload)") from exc
    if not isinstance(payload, dict) or payload.get("p") != purpose:
        raise TokenError("forged", f"the link is not a {purpose} link")
    expires = payload.get("exp", 0)
    if not isinstance(expires, int) or isinstance(expires, bool):
        raise TokenError("malformed", "the link is malformed (no expiry)")
    if expires < int(now.timestamp()):
        try:
            when = datetime.fromtimestamp(expires, tz=now.tzinfo).isoformat()
        except (OverflowError, OSError, ValueError):
            when = "a time long past"
        raise TokenError("expired", f"the link expired at {when}")
    claims = payload.get("c")
    if not isinstance(claims, dict):
        raise TokenError("malformed", "the link is malformed (no claims)")
    return claims

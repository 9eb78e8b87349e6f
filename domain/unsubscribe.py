"""Unsubscribe links: signed, expiring, bound to one customer and one channel."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import get_args
from urllib.parse import quote

from domain.messages import Channel
from domain.tokens import TokenError, sign, verify

PURPOSE = "unsubscribe"
VALID_FOR = timedelta(days=60)


@dataclass(frozen=True)
class UnsubscribeRequest:
    customer_id: str
    channel: str


@dataclass(frozen=True)
class UnsubscribeLinks:
    secret: str
    public_url: str
    # Keys links were signed with before a rotation: still accepted, never used to sign.
    previous: tuple[str, ...] = ()

    def token(self, customer_id: str, channel: str, now: datetime) -> str:
        return sign(self.secret, PURPOSE, {"c": customer_id, "ch": channel}, now + VALID_FOR)

    def url(self, customer_id: str, channel: str, now: datetime) -> str:
        token = quote(self.token(customer_id, channel, now), safe="")
        return f"{self.public_url.rstrip('/')}/unsubscribe?token={token}"

    def read(self, token: str, now: datetime) -> UnsubscribeRequest:
        """The request a genuine, unexpired token carries; TokenError otherwise."""
        claims = verify(self.secret, PURPOSE, token, now, previous=self.previous)
        customer, channel = claims.get("c"), claims.get("ch")
        if not isinstance(customer, str) or channel not in get_args(Channel):
            raise TokenError("malformed", "the link does not name a customer and a channel")
        return UnsubscribeRequest(customer_id=customer, channel=str(channel))

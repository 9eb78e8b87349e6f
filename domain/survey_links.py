"""Survey answer links: signed, expiring, bound to one customer and one survey."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from domain.surveys import PURPOSE
from domain.tokens import TokenError, sign, verify


@dataclass(frozen=True)
class SurveyLinks:
    secret: str
    public_url: str
    # Keys links were signed with before a rotation: still accepted, never used to sign.
    previous: tuple[str, ...] = ()

    def url(self, survey_id: str, customer_id: str, expires_at: datetime) -> str:
        token = sign(self.secret, PURPOSE, {"s": survey_id, "c": customer_id}, expires_at)
        return f"{self.public_url.rstrip('/')}/s/{token}"

    def read(self, token: str, now: datetime) -> tuple[str, str]:
        """(survey id, customer id) of a genuine, unexpired link; TokenError otherwise."""
        claims = verify(self.secret, PURPOSE, token, now, previous=self.previous)
        survey, customer = claims.get("s"), claims.get("c")
        if not isinstance(survey, str) or not isinstance(customer, str):
            raise TokenError("malformed", "the link does not name a survey")
        return survey, customer

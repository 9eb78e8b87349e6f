"""The send ledger: frequency-cap claims made atomically, and every decision with its reason.

`claim` counts a customer's messages in each cap's rolling window and, if every cap has room,
records this message, all in one transaction under a per-customer lock (PostgreSQL: an
advisory transaction lock on the customer; SQLite: BEGIN IMMEDIATE serialises writers). So
two journeys sending to one customer at the same moment, from two worker processes, can never
both take the last slot. A retried claim for the same idempotency key finds its row and is
allowed again; `release` gives a slot back when the message did not go out after all.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Any, Self

from pydantic import BaseModel
from sqlalchemy import Connection, Engine, case, delete, func, select, text

from domain.messages import OutboxMessage
from domain.send_policy import FrequencyCap
from store.db import insert_ignoring, reading, writing
from store.schema import send_claims, send_decisions

Decision = str  # sent | uncertain | deferred | skipped | suppressed | failed


class CapCheck(BaseModel):
    """The answer of `claim`: allowed, or the cap that is full and when it has room again."""

    allowed: bool
    cap: FrequencyCap | None = None
    room_at: datetime | None = None


class SendDecision(BaseModel):
    idempotency_key: str
    customer_id: str
    journey_id: str | None = None
    step_id: str | None = None
    channel: str
    category: str
    decision: Decision
    reason: str
    until: datetime | None = None
    at: datetime

    @classmethod
    def on(cls, message: OutboxMessage, decision: Decision, reason: str, at: datetime) -> Self:
        """A decision about a message already in the outbox (a provider's report on it)."""
        return cls(
            idempotency_key=message.idempotency_key,
            customer_id=message.customer_id,
            journey_id=message.journey_id,
            step_id=message.step_id,
            channel=message.channel,
            category="",
            decision=decision,
            reason=reason,
            at=at,
        )


def _lock_customer(conn: Connection, customer_id: str) -> None:
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(hashtext(:c))"), {"c": customer_id})
    # SQLite: the write transaction began with BEGIN IMMEDIATE and holds the database lock.


class SendLedger:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def claim(
        self,
        idempotency_key: str,
        customer_id: str,
        channel: str,
        category: str,
        caps: list[FrequencyCap],
        now: datetime,
    ) -> CapCheck:
        """Take a slot under every cap in `caps`, or say which cap is full until when."""
        c = send_claims.c
        with writing(self._engine) as conn:
            _lock_customer(conn, customer_id)
            if conn.execute(
                select(c.idempotency_key).where(c.idempotency_key == idempotency_key)
            ).first():
                return CapCheck(allowed=True)
            for cap in caps:
                query = select(c.at).where(
                    c.customer_id == customer_id,
                    c.at > now - cap.per,
                    c.category.in_(cap.categories),
                )
                if cap.channels is not None:
                    query = query.where(c.channel.in_(cap.channels))
                counted = sorted(conn.scalars(query))
                if len(counted) >= cap.max:
                    # Room again when enough of the oldest counted messages leave the window.
                    room_at = counted[len(counted) - cap.max] + cap.per
                    return CapCheck(allowed=False, cap=cap, room_at=room_at)
            conn.execute(
                send_claims.insert().values(
                    idempotency_key=idempotency_key,
                    customer_id=customer_id,
                    channel=channel,
                    category=category,
                    at=now,
                )
            )
            return CapCheck(allowed=True)

    def release(self, idempotency_key: str) -> None:
        with writing(self._engine) as conn:
            conn.execute(
                delete(send_claims).where(send_claims.c.idempotency_key == idempotency_key)
            )

    def record(self, decision: SendDecision) -> bool:
        """Store a decision once (same key, decision and until); True when it is new."""
        until = decision.until.isoformat() if decision.until else ""
        values: dict[str, Any] = decision.model_dump()
        values["decision_key"] = f"{decision.idempotency_key}|{decision.decision}|{until}"[:700]
        with writing(self._engine) as conn:
            inserted = conn.execute(
                insert_ignoring(conn, send_decisions, "decision_key")
                .values(values)
                .returning(send_decisions.c.id)
            ).first()
            return inserted is not None

    def decisions(
        self,
        customer_id: str | None = None,
        journey_id: str | None = None,
        decision: str | None = None,
        limit: int = 100,
    ) -> list[SendDecision]:
        """Newest first, filtered."""
        d = send_decisions.c
        query = select(send_decisions).order_by(d.at.desc(), d.id.desc()).limit(limit)
        for column, value in ((d.customer_id, customer_id), (d.journey_id, journey_id)):
            if value is not None:
                query = query.where(column == value)
        if decision is not None:
            query = query.where(d.decision == decision)
        with reading(self._engine) as conn:
            return [SendDecision.model_validate(dict(row._mapping)) for row in conn.execute(query)]

    def deferrals(self, journey_id: str | None = None) -> Counter[tuple[str, str]]:
        """Deferral decisions by (channel, kind): kind is `quiet_hours`, `cap` or `other`."""
        d = send_decisions.c
        kind = case(
            (d.reason.like("quiet hours%"), "quiet_hours"),
            (d.reason.like("cap %"), "cap"),
            else_="other",
        ).label("kind")
        query = (
            select(d.channel, kind, func.count().label("n"))
            .where(d.decision == "deferred")
            .group_by(d.channel, kind)
        )
        if journey_id is not None:
            query = query.where(d.journey_id == journey_id)
        with reading(self._engine) as conn:
            return Counter({(channel, k): n for channel, k, n in conn.execute(query)})

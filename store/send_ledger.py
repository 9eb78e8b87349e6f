"""The send ledger: frequency-cap claims made atomically, and every decision with its reason.

`claim` counts a customer's messages in each cap's rolling window and, if every cap has room,
records this message, all in one transaction under a per-customer lock (PostgreSQL: an
advisory transaction lock on the customer; SQLite: BEGIN IMMEDIATE serialises writers). So
two journeys sending to one customer at the same moment, from two worker processes, can never
both take the last slot. A retried claim for the same idempotency key finds its row and is
allowed again; `release` gives a slot back when the message did not go out after all.
`decide` makes the whole send decision (domain/eligibility.py) under that same lock, on the
customer's claims it reads there, and claims the slot when the message goes.

Each decision carries the rule behind it (`rule`), which reports group by; the reason is for
people to read.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from typing import Any, Self

from pydantic import BaseModel
from sqlalchemy import Connection, Engine, case, delete, func, select, text

from domain.eligibility import Eligibility, RecentSend, SendFacts, cap_window, decide_send, full_cap
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
    rule: str | None = None  # the eligibility rule behind it (domain/eligibility.py Rule)
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
        with writing(self._engine) as conn:
            _lock_customer(conn, customer_id)
            if _claimed(conn, idempotency_key):
                return CapCheck(allowed=True)
            window = max((cap.per for cap in caps), default=timedelta(0))
            full = full_cap(caps, _claims(conn, customer_id, now - window), now)
            if full is not None:
                return CapCheck(allowed=False, cap=full[0], room_at=full[1])
            _insert_claim(conn, idempotency_key, customer_id, channel, category, now)
            return CapCheck(allowed=True)

    def decide(self, idempotency_key: str, customer_id: str, facts: SendFacts) -> Eligibility:
        """Decide the send on the customer's claims, and claim its slot if it goes, at once.

        `facts.recent` and `facts.claimed` are read here, under the customer's lock; a message
        no cap applies to takes no slot (and no lock).
        """
        window = cap_window(facts.caps, facts.channel, facts.category)
        if window is None:
            return decide_send(facts)
        with writing(self._engine) as conn:
            _lock_customer(conn, customer_id)
            claimed = _claimed(conn, idempotency_key)
            recent = _claims(conn, customer_id, facts.now - window)
            decided = decide_send(facts.model_copy(update={"recent": recent, "claimed": claimed}))
            if decided.sends and not claimed:
                _insert_claim(
                    conn, idempotency_key, customer_id, facts.channel, facts.category, facts.now
                )
            return decided

    def recent(self, customer_id: str, since: datetime) -> list[RecentSend]:
        """The customer's messages holding a cap slot claimed after `since` (for previews)."""
        with reading(self._engine) as conn:
            return _claims(conn, customer_id, since)

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
        idempotency_key: str | None = None,
    ) -> list[SendDecision]:
        """Newest first, filtered."""
        d = send_decisions.c
        query = select(send_decisions).order_by(d.at.desc(), d.id.desc()).limit(limit)
        for column, value in (
            (d.customer_id, customer_id),
            (d.journey_id, journey_id),
            (d.decision, decision),
            (d.idempotency_key, idempotency_key),
        ):
            if value is not None:
                query = query.where(column == value)
        with reading(self._engine) as conn:
            return [SendDecision.model_validate(dict(row._mapping)) for row in conn.execute(query)]

    def deferrals(self, journey_id: str | None = None) -> Counter[tuple[str, str]]:
        """Deferral decisions by (channel, kind): kind is `quiet_hours`, `cap` or `other`."""
        d = send_decisions.c
        kind = case(
            (d.rule == "quiet_hours", "quiet_hours"),
            (d.rule == "cap", "cap"),
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


def _claimed(conn: Connection, idempotency_key: str) -> bool:
    c = send_claims.c
    found = conn.execute(select(c.idempotency_key).where(c.idempotency_key == idempotency_key))
    return found.first() is not None


def _claims(conn: Connection, customer_id: str, since: datetime) -> list[RecentSend]:
    c = send_claims.c
    rows = conn.execute(
        select(c.at, c.channel, c.category)
        .where(c.customer_id == customer_id, c.at > since)
        .order_by(c.at)
    )
    return [RecentSend(at=at, channel=channel, category=category) for at, channel, category in rows]


def _insert_claim(
    conn: Connection,
    idempotency_key: str,
    customer_id: str,
    channel: str,
    category: str,
    now: datetime,
) -> None:
    conn.execute(
        send_claims.insert().values(
            idempotency_key=idempotency_key,
            customer_id=customer_id,
            channel=channel,
            category=category,
            at=now,
        )
    )

"""The delivery outbox of the event log: what each appended event still has to reach.

Rows are written in the append's transaction (store/event_log.py). A deliverer takes the lease
of one customer, delivers that customer's pending rows oldest first, and records the outcome;
a failure that may heal is retried later in place (later events of the customer wait behind
it, keeping log order); one that will not heal is parked with its reason for an operator.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel
from sqlalchemy import Engine, func, or_, select, update

from domain.events import StoredEvent
from store.db import insert_ignoring, reading, writing
from store.schema import customer_events, delivery_leases, event_deliveries

DeliveryStatus = Literal["pending", "done", "parked"]


class DeliveryRecord(BaseModel):
    """One event's delivery: where it stands, how often it was tried, and what it did."""

    seq: int
    event_id: str
    customer_id: str
    enroll_journey: str | None = None
    status: DeliveryStatus
    attempts: int
    next_attempt_at: datetime
    last_error: str | None = None
    outcome: list[dict[str, Any]] | None = None
    created_at: datetime
    done_at: datetime | None = None


def _record(row: Any) -> DeliveryRecord:
    return DeliveryRecord.model_validate(dict(row._mapping))


class DeliveryQueue:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    # --- leases: one deliverer per customer at a time -----------------------------------------

    def claim(self, customer_id: str, owner: str, now: datetime, ttl: timedelta) -> bool:
        """Take (or renew) the customer's lease; False while another owner holds it."""
        d = delivery_leases.c
        with writing(self._engine) as conn:
            taken = conn.execute(
                update(delivery_leases)
                .where(d.customer_id == customer_id, or_(d.expires_at < now, d.owner == owner))
                .values(owner=owner, expires_at=now + ttl)
                .returning(d.customer_id)
            ).first()
            if taken is not None:
                return True
            inserted = conn.execute(
                insert_ignoring(conn, delivery_leases, "customer_id")
                .values(customer_id=customer_id, owner=owner, expires_at=now + ttl)
                .returning(d.customer_id)
            ).first()
            return inserted is not None

    def release(self, customer_id: str, owner: str) -> None:
        d = delivery_leases.c
        with writing(self._engine) as conn:
            conn.execute(
                delivery_leases.delete().where(d.customer_id == customer_id, d.owner == owner)
            )

    # --- the queue ----------------------------------------------------------------------------

    def pending_customers(self, now: datetime, limit: int = 100) -> list[str]:
        """Customers with a delivery due now, those waiting longest first."""
        d = event_deliveries.c
        with reading(self._engine) as conn:
            rows = conn.execute(
                select(d.customer_id, func.min(d.seq).label("first"))
                .where(d.status == "pending", d.next_attempt_at <= now)
                .group_by(d.customer_id)
                .order_by("first")
                .limit(limit)
            )
            return [row.customer_id for row in rows]

    def next_pending(self, customer_id: str) -> tuple[DeliveryRecord, StoredEvent] | None:
        """The customer's oldest pending delivery and its event as the log holds it."""
        d = event_deliveries.c
        with reading(self._engine) as conn:
            row = conn.execute(
                select(event_deliveries)
                .where(d.customer_id == customer_id, d.status == "pending")
                .order_by(d.seq)
                .limit(1)
            ).first()
            if row is None:
                return None
            record = _record(row)
            event = conn.execute(
                select(customer_events).where(customer_events.c.seq == record.seq)
            ).one()
            return record, StoredEvent.model_validate(dict(event._mapping))

    def complete(self, seq: int, outcome: list[dict[str, Any]], now: datetime) -> None:
        self._set(seq, status="done", outcome=outcome, done_at=now, last_error=None)

    def retry_later(self, seq: int, error: str, at: datetime) -> None:
        d = event_deliveries.c
        with writing(self._engine) as conn:
            conn.execute(
                update(event_deliveries)
                .where(d.seq == seq, d.status == "pending")
                .values(attempts=d.attempts + 1, next_attempt_at=at, last_error=error[:2000])
            )

    def park(self, seq: int, error: str, outcome: list[dict[str, Any]], now: datetime) -> None:
        d = event_deliveries.c
        with writing(self._engine) as conn:
            conn.execute(
                update(event_deliveries)
                .where(d.seq == seq)
                .values(
                    status="parked",
                    attempts=d.attempts + 1,
                    last_error=error[:2000],
                    outcome=outcome,
                    done_at=now,
                )
            )

    def _set(self, seq: int, **values: Any) -> None:
        with writing(self._engine) as conn:
            conn.execute(
                update(event_deliveries).where(event_deliveries.c.seq == seq).values(**values)
            )

    # --- reading and operating ----------------------------------------------------------------

    def for_events(self, event_ids: list[str]) -> dict[str, DeliveryRecord]:
        d = event_deliveries.c
        with reading(self._engine) as conn:
            rows = conn.execute(select(event_deliveries).where(d.event_id.in_(event_ids)))
            return {row.event_id: _record(row) for row in rows}

    def parked(self, limit: int = 100, customer_id: str | None = None) -> list[DeliveryRecord]:
        """Deliveries that failed for a reason that will not heal by itself, newest first."""
        d = event_deliveries.c
        query = select(event_deliveries).where(d.status == "parked")
        if customer_id is not None:
            query = query.where(d.customer_id == customer_id)
        with reading(self._engine) as conn:
            return [_record(r) for r in conn.execute(query.order_by(d.seq.desc()).limit(limit))]

    def backlog(self) -> int:
        """Deliveries not yet done (due or waiting to be retried)."""
        d = event_deliveries.c
        with reading(self._engine) as conn:
            return conn.scalar(select(func.count()).where(d.status == "pending")) or 0

    def retry(self, event_id: str, now: datetime) -> DeliveryRecord | None:
        """Put a parked delivery back in the queue, due now; None if no parked one has that id."""
        d = event_deliveries.c
        with writing(self._engine) as conn:
            row = conn.execute(
                update(event_deliveries)
                .where(d.event_id == event_id, d.status == "parked")
                .values(status="pending", attempts=0, next_attempt_at=now, done_at=None)
                .returning(*event_deliveries.c)
            ).first()
            return None if row is None else _record(row)

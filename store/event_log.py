"""The customer event log: append-only, deduplicated by event id, ordered by sequence."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Engine, func, select

from domain.events import AppendResult, CustomerEvent, StoredEvent
from store.customers import missing_in
from store.db import insert_ignoring, reading, writing
from store.errors import UnknownCustomer
from store.schema import customer_events


def _stored(row: Any) -> StoredEvent:
    return StoredEvent.model_validate(dict(row._mapping))


class EventLog:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def append(self, event: CustomerEvent, received_at: datetime) -> AppendResult:
        return self.append_many([event], received_at)[0]

    def append_many(self, events: list[CustomerEvent], received_at: datetime) -> list[AppendResult]:
        """Append a batch in one transaction; results are in the order of `events`.

        An event id already logged, or seen earlier in the batch, is reported as a
        duplicate and not written. If any customer is unknown nothing is written.
        """
        if not events:
            return []
        first: dict[str, CustomerEvent] = {}
        for event in events:
            first.setdefault(event.event_id, event)
        with writing(self._engine) as conn:
            unknown = missing_in(conn, (e.customer_id for e in events))
            if unknown:
                raise UnknownCustomer(
                    next(e.customer_id for e in events if e.customer_id in unknown)
                )
            # Sorted, so concurrent batches sharing ids take their row locks in one order
            # and cannot deadlock on PostgreSQL.
            rows = [
                {
                    **first[event_id].model_dump(mode="json"),
                    "occurred_at": first[event_id].occurred_at,
                    "received_at": received_at,
                }
                for event_id in sorted(first)
            ]
            stmt = insert_ignoring(conn, customer_events, "event_id").returning(
                customer_events.c.event_id
            )
            written = set(conn.scalars(stmt, rows))
        results: list[AppendResult] = []
        for event in events:
            fresh = event.event_id in written
            written.discard(event.event_id)
            results.append(AppendResult(event_id=event.event_id, duplicate=not fresh))
        return results

    def for_customer(self, customer_id: str, limit: int = 200) -> list[StoredEvent]:
        """The customer's newest `limit` events, oldest of them first."""
        with reading(self._engine) as conn:
            newest = (
                select(customer_events)
                .where(customer_events.c.customer_id == customer_id)
                .order_by(customer_events.c.seq.desc())
                .limit(limit)
            )
            return [_stored(row) for row in reversed(conn.execute(newest).all())]

    def get(self, event_id: str) -> StoredEvent | None:
        with reading(self._engine) as conn:
            row = conn.execute(
                select(customer_events).where(customer_events.c.event_id == event_id)
            ).first()
            return None if row is None else _stored(row)

    def count(self) -> int:
        with reading(self._engine) as conn:
            return conn.scalar(select(func.count()).select_from(customer_events)) or 0

"""The customer event log: append-only, deduplicated by event id, ordered by sequence."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from pydantic_core import to_jsonable_python
from sqlalchemy import Connection, Engine, func, insert, select

from domain.customers import CustomerProfile
from domain.events import (
    AppendResult,
    ConflictingEvent,
    CustomerEvent,
    LoggedEvent,
    StoredEvent,
    differing_field,
)
from domain.importing import ImportCounts
from store.customers import lock_customers, missing_in
from store.db import insert_ignoring, reading, writing
from store.errors import UnknownCustomer
from store.schema import customer_events, customers, event_deliveries
from store.tombstones import refuse_erased

# Rows per import transaction: large enough to amortise a commit, small enough that a
# SQLite writer never holds the lock long and a PostgreSQL statement stays modest.
IMPORT_BATCH = 5000


def _analyze(engine: Engine, *tables: str) -> None:
    # Right after a bulk load PostgreSQL's planner still believes the tables are tiny and
    # picks nested loops that take minutes; fresh statistics fix that at once.
    if engine.dialect.name == "postgresql":
        with writing(engine) as conn:
            conn.exec_driver_sql(f"ANALYZE {', '.join(tables)}")


def _profile_row(profile: CustomerProfile) -> dict[str, Any]:
    values = profile.model_dump(mode="json")
    return values | {"created_at": profile.created_at, "updated_at": profile.updated_at}


def _insert_in_order(conn: Connection, rows: list[dict[str, Any]]) -> dict[str, int]:
    """Insert the rows; their positions, ascending in the order of `rows`.

    Not a statement per row (15 times slower for a batch of 1,000, scripts/bench_append.py).
    SQLite has one writer at a time, and this transaction is it: the positions are the next
    ones after the highest AUTOINCREMENT ever handed out (`sqlite_sequence`, which the insert
    moves on), written in one executemany. PostgreSQL: one multi-row INSERT ... RETURNING
    (which numbers the rows of its VALUES list in order, though it does not promise to return
    them in order: they are matched by event id and checked; should the positions not follow
    the batch, the insert is undone, a savepoint, and made again one row at a time).
    """
    if conn.dialect.name == "sqlite":
        last = conn.exec_driver_sql(
            "SELECT seq FROM sqlite_sequence WHERE name = 'customer_events'"
        ).scalar()
        numbered = [row | {"seq": int(last or 0) + 1 + i} for i, row in enumerate(rows)]
        conn.execute(insert(customer_events), numbered)
        return {row["event_id"]: row["seq"] for row in numbered}
    if len(rows) > 1:
        with conn.begin_nested() as savepoint:
            returned = conn.execute(
                insert(customer_events).returning(
                    customer_events.c.event_id, customer_events.c.seq
                ),
                rows,
            )
            positions = {event_id: int(seq) for event_id, seq in returned}
            ordered = [positions[row["event_id"]] for row in rows]
            if all(a < b for a, b in itertools.pairwise(ordered)):
                return positions
            savepoint.rollback()
    positions = {}
    for row in rows:
        seq = conn.scalar(insert(customer_events).values(row).returning(customer_events.c.seq))
        positions[row["event_id"]] = int(seq)
    return positions


def _stored(row: Any) -> StoredEvent:
    return StoredEvent.model_validate(dict(row._mapping))


def _logged(row: Any) -> LoggedEvent:
    values = dict(row._mapping)
    seq = values.pop("seq")
    values.pop("received_at")
    return LoggedEvent(seq=seq, event=CustomerEvent.model_validate(values))


class EventLog:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def append(self, event: CustomerEvent, received_at: datetime) -> AppendResult:
        return self.append_many([event], received_at)[0]

    def append_many(
        self,
        events: list[CustomerEvent],
        received_at: datetime,
        conn: Connection | None = None,
        enroll_journey: str | None = None,
    ) -> list[AppendResult]:
        """Append a batch in one transaction; results are in the order of `events`.

        Each fresh event gets the next position in the log (in batch order) and a pending
        delivery in the same transaction: accepted means it will reach its runs. An event id
        already logged, or seen earlier in the batch, is a duplicate and not written; with a
        different body it is refused (ConflictingEvent) and nothing is written. If any customer
        is unknown nothing is written. Given `conn`, the append joins that transaction.
        `enroll_journey` marks the events as manual enrollments into that journey.
        """
        if not events:
            return []
        if conn is None:
            with writing(self._engine) as own:
                return self.append_many(events, received_at, own, enroll_journey)
        first: dict[str, CustomerEvent] = {}
        for event in events:
            seen = first.setdefault(event.event_id, event)
            if seen is event:
                continue
            field = differing_field(seen, event)
            if field is not None:
                raise ConflictingEvent(event.event_id, field)
        unknown = lock_customers(conn, (e.customer_id for e in events))
        if unknown:
            raise UnknownCustomer(next(e.customer_id for e in events if e.customer_id in unknown))
        refuse_erased(conn, (e.customer_id for e in events), "its events are")
        positions = self._check_logged(conn, first)
        fresh = [event for event_id, event in first.items() if event_id not in positions]
        if fresh:
            rows = [
                {
                    **e.model_dump(mode="json"),
                    "occurred_at": e.occurred_at,
                    "received_at": received_at,
                }
                for e in fresh
            ]
            positions.update(_insert_in_order(conn, rows))
            conn.execute(
                insert(event_deliveries),
                [
                    {
                        "seq": positions[e.event_id],
                        "event_id": e.event_id,
                        "customer_id": e.customer_id,
                        "enroll_journey": enroll_journey,
                        "status": "pending",
                        "attempts": 0,
                        "next_attempt_at": received_at,
                        "created_at": received_at,
                    }
                    for e in fresh
                ],
            )
        written = {e.event_id for e in fresh}
        results: list[AppendResult] = []
        for event in events:
            is_fresh = event.event_id in written
            written.discard(event.event_id)
            results.append(
                AppendResult(
                    event_id=event.event_id, duplicate=not is_fresh, seq=positions[event.event_id]
                )
            )
        return results

    @staticmethod
    def _check_logged(conn: Connection, batch: dict[str, CustomerEvent]) -> dict[str, int]:
        """The positions of the batch's ids the log holds; ConflictingEvent if one differs."""
        positions: dict[str, int] = {}
        ids = sorted(batch)
        for start in range(0, len(ids), 500):
            rows = conn.execute(
                select(customer_events).where(
                    customer_events.c.event_id.in_(ids[start : start + 500])
                )
            )
            for row in rows:
                stored = _stored(row)
                field = differing_field(stored, batch[stored.event_id])
                if field is not None:
                    raise ConflictingEvent(stored.event_id, field)
                positions[stored.event_id] = stored.seq
        return positions

    def import_events(
        self,
        events: Sequence[CustomerEvent],
        received_at: datetime,
        *,
        new_customer: Callable[[str], CustomerProfile] | None = None,
        batch: int = IMPORT_BATCH,
        progress: Callable[[int, int], None] | None = None,
    ) -> ImportCounts:
        """Bulk-load events idempotently, one transaction per `batch` events.

        Event ids already logged (or repeated in `events`) are counted as duplicates and not
        written, so an interrupted import is finished by running it again. Customers the log
        does not know are created from `new_customer(customer_id)`; without it, an unknown
        customer refuses the whole import before anything is written. `progress(done, total)`
        is called after each batch, counting distinct event ids.
        """
        if batch < 1:
            raise ValueError(f"batch must be at least 1, got {batch}")
        with reading(self._engine) as conn:
            refuse_erased(conn, (e.customer_id for e in events), "its events are")
        if new_customer is None:
            unknown = self._missing(e.customer_id for e in events)
            if unknown:
                raise UnknownCustomer(min(unknown))
        first: dict[str, CustomerEvent] = {}
        for event in events:
            first.setdefault(event.event_id, event)
        unique = list(first.values())
        counts = ImportCounts(duplicates=len(events) - len(unique))
        for start in range(0, len(unique), batch):
            chunk = unique[start : start + batch]
            with writing(self._engine) as conn:
                created = 0
                if new_customer is not None:
                    ids = sorted({e.customer_id for e in chunk})
                    profiles = [_profile_row(new_customer(cid)) for cid in ids]
                    stmt = insert_ignoring(conn, customers, "customer_id").returning(
                        customers.c.customer_id
                    )
                    created = len(conn.scalars(stmt, profiles).all())
                rows = [
                    {
                        "event_id": e.event_id,
                        "customer_id": e.customer_id,
                        "type": e.type,
                        "occurred_at": e.occurred_at,
                        "properties": to_jsonable_python(e.properties),
                        "received_at": received_at,
                    }
                    # Sorted for one lock order across concurrent importers (PostgreSQL).
                    for e in sorted(chunk, key=lambda e: e.event_id)
                ]
                stmt = insert_ignoring(conn, customer_events, "event_id").returning(
                    customer_events.c.event_id
                )
                written = len(conn.scalars(stmt, rows).all())
            counts += ImportCounts(
                imported=written, duplicates=len(chunk) - written, customers_created=created
            )
            if progress is not None:
                progress(min(start + batch, len(unique)), len(unique))
        if counts.imported:
            _analyze(self._engine, "customers", "customer_events")
        return counts

    def _missing(self, ids: Any) -> set[str]:
        with reading(self._engine) as conn:
            return missing_in(conn, ids)

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

    def after(
        self, customer_id: str, after_seq: int, types: list[str] | None = None, limit: int = 100
    ) -> list[LoggedEvent]:
        """The customer's events after position `after_seq`, oldest first (of `types` if given)."""
        with reading(self._engine) as conn:
            query = select(customer_events).where(
                customer_events.c.customer_id == customer_id, customer_events.c.seq > after_seq
            )
            if types is not None:
                query = query.where(customer_events.c.type.in_(types))
            rows = conn.execute(query.order_by(customer_events.c.seq).limit(limit))
            return [_logged(row) for row in rows]

    def get(self, event_id: str) -> StoredEvent | None:
        with reading(self._engine) as conn:
            row = conn.execute(
                select(customer_events).where(customer_events.c.event_id == event_id)
            ).first()
            return None if row is None else _stored(row)

    def count(self) -> int:
        with reading(self._engine) as conn:
            return conn.scalar(select(func.count()).select_from(customer_events)) or 0

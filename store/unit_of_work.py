"""One use case, one transaction: a state change and the event that tells of it commit together.

A use case opens `unit_of_work(engine)`, passes the Connection to each repository method it
calls (`conn=`) and appends its event with `append_once` in the same transaction; only after
the commit does it ask for delivery (the journey service's ingest, which finds the event logged
and delivers it). A crash before the commit leaves nothing; a crash after it leaves state and
event together, and the retried request appends nothing new and delivers the logged event.

Inside a unit of work every read and write goes through its Connection: on SQLite a second
connection would queue behind this transaction's write lock, or read a snapshot without its
changes.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

from sqlalchemy import Connection, Engine, select

from domain.events import CustomerEvent
from store.customers import lock_customers
from store.db import writing
from store.event_log import EventLog
from store.schema import customer_events


@contextmanager
def unit_of_work(engine: Engine) -> Iterator[Connection]:
    """One read-write transaction, committed when the block ends, rolled back if it raises."""
    with writing(engine) as conn:
        yield conn


def logged(conn: Connection, event_id: str) -> CustomerEvent | None:
    """The event the log holds under `event_id`, seen from inside the caller's transaction."""
    c = customer_events.c
    row = conn.execute(
        select(c.event_id, c.customer_id, c.type, c.occurred_at, c.properties).where(
            c.event_id == event_id
        )
    ).first()
    return None if row is None else CustomerEvent.model_validate(dict(row._mapping))


def append_once(
    conn: Connection,
    log: EventLog,
    event: CustomerEvent,
    received_at: datetime,
    *,
    first_wins: bool = False,
) -> CustomerEvent:
    """Append `event` in the caller's transaction unless the log holds it; the event as logged.

    A retried request builds its event again at a later clock reading: the logged event keeps
    the time it first happened. Otherwise the bodies must agree (a different one is refused
    with ConflictingEvent and the transaction rolls back), unless `first_wins`, for reports
    that may repeat with other details (the first one logged stands).
    """
    # The customer's row lock first (PostgreSQL): a concurrent request for the same event
    # then waits here and finds it logged, instead of racing to append another body.
    lock_customers(conn, [event.customer_id])
    earlier = logged(conn, event.event_id)
    if earlier is not None:
        event = (
            earlier if first_wins else event.model_copy(update={"occurred_at": earlier.occurred_at})
        )
    log.append_many([event], received_at, conn=conn)
    return event

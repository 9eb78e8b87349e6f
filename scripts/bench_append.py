"""Benchmark: event log append of a batch against raw SQLAlchemy Core executemany.

The product is `EventLog.append_many` (what `POST /events` with a batch does: duplicate and
conflict check, customers known and not erased, a position per event in batch order, a
pending delivery per event, one transaction). The baseline writes the same rows, the events
and their deliveries, with Core `insert` executemany (positions numbered by the caller) in one
transaction, nothing else; the events alone are printed too. A SQLite file (WAL) each, batches
of `--batch` fresh events for as many customers, `--rounds` batches alternating; the median.

    python -m scripts.bench_append [--batch 1000] [--rounds 5] [--json]
"""

from __future__ import annotations

import argparse
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import insert

from domain.customers import CustomerUpsert
from domain.events import CustomerEvent
from scripts.bench_table import Row, emit, median, spread
from store.db import writing
from store.schema import customer_events, event_deliveries
from store.store import Store


def batch_of(customers: list[str], size: int) -> list[CustomerEvent]:
    now = datetime.now(UTC)
    return [
        CustomerEvent(
            event_id=uuid.uuid4().hex,
            customer_id=customers[i % len(customers)],
            type="page_viewed",
            occurred_at=now,
            properties={"path": f"/p/{i}", "n": i},
        )
        for i in range(size)
    ]


def raw_append(
    store: Store,
    customers: list[str],
    batch: int,
    now: datetime,
    seq: int,
    deliveries: bool = True,
) -> float:
    """Events per second of Core executemany of a fresh batch's rows (and deliveries)."""
    events = batch_of(customers, batch)
    started = time.perf_counter()
    with writing(store.engine) as conn:
        conn.execute(
            insert(customer_events),
            [
                {
                    "seq": seq + 1 + i,
                    "event_id": e.event_id,
                    "customer_id": e.customer_id,
                    "type": e.type,
                    "occurred_at": e.occurred_at,
                    "properties": e.properties,
                    "received_at": now,
                }
                for i, e in enumerate(events)
            ],
        )
        if deliveries:
            conn.execute(
                insert(event_deliveries),
                [
                    {
                        "seq": seq + 1 + i,
                        "event_id": e.event_id,
                        "customer_id": e.customer_id,
                        "enroll_journey": None,
                        "status": "pending",
                        "attempts": 0,
                        "next_attempt_at": now,
                        "created_at": now,
                    }
                    for i, e in enumerate(events)
                ],
            )
    return batch / (time.perf_counter() - started)


def main(batch: int, rounds: int, as_rows: bool) -> None:
    with tempfile.TemporaryDirectory(prefix="journeys-bench-append-") as tmp:
        product_store = Store.open(f"sqlite:///{Path(tmp) / 'product.db'}")
        raw_store = Store.open(f"sqlite:///{Path(tmp) / 'raw.db'}")
        now = datetime.now(UTC)
        customers = [f"c{i}" for i in range(batch)]
        for store in (product_store, raw_store):
            for customer in customers:
                store.customers.upsert(CustomerUpsert(customer_id=customer), now)
        product_rates: list[float] = []
        raw_rates: list[float] = []
        events_only: list[float] = []
        seq = 0
        for _ in range(rounds + 1):  # the first round warms both up, not counted
            events = batch_of(customers, batch)
            started = time.perf_counter()
            results = product_store.events.append_many(events, now)
            product = batch / (time.perf_counter() - started)
            positions = [int(r.seq or 0) for r in results]
            assert positions == sorted(positions)
            raw_rates.append(raw_append(raw_store, customers, batch, now, seq))
            events_only.append(raw_append(raw_store, customers, batch, now, seq + batch, False))
            seq += 2 * batch
            product_rates.append(product)
        product_store.close()
        raw_store.close()
    product_rate, raw_rate = median(product_rates[1:]), median(raw_rates[1:])
    print(
        f"append_many, batches of {batch}: {product_rate:,.0f} events/s; raw executemany of "
        f"the same rows (events and deliveries) {raw_rate:,.0f} events/s; ratio "
        f"{product_rate / raw_rate:.2f}; raw executemany of the events alone "
        f"{median(events_only[1:]):,.0f} events/s"
    )
    if as_rows:
        emit(
            Row(
                metric=f"event log append, batch of {batch} (vs Core executemany of its rows)",
                product=product_rate,
                baseline=raw_rate,
                unit="events/s",
                goal=">= 0.7 and >= 20,000/s",
                met=product_rate / raw_rate >= 0.7 and product_rate >= 20_000,
                command=f"python -m scripts.bench_append --batch {batch} --rounds {rounds}",
                spread=spread(product_rates[1:]),
            )
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--json", action="store_true", help="print the table's rows too")
    args = parser.parse_args()
    main(args.batch, args.rounds, args.json)

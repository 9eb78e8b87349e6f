"""Benchmark: event accepted -> running journey reacts (a goal exit recorded), p50 and p99.

Runs are started first and park on a `wait_for`; then goal events are sent through the
service's ingest, the way `POST /events` does, at a fixed rate. Latency is from the moment an
ingest call starts to the run's completion (its goal exit recorded in the store, which the run
writes before it completes). File-backed Temporal dev server (SQLite, WAL), one in-process
worker, a SQLite store (or --database-url).

    python -m scripts.bench_latency [--events 200] [--rate 20] [--database-url URL]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from temporalio.testing import WorkflowEnvironment

from domain.customers import CustomerUpsert
from domain.events import CustomerEvent
from domain.loader import load_journey_text
from scripts.bench_table import Row, emit
from store.store import Store
from workers.binaries import temporal_cli
from workers.client import core_runtime
from workers.data_converter import DATA_CONVERTER
from workers.dev_server import sqlite_pragma_args
from workers.worker import activities_for, build_worker

try:
    from app.journeys import JourneyService
except ImportError:  # measuring the code from before the application layer
    from entrypoints.service import JourneyService  # type: ignore[no-redef]

WAITS = """
id: bench_waits
name: Waits for a goal
category: transactional
trigger: {event: bench_entered}
exit_when: [{event: bench_goal}]
steps:
  - {id: wait, wait_for: {event: bench_never, timeout: 1d}}
"""


def _event(customer: str, type_: str) -> CustomerEvent:
    return CustomerEvent(
        event_id=uuid.uuid4().hex, customer_id=customer, type=type_, occurred_at=datetime.now(UTC)
    )


async def main(events: int, rate: float, database_url: str | None, as_rows: bool = False) -> None:
    work = Path(tempfile.mkdtemp(prefix="journeys-latency-"))
    env = await WorkflowEnvironment.start_local(
        data_converter=DATA_CONVERTER,
        dev_server_existing_path=temporal_cli(),
        dev_server_database_filename=str(work / "temporal.db"),
        dev_server_extra_args=sqlite_pragma_args(),
        runtime=core_runtime(),  # the core's operator notes filtered, as in the product
    )
    store = Store.open(database_url or f"sqlite:///{work / 'journeys.db'}")
    queue = f"latency-{uuid.uuid4().hex[:8]}"

    async def client() -> Any:
        return env.client

    service = JourneyService(store, client, queue)
    service.publish_definition(load_journey_text(WAITS))
    now = datetime.now(UTC)
    prefix = uuid.uuid4().hex[:6]
    customers = [f"lat-{prefix}-{i}" for i in range(events)]
    for customer in customers:
        store.customers.upsert(CustomerUpsert(customer_id=customer), now)
    latencies: list[float] = []
    worker = build_worker(env.client, queue, activities_for(store, {}))
    try:
        async with worker:
            handles = {}
            for customer in customers:
                [result] = await service.ingest([_event(customer, "bench_entered")])
                [delivery] = result.deliveries
                handles[customer] = env.client.get_workflow_handle(str(delivery.workflow_id))
            await asyncio.sleep(2)  # all parked on their wait

            async def react(customer: str) -> None:
                started = time.perf_counter()
                await service.ingest([_event(customer, "bench_goal")])
                await handles[customer].result()
                latencies.append(time.perf_counter() - started)

            tasks = []
            for customer in customers:
                tasks.append(asyncio.create_task(react(customer)))
                await asyncio.sleep(1 / rate)
            await asyncio.gather(*tasks)
    finally:
        store.close()
        await env.shutdown()
    ordered = sorted(latencies)
    p99 = ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]
    print(
        f"{events} goal events at {rate:g}/s: p50 {statistics.median(ordered) * 1000:.0f} ms, "
        f"p99 {p99 * 1000:.0f} ms, max {ordered[-1] * 1000:.0f} ms"
    )
    if as_rows:
        emit(
            Row(
                metric=f"event accepted -> journey reacts (goal exit), p99 at {rate:g} events/s",
                product=p99 * 1000,
                unit="ms",
                higher_is_better=False,
                goal="p99 <= 300 ms" if rate <= 20 else "(report)",
                met=p99 * 1000 <= 300 if rate <= 20 else None,
                command=f"python -m scripts.bench_latency --events {events} --rate {rate:g}",
                spread=f"p50 {statistics.median(ordered) * 1000:.0f} ms",
            )
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200)
    parser.add_argument("--rate", type=float, default=20)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--json", action="store_true", help="print the table's rows too")
    args = parser.parse_args()
    asyncio.run(main(args.events, args.rate, args.database_url, args.json))

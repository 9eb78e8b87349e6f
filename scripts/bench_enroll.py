"""Benchmark: enroll CDNOW customers into win_back through the audience run, at scale.

One file-backed Temporal dev server (SQLite, WAL), one store (SQLite), one process. Both
phases run the same N customers, the first N members (by id) of win_back's real segment,
`at_risk_buyers` on the imported CDNOW base as of 1998-07-01, and both have a worker (the
same construction as production: `build_worker`, every journey activity) running the runs:

(`--segment all_buyers`, every CDNOW buyer, for N above at_risk_buyers' 4,202.)

1. baseline: raw `start_workflow` of JourneyWorkflow for each customer, 32 in flight, with
   their enrollment rows written beforehand and outside the clock (no entry rules, no
   event log);
2. product: one AudienceEnrollmentWorkflow over the segment (segment query with the entry
   anti-join, event log and enrollment rows per page, signal-with-start).

A rate is N over the time until every run has been started. Each phase then waits until
every run has recorded that it is parked on its first timer (its current step in the store),
and the process RSS is read then. The temporary directory is removed at the end.

    python -m scripts.bench_enroll [--customers 10000] [--data PATH] [--max-cached 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import tempfile
import time
import uuid
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, insert, select
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from activities.audience import AudienceActivities
from app.journeys import JourneyService
from domain.audiences import EnrollAudience
from domain.contracts import EnrollCustomer
from domain.events import CustomerEvent
from domain.importing import cdnow_profile, parse_cdnow
from domain.loader import load_journey_file
from domain.segments import AllOf, FieldCondition, Segment, load_segments_file
from scripts.bench_table import Row, emit
from store.schema import enrollments
from store.store import Store
from workers.binaries import temporal_cli
from workers.client import core_runtime
from workers.data_converter import DATA_CONVERTER
from workers.dev_server import sqlite_pragma_args
from workers.settings import REPO_ROOT, get_settings
from workers.worker import activities_for, build_worker
from workflows.audience import AudienceEnrollmentWorkflow
from workflows.journey import JourneyWorkflow

AS_OF = date(1998, 7, 1)
DEFAULT_DATA = REPO_ROOT.parent / "shared" / "data" / "cdnow" / "CDNOW_master.txt"
PARKED_STEP = "wait_first_offer"  # win_back's first step: a timer until 10:00 local time
IN_FLIGHT = 32
# at_risk_buyers has 4,202 members as of 1998-07-01; larger runs take every buyer.
ALL_BUYERS = Segment(
    name="all_buyers", where=FieldCondition(field="order_count", op="gte", value=1)
)


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def not_parked(store: Store, journey_id: str) -> int:
    with store.engine.connect() as conn:
        return int(
            conn.scalar(
                select(func.count())
                .select_from(enrollments)
                .where(
                    enrollments.c.journey_id == journey_id,
                    enrollments.c.current_step.is_distinct_from(PARKED_STEP),
                )
            )
            or 0
        )


async def wait_parked(store: Store, journey_id: str, expected: int, started: float) -> float:
    """Seconds from `started` until all `expected` runs report they wait on their timer."""
    while True:
        with store.engine.connect() as conn:
            total = conn.scalar(
                select(func.count())
                .select_from(enrollments)
                .where(enrollments.c.journey_id == journey_id)
            )
        if total == expected and not_parked(store, journey_id) == 0:
            return time.perf_counter() - started
        await asyncio.sleep(0.5)


async def main(
    customers: int, lines: list[str], max_cached: int, segment: str, as_rows: bool = False
) -> None:
    work = Path(tempfile.mkdtemp(prefix="journeys-bench-enroll-"))
    try:
        await bench(work, customers, lines, max_cached, segment, as_rows)
    finally:
        shutil.rmtree(work, ignore_errors=True)


async def bench(
    work: Path,
    customers: int,
    lines: list[str],
    max_cached: int,
    segment_name: str,
    as_rows: bool = False,
) -> None:
    env = await WorkflowEnvironment.start_local(
        data_converter=DATA_CONVERTER,
        dev_server_existing_path=temporal_cli(),
        dev_server_database_filename=str(work / "temporal.db"),
        dev_server_extra_args=sqlite_pragma_args(),
        runtime=core_runtime(),  # the core's operator notes filtered, as in the product
    )
    store = Store.open(f"sqlite:///{work / 'journeys.db'}")
    try:
        now = datetime.now(UTC)
        started = time.perf_counter()
        parsed = parse_cdnow(lines)
        store.events.import_events(parsed.events, now, new_customer=lambda c: cdnow_profile(c, now))
        store.projections.rebuild(AS_OF)
        print(
            f"imported {len(parsed.events)} orders of {len(parsed.customer_ids)} customers and "
            f"built the projections as of {AS_OF} in {time.perf_counter() - started:.1f}s"
        )
        segments = load_segments_file(REPO_ROOT / "journeys/segments/segments.yaml")
        segments[ALL_BUYERS.name] = ALL_BUYERS
        at_risk = segments[segment_name]
        total = store.segments.count(at_risk, AS_OF)
        ids = store.segments.members(at_risk, AS_OF, limit=customers)
        print(f"{segment_name} as of {AS_OF}: {total} members; benchmarking the first {len(ids)}")
        # The first N members: the real segment, cut at the Nth id, still evaluated by SQL.
        first_n = Segment(
            name="first_n",
            where=AllOf(
                all=[at_risk.where, FieldCondition(field="customer_id", op="lte", value=ids[-1])]
            ),
        )
        win_back = load_journey_file(REPO_ROOT / "journeys" / "win_back.yaml")
        print(
            f"worker: max_cached_workflows={max_cached}, max_concurrent_workflow_tasks="
            f"{get_settings().max_concurrent_workflow_tasks}, "
            f"max_concurrent_activities=64; {IN_FLIGHT} starts in flight"
        )
        before = rss_mib()
        raw_rate, raw_parked, raw_rss = await raw_phase(
            env.client, store, win_back, ids, max_cached
        )
        product_rate, product_parked, product_rss = await product_phase(
            env.client, store, win_back, first_n, len(ids), max_cached
        )
    finally:
        store.close()
        await env.shutdown()
    n = len(ids)
    print(f"customers: {n}")
    print(
        f"raw start_workflow (baseline)  : {raw_rate:7.1f} starts/s; "
        f"all parked after {raw_parked:.1f}s"
    )
    print(
        f"audience enrollment (product)  : {product_rate:7.1f} enrollments/s; "
        f"all parked after {product_parked:.1f}s; ratio {product_rate / raw_rate:.2f}"
    )
    print(
        f"process RSS before {before:.0f} MiB; with {n} raw runs parked {raw_rss:.0f} MiB; "
        f"then with {n} product runs parked {product_rss:.0f} MiB"
    )
    if as_rows:
        command = f"python -m scripts.bench_enroll --customers {customers}"
        emit(
            Row(
                metric=f"audience enrollment of {n} CDNOW buyers: runs started (vs raw start)",
                product=product_rate,
                baseline=raw_rate,
                unit="/s",
                goal=">= 0.90",
                met=product_rate / raw_rate >= 0.90,
                command=command,
            )
        )
        emit(
            Row(
                metric=f"audience enrollment of {n}: time until all parked (vs raw start)",
                product=product_parked,
                baseline=raw_parked,
                unit="s",
                higher_is_better=False,
                goal=">= 0.97",
                met=raw_parked / product_parked >= 0.97,
                command=command,
            )
        )


async def raw_phase(
    client: Client, store: Store, journey: Any, ids: list[str], max_cached: int
) -> tuple[float, float, float]:
    queue = f"bench-raw-{uuid.uuid4().hex[:8]}"
    entries = {customer: uuid.uuid4().hex for customer in ids}
    now = datetime.now(UTC)
    with store.engine.begin() as conn:  # the runs' rows, so their step records land
        conn.execute(
            insert(enrollments),
            [
                {
                    "entry_id": entry,
                    "workflow_id": f"raw/{queue}/{customer}",
                    "journey_id": "raw_baseline",
                    "version": 1,
                    "customer_id": customer,
                    "status": "running",
                    "entered_at": now,
                }
                for customer, entry in entries.items()
            ],
        )
    gate = asyncio.Semaphore(IN_FLIGHT)

    async def start(customer: str) -> None:
        trigger = CustomerEvent(
            event_id=uuid.uuid4().hex,
            customer_id=customer,
            type="customer_lapsed",
            occurred_at=datetime.now(UTC),
        )
        async with gate:
            await client.start_workflow(
                JourneyWorkflow.run,
                EnrollCustomer(
                    journey=journey,
                    version=1,
                    customer_id=customer,
                    entry_id=entries[customer],
                    trigger=trigger,
                ),
                id=f"raw/{queue}/{customer}",
                task_queue=queue,
            )

    worker = build_worker(client, queue, activities_for(store, {}), max_cached_workflows=max_cached)
    async with worker:
        started = time.perf_counter()
        await asyncio.gather(*(start(c) for c in ids))
        rate = len(ids) / (time.perf_counter() - started)
        parked = await wait_parked(store, "raw_baseline", len(ids), started)
        return rate, parked, rss_mib()


async def product_phase(
    client: Client, store: Store, journey: Any, segment: Segment, expected: int, max_cached: int
) -> tuple[float, float, float]:
    queue = f"bench-product-{uuid.uuid4().hex[:8]}"

    async def connect() -> Client:
        return client

    service = JourneyService(store, connect, queue)
    service.publish_definition(journey)
    audiences = AudienceActivities(store, {segment.name: segment}, service)
    worker = build_worker(
        client,
        queue,
        [*activities_for(store, {}), audiences.measure_audience, audiences.enroll_audience_batch],
        max_cached_workflows=max_cached,
    )
    async with worker:
        started = time.perf_counter()
        progress = await client.execute_workflow(
            AudienceEnrollmentWorkflow.run,
            EnrollAudience(
                journey_id=journey.id,
                segment=segment.name,
                run_key="bench",
                as_of=AS_OF,
                batch_size=500,
                per_second=10_000,
            ),
            id=f"audience/{journey.id}/{queue}",
            task_queue=queue,
        )
        rate = progress.enrolled / (time.perf_counter() - started)
        assert progress.enrolled == expected, progress
        parked = await wait_parked(store, journey.id, expected, started)
        return rate, parked, rss_mib()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--max-cached", type=int, default=1000, help="max_cached_workflows")
    parser.add_argument(
        "--segment", default="at_risk_buyers", help="a segment of the segments file, or all_buyers"
    )
    parser.add_argument("--json", action="store_true", help="print the table's rows too")
    args = parser.parse_args()
    lines = args.data.read_text().splitlines()
    asyncio.run(main(args.customers, lines, args.max_cached, args.segment, args.json))

"""Benchmark: enroll CDNOW customers into win_back through the audience run, at scale.

On one file-backed Temporal dev server (SQLite, WAL) in one process, with one worker:
1. baseline: raw `start_workflow` calls of JourneyWorkflow for N customers (no store, no
   entry rules), 50 in flight;
2. product: one AudienceEnrollmentWorkflow enrolling N members of a segment of the imported
   CDNOW base (segment query, entry rules, event log, enrollment rows, signal-with-start).
Printed: both rates, their ratio, and the worker's memory with every run parked on a timer.

    python -m scripts.bench_enroll [--customers 10000] [--data PATH/CDNOW_master.txt]
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import tempfile
import time
import uuid
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from activities.audience import AudienceActivities
from domain.audiences import EnrollAudience
from domain.contracts import EnrollCustomer
from domain.events import CustomerEvent
from domain.importing import cdnow_profile, parse_cdnow
from domain.loader import load_journey_file
from domain.segments import FieldCondition, Segment
from entrypoints.service import JourneyService
from store.store import Store
from workers.binaries import temporal_cli
from workers.dev_server import sqlite_pragma_args
from workers.settings import REPO_ROOT
from workers.worker import activities_for, build_worker
from workflows.audience import AudienceEnrollmentWorkflow
from workflows.journey import JourneyWorkflow

AS_OF = date(1998, 7, 1)
DEFAULT_DATA = REPO_ROOT.parent / "shared" / "data" / "cdnow" / "CDNOW_master.txt"


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def main(customers: int, lines: list[str]) -> None:
    work = Path(tempfile.mkdtemp(prefix="journeys-bench-enroll-"))
    env = await WorkflowEnvironment.start_local(
        data_converter=pydantic_data_converter,
        dev_server_existing_path=temporal_cli(),
        dev_server_database_filename=str(work / "temporal.db"),
        dev_server_extra_args=sqlite_pragma_args(),
    )
    store = Store.open(f"sqlite:///{work / 'journeys.db'}")
    now = datetime.now(UTC)
    started = time.perf_counter()
    parsed = parse_cdnow(lines)
    store.events.import_events(parsed.events, now, new_customer=lambda c: cdnow_profile(c, now))
    ids = sorted(parsed.customer_ids)[:customers]
    print(
        f"imported {len(parsed.events)} orders of {len(parsed.customer_ids)} customers "
        f"in {time.perf_counter() - started:.1f}s"
    )
    # The first N customers by id: a segment the database evaluates like any other.
    segments = {
        "first_n": Segment(
            name="first_n", where=FieldCondition(field="customer_id", op="in", value=ids)
        )
    }
    queue = f"bench-{uuid.uuid4().hex[:8]}"

    async def client() -> Any:
        return env.client

    service = JourneyService(store, client, queue)
    win_back = load_journey_file(REPO_ROOT / "journeys" / "win_back.yaml")
    service.publish_definition(win_back)
    audiences = AudienceActivities(store, segments, service)
    worker = build_worker(
        env.client,
        queue,
        [
            *activities_for(store, {}),
            audiences.measure_audience,
            audiences.enroll_audience_batch,
        ],
    )
    before = rss_mib()
    try:
        async with worker:
            raw_rate = await raw_starts(env, queue, win_back, ids)
            enroll_rate = await audience_run(env, queue, len(ids))
            await asyncio.sleep(5)  # let the first steps run and the runs park on timers
            parked = rss_mib()
    finally:
        store.close()
        await env.shutdown()
    print(f"customers: {len(ids)}")
    print(f"raw start_workflow (baseline)  : {raw_rate:7.1f} starts/s")
    print(
        f"audience enrollment (product)  : {enroll_rate:7.1f} enrollments/s"
        f"  ratio {enroll_rate / raw_rate:.2f}"
    )
    print(f"process RSS before {before:.0f} MiB; with {len(ids)} runs parked: {parked:.0f} MiB")


async def raw_starts(env: WorkflowEnvironment, queue: str, journey: Any, ids: list[str]) -> float:
    gate = asyncio.Semaphore(50)

    async def start(customer: str) -> None:
        trigger = CustomerEvent(
            event_id=uuid.uuid4().hex,
            customer_id=customer,
            type="customer_lapsed",
            occurred_at=datetime.now(UTC),
        )
        async with gate:
            await env.client.start_workflow(
                JourneyWorkflow.run,
                EnrollCustomer(
                    journey=journey,
                    version=1,
                    customer_id=customer,
                    entry_id=uuid.uuid4().hex,
                    trigger=trigger,
                ),
                id=f"raw/{queue}/{customer}",
                task_queue=f"{queue}-parked",  # no worker: starting is what is measured
            )

    started = time.perf_counter()
    await asyncio.gather(*(start(c) for c in ids))
    return len(ids) / (time.perf_counter() - started)


async def audience_run(env: WorkflowEnvironment, queue: str, expected: int) -> float:
    started = time.perf_counter()
    progress = await env.client.execute_workflow(
        AudienceEnrollmentWorkflow.run,
        EnrollAudience(
            journey_id="win_back",
            segment="first_n",
            run_key="bench",
            as_of=AS_OF,
            batch_size=500,
            per_second=10_000,
        ),
        id=f"audience/win_back/{queue}",
        task_queue=queue,
    )
    elapsed = time.perf_counter() - started
    assert progress.enrolled == expected, progress
    return progress.enrolled / elapsed


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    args = parser.parse_args()
    asyncio.run(main(args.customers, args.data.read_text().splitlines()))

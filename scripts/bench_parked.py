"""Benchmark: many runs parked on timers with the default cache, then a tenth wake at once.

One file-backed dev server (WAL), one SQLite store, one worker with the default
`max_cached_workflows` (JOURNEYS_MAX_CACHED_WORKFLOWS, 1,000): nine tenths of `--runs`
JourneyWorkflow runs park on a 30-day timer, then the last tenth start with a timer set to
fire at one shared instant (each run's wait is the time left until it). Reported: the
process RSS with every run parked (worker and driver share it), and, over the woken runs'
histories, the longest workflow task after the timer fired (started -> completed) and the
longest from scheduled to completed (waiting for a slot and replaying an evicted run
included). The issue's goal is 100,000 runs; `make bench` runs a smaller number.

    python -m scripts.bench_parked [--runs 100000] [--sample 500] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import shutil
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from temporalio.api.enums.v1 import EventType
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from domain.journey import JourneyDefinition
from scripts.bench_parking import Parking, parked_journey, settled_rss_kib
from scripts.bench_table import Row, emit
from store.store import Store
from workers.binaries import temporal_cli
from workers.client import core_runtime
from workers.data_converter import DATA_CONVERTER
from workers.dev_server import sqlite_pragma_args
from workers.settings import get_settings
from workers.worker import activities_for, build_worker


async def task_times(client: Client, workflow_ids: list[str]) -> tuple[float, float]:
    """The longest (started -> completed, scheduled -> completed) workflow task, in seconds,
    among the tasks after each run's timer fired."""
    gate = asyncio.Semaphore(16)
    longest_run, longest_total = 0.0, 0.0

    async def one(workflow_id: str) -> None:
        nonlocal longest_run, longest_total
        async with gate:
            history = await client.get_workflow_handle(workflow_id).fetch_history()
        fired = False
        scheduled = started = None
        for event in history.events:
            kind = event.event_type
            at = event.event_time.ToDatetime()
            if kind == EventType.EVENT_TYPE_TIMER_FIRED:
                fired = True
            elif not fired:
                continue
            elif kind == EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED:
                scheduled = at
            elif kind == EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED:
                started = at
            elif kind in (
                EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED,
                EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED,
                EventType.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT,
            ):
                if started is not None:
                    longest_run = max(longest_run, (at - started).total_seconds())
                if scheduled is not None:
                    longest_total = max(longest_total, (at - scheduled).total_seconds())
                scheduled = started = None

    await asyncio.gather(*(one(w) for w in workflow_ids))
    return longest_run, longest_total


async def main(runs: int, sample: int, as_rows: bool) -> None:
    work = Path(tempfile.mkdtemp(prefix="journeys-bench-parked-"))
    env = await WorkflowEnvironment.start_local(
        data_converter=DATA_CONVERTER,
        dev_server_existing_path=temporal_cli(),
        dev_server_database_filename=str(work / "temporal.db"),
        dev_server_extra_args=sqlite_pragma_args(),
        runtime=core_runtime(),
    )
    store = Store.open(f"sqlite:///{work / 'journeys.db'}")
    queue = f"parked-{uuid.uuid4().hex[:8]}"
    woken = max(1, runs // 10)
    sleepers = Parking(store, "sleep", runs - woken)
    wakers = Parking(store, "wake", woken)
    started = time.perf_counter()
    sleepers.prepare()
    wakers.prepare()
    print(f"{runs} customers and enrollments written in {time.perf_counter() - started:.1f}s")
    cache = get_settings().max_cached_workflows
    worker = build_worker(env.client, queue, activities_for(store, {}))
    try:
        async with worker:
            rate = await sleepers.start_journeys(
                env.client, queue, [parked_journey(timedelta(days=30))]
            )
            await sleepers.wait_journeys_parked()
            print(f"{runs - woken} runs parked on a 30-day timer ({rate:.0f} starts/s)")
            # Each waker's wait is the time left until one instant after the last start.
            burst = woken / rate
            wake_at = datetime.now(UTC) + timedelta(seconds=burst * 2 + min(30, 5 + runs // 100))
            definitions: dict[int, JourneyDefinition] = {}
            gate = asyncio.Semaphore(32)

            async def start(customer: str) -> None:
                seconds = int((wake_at - datetime.now(UTC)).total_seconds())
                definition = definitions.get(seconds)
                if definition is None:
                    definition = definitions[seconds] = parked_journey(timedelta(seconds=seconds))
                async with gate:
                    await wakers.start_journeys(env.client, queue, [definition], [customer])

            await asyncio.gather(*(start(c) for c in wakers.customers))
            await wakers.wait_journeys_parked()
            rss = settled_rss_kib() / 1024
            print(f"all {runs} parked; process RSS {rss:.0f} MiB (cache {cache})")
            left = (wake_at - datetime.now(UTC)).total_seconds()
            if left < 0:
                print(f"the wakers were not all parked before their timers fired ({-left:.0f}s)")
            await asyncio.sleep(max(0.0, left))
            woke = time.perf_counter()
            while (await env.client.count_workflows('ExecutionStatus = "Completed"')).count < woken:
                if time.perf_counter() - woke > 600:
                    raise TimeoutError("the woken runs did not complete within 10 minutes")
                await asyncio.sleep(0.5)
            woke_in = time.perf_counter() - woke
            print(f"{woken} runs woke at once and completed within {woke_in:.1f}s")
            ids = random.Random(16).sample(wakers.customers, min(sample, woken))
            longest_run, longest_total = await task_times(
                env.client, [wakers.workflow_id(c) for c in ids]
            )
            print(
                f"longest workflow task after the timer fired, over {len(ids)} woken runs: "
                f"{longest_run * 1000:.0f} ms running, {longest_total * 1000:.0f} ms from "
                "scheduled to completed"
            )
    finally:
        store.close()
        await env.shutdown()
        shutil.rmtree(work, ignore_errors=True)  # the dev server's and the store's files
    if as_rows:
        command = f"python -m scripts.bench_parked --runs {runs}"
        emit(
            Row(
                metric=f"{runs:,} runs parked on timers, cache {cache}: worker RSS",
                product=rss,
                unit="MiB",
                higher_is_better=False,
                goal="<= 1 GiB at 100,000",
                met=rss <= 1024 if runs >= 100_000 else None,
                command=command,
            )
        )
        emit(
            Row(
                metric=f"a tenth ({woken:,}) wake at once: longest workflow task (started->done)",
                product=longest_run * 1000,
                unit="ms",
                higher_is_better=False,
                goal="no task over 1 s",
                met=longest_run <= 1.0,
                command=command,
                spread=f"{longest_total * 1000:,.0f} ms from scheduled; woke in {woke_in:.0f}s",
            )
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--sample", type=int, default=500, help="woken histories to read")
    parser.add_argument("--json", action="store_true", help="print the table's rows too")
    args = parser.parse_args()
    asyncio.run(main(args.runs, args.sample, args.json))

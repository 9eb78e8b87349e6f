"""Many runs parked on a timer, for the memory and wake benchmarks (bench_memory, bench_parked).

`Parking` opens a SQLite store with N customers and their trigger events (bulk-loaded, as
`journeys import` does) and the enrollment rows the runs write their steps to, then starts N
runs of a one-step journey (`wait`) or of a bare sleeping workflow, 32 starts in flight, and
waits until every one is parked (its first workflow task completed, no task pending).
"""

from __future__ import annotations

import asyncio
import gc
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, insert, select
from temporalio.client import Client

from domain.contracts import EnrollCustomer
from domain.customers import CustomerProfile
from domain.events import CustomerEvent
from domain.journey import JourneyDefinition
from domain.loader import load_journey_file, load_journey_text
from scripts.bench_baseline import BareParked
from store.schema import enrollments
from store.store import Store
from workers.settings import REPO_ROOT
from workflows.journey import JourneyWorkflow

IN_FLIGHT = 32
PARK_STEP = "park"


def parked_journey(wait: timedelta) -> JourneyDefinition:
    seconds = max(1, int(wait.total_seconds()))
    return load_journey_text(
        f"""
id: bench_parked
name: Parked on a timer
category: transactional
trigger: {{event: bench_parked}}
steps:
  - {{id: {PARK_STEP}, wait: {{for: {seconds}s}}}}
"""
    )


def full_size_parked_journey(wait: timedelta) -> JourneyDefinition:
    """win_back's definition (13 steps, their templates: the size of a real journey) parked
    on a first wait of `wait`, under the id the parking counts."""
    win_back = load_journey_file(REPO_ROOT / "journeys" / "win_back.yaml").model_dump(mode="json")
    first = parked_journey(wait).steps[0].model_dump(mode="json", exclude_defaults=True)
    steps = [first, *win_back["steps"][1:]]
    return JourneyDefinition.model_validate({**win_back, "id": "bench_parked", "steps": steps})


def rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS in /proc/self/status")


def settled_rss_kib() -> int:
    gc.collect()
    return rss_kib()


class Parking:
    def __init__(self, store: Store, prefix: str, count: int) -> None:
        self.store = store
        self.prefix = prefix
        self.customers = [f"{prefix}-{i:06d}" for i in range(count)]
        self.entries = {c: uuid.uuid4().hex for c in self.customers}
        self.triggers: dict[str, CustomerEvent] = {}

    def prepare(self) -> None:
        now = datetime.now(UTC)
        events = [
            CustomerEvent(
                event_id=uuid.uuid4().hex, customer_id=c, type="bench_parked", occurred_at=now
            )
            for c in self.customers
        ]
        self.triggers = {e.customer_id: e for e in events}
        self.store.events.import_events(
            events,
            now,
            new_customer=lambda c: CustomerProfile(customer_id=c, created_at=now, updated_at=now),
        )
        rows = [
            {
                "entry_id": self.entries[c],
                "workflow_id": self.workflow_id(c),
                "journey_id": "bench_parked",
                "version": 1,
                "customer_id": c,
                "status": "running",
                "entered_at": now,
            }
            for c in self.customers
        ]
        with self.store.engine.begin() as conn:
            for start in range(0, len(rows), 5000):
                conn.execute(insert(enrollments), rows[start : start + 5000])

    def workflow_id(self, customer: str) -> str:
        return f"parked/{self.prefix}/{customer}"

    async def start_journeys(
        self,
        client: Client,
        queue: str,
        journeys: Sequence[JourneyDefinition],
        customers: Sequence[str] | None = None,
    ) -> float:
        """Start a run per customer (journey `i % len(journeys)`); starts per second."""
        gate = asyncio.Semaphore(IN_FLIGHT)
        chosen = self.customers if customers is None else customers

        async def start(i: int, customer: str) -> None:
            async with gate:
                await client.start_workflow(
                    JourneyWorkflow.run,
                    EnrollCustomer(
                        journey=journeys[i % len(journeys)],
                        version=1,
                        customer_id=customer,
                        entry_id=self.entries[customer],
                        trigger=self.triggers[customer],
                    ),
                    id=self.workflow_id(customer),
                    task_queue=queue,
                )

        started = time.perf_counter()
        await asyncio.gather(*(start(i, c) for i, c in enumerate(chosen)))
        return len(chosen) / (time.perf_counter() - started)

    async def start_bare(self, client: Client, queue: str, wait: timedelta) -> float:
        gate = asyncio.Semaphore(IN_FLIGHT)

        async def start(customer: str) -> None:
            async with gate:
                await client.start_workflow(
                    BareParked.run,
                    wait.total_seconds(),
                    id=self.workflow_id(customer),
                    task_queue=queue,
                )

        started = time.perf_counter()
        await asyncio.gather(*(start(c) for c in self.customers))
        return len(self.customers) / (time.perf_counter() - started)

    def journeys_not_parked(self) -> int:
        with self.store.engine.connect() as conn:
            return int(
                conn.scalar(
                    select(func.count())
                    .select_from(enrollments)
                    .where(
                        enrollments.c.journey_id == "bench_parked",
                        enrollments.c.customer_id.like(f"{self.prefix}-%"),
                        enrollments.c.status == "running",  # an ended run is not waited for
                        enrollments.c.current_step.is_distinct_from(PARK_STEP),
                    )
                )
                or 0
            )

    async def wait_journeys_parked(self, timeout: float = 1800) -> float:
        started = time.perf_counter()
        while self.journeys_not_parked():
            if time.perf_counter() - started > timeout:
                raise TimeoutError(f"{self.journeys_not_parked()} runs not parked")
            await asyncio.sleep(0.5)
        return time.perf_counter() - started

    async def wait_bare_parked(self, client: Client, timeout: float = 600) -> float:
        """Until no run has a workflow task pending (each described, 32 at a time)."""
        started = time.perf_counter()
        gate = asyncio.Semaphore(IN_FLIGHT)

        async def pending(customer: str) -> bool:
            async with gate:
                described = await client.get_workflow_handle(self.workflow_id(customer)).describe()
                raw: Any = described.raw_description
                return raw.HasField("pending_workflow_task") or described.history_length < 5

        remaining = list(self.customers)
        while remaining:
            if time.perf_counter() - started > timeout:
                raise TimeoutError(f"{len(remaining)} runs not parked")
            flags = await asyncio.gather(*(pending(c) for c in remaining))
            remaining = [c for c, flag in zip(remaining, flags, strict=True) if flag]
            if remaining:
                await asyncio.sleep(0.5)
        return time.perf_counter() - started

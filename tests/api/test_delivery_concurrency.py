"""Entry is atomic and delivery ordered, whichever processes race: PostgreSQL and a property test.

Several deliverers (each its own engine, as separate processes have) enroll one customer at once
on PostgreSQL: one run and one row. And, for any arrival order of two producers' events and any
transient failures on the way, what reaches the runs is the log, in order, each event once.
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.exc import OperationalError
from temporalio.client import Client

from app.delivery import Deliverer
from app.journeys import JourneyService
from domain.customers import CustomerUpsert
from domain.events import CustomerEvent, StoredEvent
from store.deliveries import DeliveryRecord
from store.store import Store
from tests.api.conftest import JOURNEYS_DIR, SURVEY_LINKS, RecordingChannel, Stack
from tests.pg import fresh_postgres_url, postgres_test_url
from workers.worker import activities_for, build_worker

T0 = datetime(2026, 3, 1, 9, tzinfo=UTC)


@pytest_asyncio.fixture
async def pg_stack(stack: Stack) -> AsyncIterator[tuple[str, str]]:
    if postgres_test_url() is None:
        pytest.skip("no PostgreSQL")
    with fresh_postgres_url() as url:
        store = Store.open(url)
        queue = f"pg-{uuid.uuid4().hex[:8]}"

        async def client() -> Client:
            return stack.client

        service = JourneyService(store, client, queue)
        service.publish_directory(JOURNEYS_DIR)
        store.customers.upsert(CustomerUpsert(customer_id="c-pg", email="c-pg@example.com"), T0)
        activities = activities_for(
            store, {"email": RecordingChannel()}, journeys=service, survey_links=SURVEY_LINKS
        )
        try:
            async with build_worker(stack.client, queue, activities):
                yield url, queue
        finally:
            store.close()


async def test_twenty_concurrent_enrollments_from_several_processes_give_one_run_and_one_row(
    pg_stack: tuple[str, str], stack: Stack
) -> None:
    url, queue = pg_stack
    results: list[str] = []
    barrier = threading.Barrier(20)

    def one_process(i: int) -> None:
        # Its own engine and deliverer, as another process would have.
        store = Store.open(url, migrate=False)

        async def client() -> Client:
            return stack.client

        service = JourneyService(store, client, queue)

        async def enroll() -> str:
            barrier.wait()
            delivery = await service.enroll("onboarding", "c-pg", request_id=f"req-{i}")
            return delivery.action

        try:
            results.append(asyncio.run(enroll()))
        finally:
            store.close()

    threads = [threading.Thread(target=one_process, args=(i,)) for i in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        await asyncio.to_thread(thread.join)
    assert sorted(results).count("started") == 1, results
    store = Store.open(url, migrate=False)
    try:
        runs = store.runs.for_customer("c-pg")
        assert [r.status for r in runs] == ["running"]
        assert store.deliveries.backlog() == 0
    finally:
        store.close()
    described = await stack.client.get_workflow_handle("journey/onboarding/c-pg").describe()
    assert described.status is not None and described.status.name == "RUNNING"


# --- ordering under any interleaving (no Temporal: what a run would be handed) ---------------


class Runs:
    """Records what each delivery would hand a run, failing transiently when told to."""

    def __init__(self, failures: list[bool]) -> None:
        self.failures = list(failures)
        self.handed: list[int] = []
        self.taken: list[int] = []
        self.last: int | None = None

    async def deliver(self, record: DeliveryRecord, event: StoredEvent) -> list[dict[str, Any]]:
        await asyncio.sleep(0)
        self.handed.append(event.seq)
        if self.failures and self.failures.pop(0):
            raise OperationalError("SELECT 1", {}, Exception("database restarting"))
        # The run's own rule (JourneyWorkflow._take_logged): drop positions it has passed.
        if self.last is None or event.seq > self.last:
            self.last = event.seq
            self.taken.append(event.seq)
        return []


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    order=st.permutations(list(range(6))),
    delays=st.lists(st.floats(min_value=0, max_value=0.01), min_size=6, max_size=6),
    failures=st.lists(st.booleans(), max_size=6),
)
def test_any_interleaving_of_two_producers_reaches_runs_as_the_log_in_order(
    tmp_path: Path, order: list[int], delays: list[float], failures: list[bool]
) -> None:
    store = Store.open(f"sqlite:///{tmp_path}/order-{uuid.uuid4().hex[:8]}.db")
    store.customers.upsert(CustomerUpsert(customer_id="c-1"), T0)
    runs = Runs(failures)
    now = [T0]
    deliverers = [
        Deliverer(store.deliveries, runs.deliver, owner=f"p{i}", clock=lambda: now[0])
        for i in range(2)
    ]

    async def produce(producer: int, indexes: list[int]) -> None:
        for index in indexes:
            await asyncio.sleep(delays[index])
            event = CustomerEvent(
                event_id=f"e-{index}",
                customer_id="c-1",
                type="x",
                occurred_at=T0,
                properties={"producer": producer},
            )
            await asyncio.to_thread(store.events.append_many, [event], now[0])
            await deliverers[producer].deliver_customer("c-1", respect_backoff=False)

    async def scenario() -> None:
        await asyncio.gather(produce(0, order[:3]), produce(1, order[3:]))
        # Whatever is left (a transient failure) is retried by a worker's drain, later.
        for _ in range(20):
            now[0] += timedelta(minutes=5)
            await deliverers[0].drain_once()
            if store.deliveries.backlog() == 0:
                break

    try:
        asyncio.run(scenario())
        log = [item.seq for item in store.events.after("c-1", 0)]
        assert runs.taken == log  # every event once, in log order
        assert store.deliveries.backlog() == 0
    finally:
        store.close()

"""Faults around delivery, on a real file-backed Temporal dev server: stopped and started
again while events wait, and a process killed in the middle of delivering an event.

Whatever happens, the run takes the path its events say, nothing is marked failed, the store
agrees with Temporal, and each message goes out once.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
import pytest_asyncio
from temporalio.client import Client

from app.journeys import JourneyService
from app.reconcile import reconcile
from domain.customers import CustomerUpsert
from domain.events import CustomerEvent
from domain.loader import load_journey_text
from store.store import Store
from tests.api.conftest import SURVEY_LINKS, RecordingChannel
from tests.api.test_delivery import RACE
from workers.data_converter import DATA_CONVERTER
from workers.dev_server import DevServer
from workers.mail_capture import free_port
from workers.worker import activities_for, build_worker

pytestmark = pytest.mark.e2e
REPO = Path(__file__).resolve().parents[2]


@dataclass
class Faults:
    server: DevServer
    log: Path
    store: Store
    db_url: str
    service: JourneyService
    channel: RecordingChannel
    queue: str

    async def restart(self) -> None:
        await self.server.start(self.log)


async def connect(address: str) -> Client:
    return await Client.connect(address, data_converter=DATA_CONVERTER)


@pytest_asyncio.fixture
async def faults(tmp_path: Path) -> AsyncIterator[Faults]:
    server = DevServer(tmp_path / "temporal.db", port=free_port(), ui_port=free_port())
    log = tmp_path / "temporal.log"
    await server.start(log)
    db_url = f"sqlite:///{tmp_path / 'journeys.db'}"
    store = Store.open(db_url)
    queue = f"faults-{uuid.uuid4().hex[:8]}"
    client = await connect(server.address)

    async def factory() -> Client:
        return client

    service = JourneyService(store, factory, queue)
    service.publish_definition(load_journey_text(RACE))
    channel = RecordingChannel()
    try:
        activities = activities_for(
            store, {"email": channel}, journeys=service, survey_links=SURVEY_LINKS
        )
        async with build_worker(client, queue, activities):
            yield Faults(server, log, store, db_url, service, channel, queue)
    finally:
        server.stop()
        store.close()


def customer(faults: Faults) -> str:
    customer_id = f"c-{uuid.uuid4().hex[:10]}"
    change = CustomerUpsert(customer_id=customer_id, email=f"{customer_id}@example.com")
    faults.store.customers.upsert(change, datetime.now(UTC))
    return customer_id


def event(customer_id: str, type_: str) -> CustomerEvent:
    return CustomerEvent(
        event_id=f"evt-{uuid.uuid4().hex[:12]}",
        customer_id=customer_id,
        type=type_,
        occurred_at=datetime.now(UTC),
    )


async def mail(faults: Faults, customer_id: str, timeout: float = 60) -> list[str]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        sent = [m.subject for m in faults.channel.to(f"{customer_id}@example.com")]
        if sent:
            await asyncio.sleep(1)  # a second message would have arrived by now
            return [m.subject for m in faults.channel.to(f"{customer_id}@example.com")]
        await asyncio.sleep(0.2)
    raise AssertionError("no message for the race run")


def spawn(module: str, *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", module, *args], cwd=REPO)


async def test_events_accepted_while_temporal_is_stopped_reach_their_runs_after_it_restarts(
    faults: Faults,
) -> None:
    customer_id = customer(faults)
    faults.server.stop()
    trigger = event(customer_id, "race_started")
    [started] = await faults.service.ingest([trigger])
    [followed] = await faults.service.ingest([event(customer_id, "race_follow_up")])
    [retried] = await faults.service.ingest([trigger])  # a client retrying its request
    assert (started.delivery, followed.delivery, retried.delivery) == ("pending",) * 3
    assert retried.duplicate and retried.seq == started.seq
    assert [r.status for r in faults.store.runs.for_customer(customer_id)] in ([], ["running"])
    await faults.restart()
    # A worker's drain delivers what waited, in order, once Temporal answers again.
    deadline = time.monotonic() + 60
    while faults.store.deliveries.backlog() and time.monotonic() < deadline:
        await faults.service.deliverer.deliver_customer(customer_id, respect_backoff=False)
        await asyncio.sleep(0.5)
    assert faults.store.deliveries.backlog() == 0
    assert await mail(faults, customer_id) == ["follow-up seen"]
    runs = faults.store.runs.for_customer(customer_id)
    assert len(runs) == 1 and runs[0].status in ("running", "completed")
    for _ in range(50):
        if faults.store.runs.for_customer(customer_id)[0].status == "completed":
            break
        await asyncio.sleep(0.2)
    assert await reconcile(faults.service, "race_path", repair=False) == []


async def test_a_process_killed_while_delivering_a_trigger_loses_nothing_and_sends_once(
    faults: Faults, tmp_path: Path
) -> None:
    customer_id = customer(faults)
    marker = tmp_path / "wedged"
    trigger_id = f"evt-{uuid.uuid4().hex[:12]}"
    process = spawn(
        "tests.e2e.wedged_deliverer",
        faults.server.address,
        faults.db_url,
        faults.queue,
        customer_id,
        trigger_id,
        str(marker),
    )
    try:
        deadline = time.monotonic() + 60
        while not marker.exists():
            assert process.poll() is None, "the delivering process died before wedging"
            assert time.monotonic() < deadline, "the delivering process never wedged"
            await asyncio.sleep(0.1)
    finally:
        process.kill()
        process.wait()
    # Killed with the run's row written, its workflow not started, the lease held.
    [run] = faults.store.runs.for_customer(customer_id)
    assert run.status == "running"
    [followed] = await faults.service.ingest([event(customer_id, "race_follow_up")])
    assert followed.delivery == "delivered", followed
    assert await mail(faults, customer_id) == ["follow-up seen"]
    runs = faults.store.runs.for_customer(customer_id)
    assert [r.entry_id for r in runs] == [run.entry_id]
    assert faults.store.deliveries.for_events([trigger_id])[trigger_id].status == "done"

"""Case tests get a time-skipping server each: a case left open by one test (with no worker
for its queue any more) must not hold up the clock of the next.

`desk` is a store, a journey service, a worker with the real activities and an HTTP client of
the real API, all on that server; `cli` runs the `journeys` CLI against the API tests' dev
server and store.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from temporalio.testing import WorkflowEnvironment
from typer.testing import CliRunner

from app.cases import CaseService
from app.journeys import JourneyService
from app.support import SupportService
from domain.cases import OpenCase
from domain.customers import CustomerUpsert
from entrypoints import cli_common
from entrypoints.api import create_app
from entrypoints.cli import app as cli_app
from store.store import Store
from tests.api.conftest import API_KEY, SURVEY_LINKS, RecordingChannel, Stack, stack
from tests.conftest import time_skipping_server
from tests.workflows.support import server_clock
from workers.settings import get_settings
from workers.worker import activities_for, build_worker

__all__ = ["stack"]

Journeys = Callable[..., Awaitable[tuple[int, str]]]


@pytest_asyncio.fixture
async def time_skipping_env() -> AsyncIterator[WorkflowEnvironment]:
    async with time_skipping_server() as env:
        yield env


@dataclass
class Desk:
    env: WorkflowEnvironment
    store: Store
    service: JourneyService
    cases: CaseService
    support: SupportService
    channel: RecordingChannel
    http: httpx.AsyncClient

    def events(self, customer: str) -> list[str]:
        return [e.type for e in self.store.events.for_customer(customer)]


@pytest_asyncio.fixture
async def desk(time_skipping_env: WorkflowEnvironment, tmp_path: Path) -> AsyncIterator[Desk]:
    store = Store.open(f"sqlite:///{tmp_path}/store.db")
    queue = f"cases-{uuid.uuid4().hex[:6]}"

    async def client() -> Any:
        return time_skipping_env.client

    service = JourneyService(store, client, queue)
    now = await time_skipping_env.get_current_time()
    store.customers.upsert(
        CustomerUpsert(
            customer_id="ada", email="ada@example.com", attributes={"first_name": "Ada"}
        ),
        now,
    )
    channel = RecordingChannel()
    activities = activities_for(
        store, {"email": channel}, server_clock, journeys=service, survey_links=SURVEY_LINKS
    )
    app = create_app(service, api_key=API_KEY, survey_links=SURVEY_LINKS)
    transport = httpx.ASGITransport(app=app)
    try:
        async with (
            build_worker(time_skipping_env.client, queue, activities),
            httpx.AsyncClient(
                transport=transport, base_url="http://api", headers={"X-API-Key": API_KEY}
            ) as http,
        ):
            yield Desk(
                time_skipping_env,
                store,
                service,
                CaseService(service),
                app.state.support,
                channel,
                http,
            )
    finally:
        store.close()


def complaint(severity: str = "urgent", customer_id: str = "ada") -> OpenCase:
    return OpenCase(
        customer_id=customer_id,
        category="delivery",
        severity=severity,
        summary="Parcel arrived broken",
    )


@pytest.fixture
def cli(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> Iterator[Journeys]:
    """`journeys ...` against the API tests' dev server and store; yields (exit code, output)."""
    target = stack.client.service_client.config.target_host
    monkeypatch.setenv("JOURNEYS_TEMPORAL_ADDRESS", target)
    monkeypatch.setenv("JOURNEYS_DATABASE_URL", stack.db_url)
    monkeypatch.setenv("JOURNEYS_TEMPORAL_TASK_QUEUE", stack.task_queue)
    monkeypatch.setenv("JOURNEYS_SECRET_KEY", SURVEY_LINKS.secret)
    get_settings.cache_clear()
    monkeypatch.setattr(cli_common.console, "width", 200)
    monkeypatch.setattr(cli_common.errors, "width", 200)
    runner = CliRunner()

    async def journeys(*args: str) -> tuple[int, str]:
        # In a thread: the CLI runs its own event loop while this one keeps the worker going.
        result = await asyncio.to_thread(runner.invoke, cli_app, list(args))
        return result.exit_code, result.output

    yield journeys
    get_settings.cache_clear()

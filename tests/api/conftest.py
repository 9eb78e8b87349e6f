"""API fixtures: the app over a real store (SQLite file) and a real Temporal dev server.

One dev server, store and worker serve the whole module tree; every test makes its own
customers (unique ids), so tests never see each other's runs.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
import pytest_asyncio
from fastapi import FastAPI
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment
from typer.testing import CliRunner, Result

from activities.channels import RenderedMessage
from app.journeys import JourneyService
from domain.survey_links import SurveyLinks
from entrypoints import cli_common
from entrypoints.api import create_app
from entrypoints.cli import app as cli_app
from store.store import Store
from workers.binaries import temporal_cli
from workers.data_converter import DATA_CONVERTER
from workers.settings import get_settings
from workers.worker import activities_for, build_worker

JOURNEYS_DIR = Path(__file__).resolve().parents[2] / "journeys"
API_KEY = "test-key-0123456789"
MAX_REQUEST_BYTES = 16_384
MAX_BATCH_EVENTS = 5

T = TypeVar("T")


class RecordingChannel:
    """An email channel that keeps what it was handed instead of sending it."""

    name = "email"

    def __init__(self) -> None:
        self.delivered: list[RenderedMessage] = []

    async def deliver(self, message: RenderedMessage) -> str:
        self.delivered.append(message)
        return f"<{message.idempotency_key}@test>"

    def to(self, recipient: str) -> list[RenderedMessage]:
        return [m for m in self.delivered if m.recipient == recipient]


SURVEY_LINKS = SurveyLinks("api-test-survey-secret", "http://api")


@dataclass
class Stack:
    store: Store
    service: JourneyService
    channel: RecordingChannel
    client: Client
    db_url: str = ""
    task_queue: str = ""


@asynccontextmanager
async def running_stack(db: Path) -> AsyncIterator[Stack]:
    """A store in the SQLite file `db`, a Temporal dev server and a worker, for a block."""
    store = Store.open(f"sqlite:///{db}")
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=temporal_cli(),
        data_converter=DATA_CONVERTER,
        ui=False,
    )
    channel = RecordingChannel()
    task_queue = f"api-test-{uuid.uuid4().hex[:8]}"

    async def client_factory() -> Client:
        return env.client

    service = JourneyService(store, client_factory, task_queue)
    service.publish_directory(JOURNEYS_DIR)
    try:
        activities = activities_for(
            store, {"email": channel}, journeys=service, survey_links=SURVEY_LINKS
        )
        async with build_worker(env.client, task_queue, activities):
            yield Stack(
                store=store,
                service=service,
                channel=channel,
                client=env.client,
                db_url=f"sqlite:///{db}",
                task_queue=task_queue,
            )
    finally:
        await env.shutdown()
        store.close()


@pytest_asyncio.fixture(scope="session")
async def stack(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Stack]:
    async with running_stack(tmp_path_factory.mktemp("api") / "journeys.db") as running:
        yield running


def make_app(stack: Stack) -> FastAPI:
    return create_app(
        stack.service,
        api_key=API_KEY,
        max_request_bytes=MAX_REQUEST_BYTES,
        max_batch_events=MAX_BATCH_EVENTS,
        survey_links=SURVEY_LINKS,
    )


@pytest_asyncio.fixture
async def anonymous(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    """A client that sends no API key."""
    transport = httpx.ASGITransport(app=make_app(stack))
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
        yield client


@pytest_asyncio.fixture
async def api(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    """A client that sends the right API key."""
    transport = httpx.ASGITransport(app=make_app(stack))
    async with httpx.AsyncClient(
        transport=transport, base_url="http://api", headers={"X-API-Key": API_KEY}
    ) as client:
        yield client


def new_id(prefix: str = "c") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


async def new_customer(api: httpx.AsyncClient, **fields: Any) -> str:
    """Create a customer with a unique id (and an email address unless told otherwise)."""
    customer_id = new_id(fields.pop("prefix", "c"))
    fields.setdefault("email", f"{customer_id}@example.com")
    response = await api.put(f"/customers/{customer_id}", json=fields)
    assert response.status_code == 200, response.text
    return customer_id


def event(customer_id: str, type_: str = "page_viewed", **properties: Any) -> dict[str, Any]:
    return {
        "event_id": new_id("evt"),
        "customer_id": customer_id,
        "type": type_,
        "occurred_at": "2026-03-01T09:00:00+00:00",
        "properties": properties,
    }


async def eventually(
    probe: Callable[[], Awaitable[T | None]], *, timeout: float = 15.0, what: str = "condition"
) -> T:
    """Poll `probe` until it returns something truthy; runs progress in real time here."""
    deadline = time.monotonic() + timeout
    while True:
        value = await probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.1)


def logged(stack: Stack, customer_id: str) -> list[str]:
    """The ids of the customer's events, without the message_* outcomes runs add as they send."""
    return [
        e.event_id
        for e in stack.store.events.for_customer(customer_id)
        if not e.type.startswith("message_")
    ]


@pytest.fixture
def cli(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The CLI pointed at the test stack's store, Temporal and task queue, 200 columns wide."""
    monkeypatch.setenv("JOURNEYS_DATABASE_URL", stack.db_url)
    monkeypatch.setenv("JOURNEYS_TEMPORAL_ADDRESS", stack.client.service_client.config.target_host)
    monkeypatch.setenv("JOURNEYS_TEMPORAL_TASK_QUEUE", stack.task_queue)
    monkeypatch.setattr(cli_common.console, "width", 200)
    monkeypatch.setattr(cli_common.errors, "width", 200)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


async def journeys(*args: str) -> Result:
    """`journeys ARGS` in a thread (the CLI runs an event loop of its own)."""
    return await asyncio.to_thread(CliRunner().invoke, cli_app, list(args))

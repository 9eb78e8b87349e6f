"""An API, a worker and a real Temporal dev server wired as `journeys api` and `journeys worker`
wire them: the client comes from `workers.client.connect`, so it carries the tracing
interceptor, and the worker takes it from the client."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
import pytest_asyncio
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from app.journeys import JourneyService
from entrypoints.api import create_app
from store.store import Store
from tests.api.conftest import API_KEY, JOURNEYS_DIR, SURVEY_LINKS, RecordingChannel
from workers.binaries import temporal_cli
from workers.client import connect
from workers.data_converter import DATA_CONVERTER
from workers.settings import Settings
from workers.worker import activities_for, build_worker


@dataclass
class Observed:
    store: Store
    service: JourneyService
    channel: RecordingChannel
    client: Client
    api: httpx.AsyncClient


@pytest_asyncio.fixture(scope="module")
async def observed(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Observed]:
    store = Store.open(f"sqlite:///{tmp_path_factory.mktemp('observed') / 'journeys.db'}")
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=temporal_cli(),
        data_converter=DATA_CONVERTER,
        ui=False,
    )
    address = env.client.service_client.config.target_host
    client = await connect(Settings(temporal_address=address))
    channel = RecordingChannel()
    task_queue = f"observed-{uuid.uuid4().hex[:8]}"

    async def client_factory() -> Client:
        return client

    service = JourneyService(store, client_factory, task_queue)
    service.publish_directory(JOURNEYS_DIR)
    app = create_app(service, api_key=API_KEY, survey_links=SURVEY_LINKS)
    activities = activities_for(
        store, {"email": channel}, journeys=service, survey_links=SURVEY_LINKS
    )
    try:
        async with build_worker(client, task_queue, activities):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(
                transport=transport, base_url="http://api", headers={"X-API-Key": API_KEY}
            ) as api:
                yield Observed(store, service, channel, client, api)
    finally:
        await env.shutdown()
        store.close()

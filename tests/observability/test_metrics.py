"""Metrics: after a real run, /metrics of the API (behind the API key unless made public) and a
worker's metrics port show the run, its message and send decision, the delivery queue and the
support queues; the Temporal SDK serves its own metrics on the runtime's port."""

from __future__ import annotations

import socket
import uuid

import httpx
from prometheus_client.parser import text_string_to_metric_families
from temporalio.client import Client
from temporalio.runtime import Runtime

from app.journeys import JourneyService
from domain.events import CustomerEvent
from entrypoints.api import create_app
from tests.api.conftest import API_KEY, SURVEY_LINKS, event, eventually, new_customer
from tests.observability.conftest import Observed
from workers.client import telemetry
from workers.data_converter import DATA_CONVERTER
from workers.metrics import StoreCollector, serve_metrics
from workers.worker import activities_for, build_worker

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def samples(text: str) -> Samples:
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(found: Samples, name: str, **labels: str) -> float:
    return found.get((name, frozenset(labels.items())), 0.0)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def signed_up_and_welcomed(observed: Observed) -> str:
    customer_id = await new_customer(observed.api)
    response = await observed.api.post("/events", json=event(customer_id, "signed_up"))
    assert response.status_code == 202, response.text

    async def welcomed() -> bool:
        return bool(observed.channel.to(f"{customer_id}@example.com"))

    await eventually(welcomed, what="the welcome email")
    return customer_id


async def test_the_api_s_metrics_show_a_run_its_message_and_the_support_queues(
    observed: Observed,
) -> None:
    before = samples((await observed.api.get("/metrics")).text)
    customer_id = await signed_up_and_welcomed(observed)
    case = {"customer_id": customer_id, "category": "delivery", "summary": "Parcel is late"}
    opened = await observed.api.post("/cases", json=case)
    assert opened.status_code == 201, opened.text
    queue = opened.json()["queue"]

    async def scraped() -> Samples | None:
        response = await observed.api.get("/metrics")
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("text/plain")
        found = samples(response.text)
        return found if value(found, "journeys_cases_open", queue=queue) >= 1 else None

    after = await eventually(scraped, what="the case in the metrics")

    def grew(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert grew("journeys_events_accepted_total") >= 1
    assert grew("journeys_runs_started_total", journey="onboarding") >= 1
    assert value(after, "journeys_runs_running", journey="onboarding") >= 1
    assert grew("journeys_messages_total", channel="email", status="sent") >= 1
    assert grew("journeys_send_decisions_total", decision="sent", rule="none") >= 1
    assert value(after, "journeys_deliveries", status="pending") >= 0
    assert ("journeys_deliveries", frozenset({("status", "parked")})) in after
    assert ("journeys_deliveries_oldest_pending_seconds", frozenset()) in after
    assert value(after, "process_resident_memory_bytes") > 0
    assert ("python_info", frozenset()) not in after  # python_info carries labels
    assert any(name == "python_info" for name, _ in after)


async def test_the_api_s_metrics_need_the_key_unless_made_public(observed: Observed) -> None:
    for public in (False, True):
        app = create_app(
            observed.service, api_key=API_KEY, survey_links=SURVEY_LINKS, metrics_public=public
        )
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as anonymous:
            response = await anonymous.get("/metrics")
            wrong = await anonymous.get("/metrics", headers={"X-API-Key": "not-the-key"})
        assert (response.status_code, wrong.status_code) == ((200, 200) if public else (401, 401))
        if not public:
            assert "missing API key" in response.json()["detail"]
            assert response.json()["detail"] != wrong.json()["detail"]


async def test_metrics_are_not_in_the_openapi_document(observed: Observed) -> None:
    spec = (await observed.api.get("/openapi.json")).json()
    assert "/metrics" not in spec["paths"]


async def test_a_worker_serves_the_same_metrics_on_its_port(observed: Observed) -> None:
    await signed_up_and_welcomed(observed)
    port = free_port()
    server = serve_metrics(port, observed.store, host="127.0.0.1")
    try:
        async with httpx.AsyncClient() as http:
            response = await http.get(f"http://127.0.0.1:{port}/metrics")
        assert response.status_code == 200
        found = samples(response.text)
        assert value(found, "journeys_runs_started_total", journey="onboarding") >= 1
        assert value(found, "journeys_messages_total", channel="email", status="sent") >= 1
    finally:
        server.shutdown()
        server.server_close()


def test_a_worker_without_a_metrics_port_serves_none(observed: Observed) -> None:
    assert serve_metrics(0, observed.store) is None


async def test_the_temporal_sdk_serves_its_own_metrics_on_the_runtime_s_port(
    observed: Observed,
) -> None:
    port = free_port()
    runtime = Runtime(telemetry=telemetry(port))
    address = observed.client.service_client.config.target_host
    client = await Client.connect(address, data_converter=DATA_CONVERTER, runtime=runtime)
    queue = f"sdk-metrics-{uuid.uuid4().hex[:8]}"

    async def factory() -> Client:
        return client

    service = JourneyService(observed.store, factory, queue)
    activities = activities_for(observed.store, {"email": observed.channel}, journeys=service)
    customer_id = await new_customer(observed.api)
    async with build_worker(client, queue, activities):
        [accepted] = await service.ingest(
            [CustomerEvent.model_validate(event(customer_id, "signed_up"))]
        )
        assert accepted.delivery == "delivered", accepted

        async def sdk_metrics() -> Samples | None:
            async with httpx.AsyncClient() as http:
                text = (await http.get(f"http://127.0.0.1:{port}/metrics")).text
            found = samples(text)
            done = [k for k in found if k[0] == "temporal_activity_execution_latency_count"]
            return found if done else None

        found = await eventually(sdk_metrics, what="the SDK's activity metrics")
    names = {name for name, _ in found}
    assert "temporal_workflow_task_execution_latency_count" in names, sorted(names)
    assert any(name.startswith("temporal_request") for name in names), sorted(names)


def test_the_store_is_read_at_most_once_per_max_age(observed: Observed) -> None:
    cached = StoreCollector(observed.store, max_age=60)
    first, again = list(cached.collect()), list(cached.collect())
    assert first and all(a is b for a, b in zip(first, again, strict=True))
    uncached = StoreCollector(observed.store, max_age=0)
    one, two = list(uncached.collect()), list(uncached.collect())
    assert not any(a is b for a, b in zip(one, two, strict=True))

"""`journeys audiences run` is audited: who enrolled which segment into which journey, and how
many members that enrolled and skipped."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment
from typer.testing import CliRunner

from activities.audience import AudienceActivities
from app.journeys import JourneyService
from domain.customers import CustomerUpsert
from entrypoints.cli_enrollment import audiences_app
from store.store import Store
from tests.api.conftest import RecordingChannel
from tests.audience_runs.test_schedules import SEGMENTS, journey
from workers.settings import get_settings
from workers.worker import activities_for, build_worker


async def test_an_audience_run_from_the_cli_is_in_the_audit_log_with_its_counts(
    dev_env: WorkflowEnvironment, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    client, queue = dev_env.client, f"audit-{uuid.uuid4().hex[:8]}"
    db_url = f"sqlite:///{tmp_path}/cli.db"
    store = Store.open(db_url)

    async def connect() -> Client:
        return client

    service = JourneyService(store, connect, queue)
    greeting = journey(f"audited_{uuid.uuid4().hex[:6]}")
    service.publish_definition(greeting)
    for i in range(5):
        plan = "gold" if i < 4 else "silver"
        store.customers.upsert(
            CustomerUpsert(
                customer_id=f"a{i}", email=f"a{i}@example.com", attributes={"plan": plan}
            ),
            service.clock(),
        )
    monkeypatch.setenv("JOURNEYS_DATABASE_URL", db_url)
    monkeypatch.setenv("JOURNEYS_TEMPORAL_ADDRESS", client.service_client.config.target_host)
    monkeypatch.setenv("JOURNEYS_TEMPORAL_TASK_QUEUE", queue)
    get_settings.cache_clear()
    audiences = AudienceActivities(store, SEGMENTS, service)
    activities = [
        *activities_for(store, {"email": RecordingChannel()}, journeys=service),
        audiences.measure_audience,
        audiences.enroll_audience_batch,
    ]
    try:
        async with build_worker(client, queue, activities):
            result = await asyncio.to_thread(
                CliRunner().invoke, audiences_app, ["run", greeting.id, "--run-key", "june"]
            )
        assert result.exit_code == 0, result.output
        assert "4 enrolled, 0 skipped" in result.output
        [entry] = store.audit.page(action="audience.enroll").entries
    finally:
        get_settings.cache_clear()
        store.close()
    assert entry.target == greeting.id
    assert entry.actor.startswith("cli:") and entry.role == "admin"
    assert entry.details == entry.details | {
        "segment": "gold",
        "run_key": "june",
        "finished": True,
        "members": 4,
        "processed": 4,
        "enrolled": 4,
        "skipped": 0,
    }

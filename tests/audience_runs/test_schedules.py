"""Audience schedules on the real dev server: create, update, pause, delete, timezone, trigger."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import (
    Client,
    ScheduleActionExecutionStartWorkflow,
    ScheduleActionStartWorkflow,
    ScheduleRange,
)
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment
from typer.testing import CliRunner

from activities.audience import AudienceActivities
from app import schedules as audience_schedules
from app.journeys import JourneyService
from app.schedules import schedule_id, sync
from domain.audiences import AudienceProgress, EnrollAudience
from domain.customers import CustomerUpsert
from domain.journey import JourneyDefinition
from domain.loader import load_journey_text
from domain.runs import Enrollment
from domain.segments import load_segments_text
from entrypoints import cli_common
from entrypoints.cli_enrollment import audiences_app
from store.store import Store
from tests.api.conftest import RecordingChannel
from workers.settings import get_settings
from workers.worker import activities_for, build_worker
from workflows.audience import AudienceEnrollmentWorkflow

SEGMENTS = load_segments_text(
    """
segments:
  - name: gold
    where: {field: attributes.plan, eq: gold}
"""
)
TOKYO = "Asia/Tokyo"


def journey(journey_id: str, audience: str = "{segment: gold, at: '06:30', batch_size: 3}") -> Any:
    return load_journey_text(
        f"""
id: {journey_id}
name: Scheduled greeting
category: transactional
trigger: {{event: scheduled_greeting, re_entry: always}}
audience: {audience}
templates:
  hello: {{subject: "Hello", text: "Hello gold"}}
steps:
  - {{id: hello, send: {{channel: email, template: hello}}}}
  - {{id: linger, wait: {{for: 30d}}}}
"""
    )


async def _args(client: Client, journey_id: str) -> EnrollAudience:
    described = await client.get_schedule_handle(schedule_id(journey_id)).describe()
    action = described.schedule.action
    assert isinstance(action, ScheduleActionStartWorkflow)
    [request] = await client.data_converter.decode(action.args, [EnrollAudience])
    assert isinstance(request, EnrollAudience)
    return request


async def test_sync_creates_updates_pauses_and_deletes_the_schedule_in_the_workspace_timezone(
    dev_env: WorkflowEnvironment,
) -> None:
    client, queue = dev_env.client, f"sched-{uuid.uuid4().hex[:8]}"
    plain = journey(f"plain_{uuid.uuid4().hex[:6]}")
    own_zone = journey(
        f"ny_{uuid.uuid4().hex[:6]}", "{segment: gold, at: '21:05', timezone: America/New_York}"
    )
    changes = await sync(
        client, queue, [(plain, "active"), (own_zone, "active")], workspace_timezone=TOKYO
    )
    assert sorted(changes) == sorted(
        [
            f"{schedule_id(plain.id)}: created (06:30 daily, {TOKYO})",
            f"{schedule_id(own_zone.id)}: created (21:05 daily, America/New_York)",
        ]
    )
    described = await client.get_schedule_handle(schedule_id(plain.id)).describe()
    spec = described.schedule.spec
    assert spec.time_zone_name == TOKYO
    assert list(spec.calendars[0].hour) == [ScheduleRange(6)]
    assert list(spec.calendars[0].minute) == [ScheduleRange(30)]
    assert not described.schedule.state.paused
    assert (await _args(client, plain.id)).timezone == TOKYO  # the run dates itself in Tokyo
    assert (await _args(client, own_zone.id)).timezone == "America/New_York"

    moved = journey(plain.id, "{segment: gold, at: '07:45'}")
    changes = await sync(
        client, queue, [(moved, "paused"), (own_zone, "active")], workspace_timezone=TOKYO
    )
    assert f"{schedule_id(plain.id)}: updated (paused)" in changes
    described = await client.get_schedule_handle(schedule_id(plain.id)).describe()
    assert described.schedule.state.paused
    assert list(described.schedule.spec.calendars[0].hour) == [ScheduleRange(7)]

    gone = plain.model_copy(update={"audience": None})
    changes = await sync(client, queue, [(gone, "active")], workspace_timezone=TOKYO)
    assert sorted(changes) == sorted(
        [
            f"{schedule_id(plain.id)}: deleted (the journey has no audience)",
            f"{schedule_id(own_zone.id)}: deleted (the journey has no audience)",
        ]
    )
    with pytest.raises(RPCError):
        await client.get_schedule_handle(schedule_id(plain.id)).describe()


async def _triggered(client: Client, journey_id: str, seen: int) -> AudienceProgress:
    """Trigger the schedule now and wait for the run it starts (the `seen`+1th action)."""
    handle = client.get_schedule_handle(schedule_id(journey_id))
    await handle.trigger()
    for _ in range(200):
        actions = (await handle.describe()).info.recent_actions
        if len(actions) > seen:
            action = actions[-1].action
            assert isinstance(action, ScheduleActionExecutionStartWorkflow)
            return await client.get_workflow_handle_for(
                AudienceEnrollmentWorkflow.run, action.workflow_id
            ).result()
        await asyncio.sleep(0.1)
    raise AssertionError("the schedule started no run")


async def _signals(client: Client, workflow_id: str) -> int:
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    kind = EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED
    return sum(1 for event in history.events if event.event_type == kind)


async def _settled(
    client: Client, store: Store, runs: list[Enrollment]
) -> tuple[int, dict[str, int]]:
    """The event count and each run's signals, once every run waits at `linger` and the
    messages it sent have been logged and delivered (two equal readings in a row)."""
    last: tuple[int, dict[str, int]] | None = None
    for _ in range(100):
        steps = {(store.runs.get(run.entry_id) or run).current_step for run in runs}
        reading = (
            store.events.count(),
            {run.workflow_id: await _signals(client, run.workflow_id) for run in runs},
        )
        if steps == {"linger"} and reading == last:
            return reading
        last = reading
        await asyncio.sleep(0.3)
    raise AssertionError(f"the runs did not settle: {steps}")


async def test_a_second_scheduled_run_over_the_same_segment_appends_nothing_and_signals_nothing(
    dev_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    client, queue = dev_env.client, f"sched-{uuid.uuid4().hex[:8]}"
    store = Store.open(f"sqlite:///{tmp_path}/store.db")

    async def connect() -> Client:
        return client

    service = JourneyService(store, connect, queue)
    greeting: JourneyDefinition = journey(f"greet_{uuid.uuid4().hex[:6]}")
    service.publish_definition(greeting)
    now = datetime.now(UTC)
    gold = [f"g{i}" for i in range(7)]
    for customer in [*gold, "s0"]:
        plan = "silver" if customer == "s0" else "gold"
        store.customers.upsert(
            CustomerUpsert(
                customer_id=customer, email=f"{customer}@example.com", attributes={"plan": plan}
            ),
            now,
        )
    audiences = AudienceActivities(store, SEGMENTS, service)
    worker = build_worker(
        client,
        queue,
        [
            *activities_for(store, {"email": RecordingChannel()}),
            audiences.measure_audience,
            audiences.enroll_audience_batch,
        ],
    )
    try:
        async with worker:
            await audience_schedules.sync_published(service, workspace_timezone=TOKYO)
            first = await _triggered(client, greeting.id, 0)
            assert (first.total, first.enrolled, first.skipped) == (7, 7, 0)
            assert first.as_of == datetime.now(ZoneInfo(TOKYO)).date()
            runs = [run for c in gold for run in store.runs.for_customer(c)]
            assert sorted(run.customer_id for run in runs) == gold
            events, signals = await _settled(client, store, runs)
            # A plain start: the run holds its trigger in its input, nobody signals it.
            assert all(count == 0 for count in signals.values())

            second = await _triggered(client, greeting.id, 1)
            assert (second.processed, second.enrolled, second.skipped) == (7, 0, 7)
            assert await _settled(client, store, runs) == (events, signals)
            assert len([run for c in gold for run in store.runs.for_customer(c)]) == 7
    finally:
        await client.get_schedule_handle(schedule_id(greeting.id)).delete()
        store.close()


async def test_audiences_run_with_a_run_key_already_running_says_so_without_a_traceback(
    dev_env: WorkflowEnvironment, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    client, queue = dev_env.client, f"cli-{uuid.uuid4().hex[:8]}"
    db_url = f"sqlite:///{tmp_path}/cli.db"
    store = Store.open(db_url)

    async def connect() -> Client:
        return client

    greeting = journey(f"cli_{uuid.uuid4().hex[:6]}")
    JourneyService(store, connect, queue).publish_definition(greeting)
    store.close()
    # No worker on the queue: the first run stays running.
    await client.start_workflow(
        AudienceEnrollmentWorkflow.run,
        EnrollAudience(journey_id=greeting.id, segment="gold", run_key="nightly"),
        id=f"audience/{greeting.id}/nightly",
        task_queue=queue,
    )
    monkeypatch.setenv("JOURNEYS_DATABASE_URL", db_url)
    monkeypatch.setenv("JOURNEYS_TEMPORAL_ADDRESS", client.service_client.config.target_host)
    monkeypatch.setenv("JOURNEYS_TEMPORAL_TASK_QUEUE", queue)
    monkeypatch.setattr(cli_common.errors, "width", 300)
    get_settings.cache_clear()
    try:
        result = await asyncio.to_thread(
            CliRunner().invoke, audiences_app, ["run", greeting.id, "--run-key", "nightly"]
        )
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert f"audience run 'nightly' of {greeting.id} is already running" in result.output
    assert "Traceback" not in result.output

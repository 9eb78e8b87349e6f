"""Segment enrollment: batches, throttling, resuming after a failure, one effect per member."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest_asyncio
from temporalio.client import WorkflowFailureError
from temporalio.testing import WorkflowEnvironment

from activities.audience import AudienceActivities
from app.journeys import JourneyService
from domain.audiences import AudienceBatch, AudienceProgress, EnrollAudience, EnrollBatch
from domain.customers import CustomerUpsert
from domain.loader import load_journey_text
from domain.segments import Segment, load_segments_text
from store.store import Store
from tests.api.conftest import RecordingChannel
from workers.worker import activities_for, build_worker
from workflows.audience import AudienceEnrollmentWorkflow

NOW = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
SEGMENTS = load_segments_text(
    """
segments:
  - name: gold
    where: {field: attributes.plan, eq: gold}
"""
)
GREETING = load_journey_text(
    """
id: gold_greeting
name: Gold greeting
category: transactional
trigger: {event: gold_welcome, re_entry: once}
audience: {segment: gold, batch_size: 7, per_second: 5}
templates:
  hello: {subject: "Hello gold", text: "Thanks for being gold"}
steps:
  - {id: hello, send: {channel: email, template: hello}}
"""
)


class FlakyEnroller:
    """The real service's page enrollment; the `fail_after`th start fails once (a crash after
    the page's transaction committed, with some of its runs started and some not)."""

    def __init__(self, service: JourneyService, fail_after: int | None) -> None:
        self.service = service
        self.starts = 0
        self.fail_after = fail_after

    async def enroll_audience_page(
        self, request: EnrollBatch, segment: Segment, on_start: Callable[[str], None]
    ) -> AudienceBatch:
        def start(customer: str) -> None:
            self.starts += 1
            if self.fail_after is not None and self.starts > self.fail_after:
                self.fail_after = None
                raise RuntimeError("worker lost mid-batch")
            on_start(customer)

        return await self.service.enroll_audience_page(request, segment, start)


@dataclass
class Setup:
    env: WorkflowEnvironment
    store: Store
    service: JourneyService
    channel: RecordingChannel
    queue: str
    gold: list[str]


@pytest_asyncio.fixture
async def setup(time_skipping_env: WorkflowEnvironment, tmp_path: Path) -> AsyncIterator[Setup]:
    store = Store.open(f"sqlite:///{tmp_path}/store.db")
    queue = f"audience-{uuid.uuid4().hex[:8]}"

    async def client() -> Any:
        return time_skipping_env.client

    service = JourneyService(store, client, queue, clock=lambda: NOW)
    service.publish_definition(GREETING)
    gold = []
    for i in range(30):
        plan = "gold" if i % 3 else "silver"
        customer = f"m{i:03d}"
        store.customers.upsert(
            CustomerUpsert(
                customer_id=customer, email=f"{customer}@example.com", attributes={"plan": plan}
            ),
            NOW,
        )
        if plan == "gold":
            gold.append(customer)
    try:
        yield Setup(time_skipping_env, store, service, RecordingChannel(), queue, gold)
    finally:
        store.close()


async def _run(setup: Setup, run_key: str, fail_after: int | None = None) -> AudienceProgress:
    audiences = AudienceActivities(setup.store, SEGMENTS, FlakyEnroller(setup.service, fail_after))
    async with build_worker(
        setup.env.client,
        setup.queue,
        [
            *activities_for(setup.store, {"email": setup.channel}, clock=lambda: NOW),
            audiences.measure_audience,
            audiences.enroll_audience_batch,
        ],
    ):
        progress = await setup.env.client.execute_workflow(
            AudienceEnrollmentWorkflow.run,
            EnrollAudience(
                journey_id="gold_greeting",
                segment="gold",
                run_key=run_key,
                as_of=date(2026, 11, 2),
                batch_size=7,
                per_second=5,
            ),
            id=f"audience/gold_greeting/{run_key}",
            task_queue=setup.queue,
        )
        for customer in setup.gold:  # let the greetings go out before the worker stops
            for run in setup.store.runs.for_customer(customer):
                await setup.env.client.get_workflow_handle(run.workflow_id).result()
        return progress


def _runs(setup: Setup) -> list[str]:
    return sorted(
        run.customer_id
        for customer in [*setup.gold, "m000"]
        for run in setup.store.runs.for_customer(customer)
    )


async def test_every_member_is_enrolled_once_in_batches(setup: Setup) -> None:
    progress = await _run(setup, "daily-1")
    assert (progress.total, progress.processed, progress.enrolled) == (20, 20, 20)
    assert progress.done and progress.cursor == setup.gold[-1]
    assert _runs(setup) == setup.gold  # silver m000 was never in the segment


async def test_a_batch_that_fails_half_way_is_retried_without_enrolling_anyone_twice(
    setup: Setup,
) -> None:
    progress = await _run(setup, "daily-2", fail_after=10)
    assert progress.processed == 20 and progress.done
    assert _runs(setup) == setup.gold
    recipients = sorted(m.recipient or "" for m in setup.channel.delivered)
    assert recipients == sorted(f"{c}@example.com" for c in setup.gold)


async def test_a_second_run_finds_everyone_already_in_and_a_paused_journey_stops_it(
    setup: Setup,
) -> None:
    await _run(setup, "daily-3")
    again = await _run(setup, "daily-4")
    assert (again.enrolled, again.skipped) == (0, 20)  # re_entry: once
    setup.service.set_status("gold_greeting", "paused")
    stopped = await _run(setup, "daily-5")
    assert (stopped.processed, stopped.stopped) == (0, "journey paused")


async def test_an_unknown_segment_fails_the_run_with_its_name(setup: Setup) -> None:
    audiences = AudienceActivities(setup.store, {}, FlakyEnroller(setup.service, None))
    async with build_worker(
        setup.env.client, setup.queue, [audiences.measure_audience, audiences.enroll_audience_batch]
    ):
        try:
            await setup.env.client.execute_workflow(
                AudienceEnrollmentWorkflow.run,
                EnrollAudience(journey_id="gold_greeting", segment="gold", run_key="x"),
                id=f"audience/gold_greeting/{uuid.uuid4().hex}",
                task_queue=setup.queue,
            )
        except WorkflowFailureError as exc:
            assert "unknown segment 'gold'" in str(getattr(exc.cause, "cause", None))
        else:
            raise AssertionError("the run should have failed")


async def test_a_run_without_a_date_takes_the_day_in_its_schedules_timezone_ahead_of_utc(
    setup: Setup,
) -> None:
    env = setup.env
    now = await env.get_current_time()
    # Move the server's clock to a UTC noon: it is already tomorrow at UTC+14 then.
    noon = now.replace(hour=12, minute=0, second=0, microsecond=0)
    if noon <= now:
        noon += timedelta(days=1)
    await env.sleep(noon - now)
    audiences = AudienceActivities(setup.store, SEGMENTS, setup.service)
    async with build_worker(
        env.client, setup.queue, [audiences.measure_audience, audiences.enroll_audience_batch]
    ):
        setup.service.set_status("gold_greeting", "paused")  # measure only, enroll nobody
        handle = await env.client.start_workflow(
            AudienceEnrollmentWorkflow.run,
            EnrollAudience(
                journey_id="gold_greeting", segment="gold", run_key="tz", timezone="Etc/GMT-14"
            ),
            id=f"audience/gold_greeting/tz-{uuid.uuid4().hex[:6]}",
            task_queue=setup.queue,
        )
        progress = await handle.result()
    started = (await handle.describe()).start_time.astimezone(UTC)
    assert started.hour == 12
    assert progress.as_of == started.date() + timedelta(days=1)


async def test_batches_keep_to_the_rate_and_a_long_run_continues_as_new(setup: Setup) -> None:
    env = setup.env
    audiences = AudienceActivities(setup.store, SEGMENTS, setup.service)
    async with build_worker(
        env.client,
        setup.queue,
        [
            *activities_for(setup.store, {"email": setup.channel}, clock=lambda: NOW),
            audiences.measure_audience,
            audiences.enroll_audience_batch,
        ],
    ):
        handle = await env.client.start_workflow(
            AudienceEnrollmentWorkflow.run,
            EnrollAudience(
                journey_id="gold_greeting",
                segment="gold",
                run_key="paced",
                as_of=date(2026, 11, 2),
                batch_size=2,
                per_second=0.5,  # a batch of 2 every 4 seconds
                batches_per_run=3,
            ),
            id=f"audience/gold_greeting/paced-{uuid.uuid4().hex[:6]}",
            task_queue=setup.queue,
        )
        progress = await handle.result()
    assert (progress.processed, progress.enrolled, progress.done) == (20, 20, True)
    assert _runs(setup) == setup.gold
    timers: list[float] = []
    runs = 0
    run_id: str | None = handle.first_execution_run_id
    while run_id:
        runs += 1
        history = await env.client.get_workflow_handle(handle.id, run_id=run_id).fetch_history()
        run_id = None
        for event in history.events:
            if event.HasField("timer_started_event_attributes"):
                timeout = event.timer_started_event_attributes.start_to_fire_timeout
                timers.append(timeout.ToTimedelta().total_seconds())
            if event.HasField("workflow_execution_continued_as_new_event_attributes"):
                run_id = (
                    event.workflow_execution_continued_as_new_event_attributes.new_execution_run_id
                )
    assert runs == 4  # 10 full batches and an empty one, 3 per run
    assert len(timers) == 10 and all(3 < seconds <= 4 for seconds in timers), timers

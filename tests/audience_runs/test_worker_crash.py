"""A worker process killed in the middle of an audience batch: a second worker finishes the run
and nobody is enrolled twice, even in a journey that lets customers enter again at once."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from activities.audience import AudienceActivities
from app.journeys import JourneyService
from domain.audiences import EnrollAudience
from domain.customers import CustomerUpsert
from domain.loader import load_journey_text
from domain.segments import load_segments_file
from store.schema import customer_events, outbox
from store.store import Store
from tests.api.conftest import RecordingChannel
from workers.worker import activities_for, build_worker
from workflows.audience import AudienceEnrollmentWorkflow

REPO = Path(__file__).resolve().parents[2]
SEGMENTS = """\
segments:
  - name: gold
    where: {field: attributes.plan, eq: gold}
"""
AGAIN = load_journey_text(
    """
id: gold_again
name: Gold, any number of times
category: transactional
trigger: {event: gold_again, re_entry: always}
templates:
  hello: {subject: "Hello gold", text: "Thanks for being gold"}
steps:
  - {id: hello, send: {channel: email, template: hello}}
"""
)
BATCH = 5
HANG_AFTER = 7  # the first page started, then 2 of the second page's 5


async def _until(check: object, what: str, seconds: float = 60) -> None:
    for _ in range(int(seconds * 10)):
        if check():  # type: ignore[operator]
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


async def test_a_worker_killed_mid_batch_leaves_one_run_and_one_message_per_member(
    dev_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    client = dev_env.client
    queue = f"crash-{uuid.uuid4().hex[:8]}"
    db_url = f"sqlite:///{tmp_path}/store.db"
    segments_file = tmp_path / "segments.yaml"
    segments_file.write_text(SEGMENTS)
    store = Store.open(db_url)

    async def connect() -> Client:
        return client

    service = JourneyService(store, connect, queue)
    service.publish_definition(AGAIN)
    now = datetime.now(UTC)
    gold = [f"g{i:02d}" for i in range(12)]
    for customer in gold:
        store.customers.upsert(
            CustomerUpsert(
                customer_id=customer, email=f"{customer}@example.com", attributes={"plan": "gold"}
            ),
            now,
        )
    marker = tmp_path / "wedged"
    address = client.service_client.config.target_host
    wedged = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.audience_runs.crash_worker", address, db_url, queue,
        str(segments_file), str(HANG_AFTER), str(marker),
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )  # fmt: skip
    try:
        handle = await client.start_workflow(
            AudienceEnrollmentWorkflow.run,
            EnrollAudience(
                journey_id=AGAIN.id, segment="gold", run_key="crash", batch_size=BATCH,
                per_second=1000,
            ),
            id=f"audience/{AGAIN.id}/crash-{uuid.uuid4().hex[:6]}",
            task_queue=queue,
        )  # fmt: skip
        await _until(marker.exists, "the worker to wedge mid-batch")
        started = lambda: [r for c in gold for r in store.runs.for_customer(c)]  # noqa: E731
        # The second page is committed (10 rows); the runs started so far have ended, so a
        # retry that enrolled by the re-entry rule alone would enroll them again.
        await _until(
            lambda: (
                len(started()) == 2 * BATCH
                and sum(r.status == "completed" for r in started()) == HANG_AFTER
            ),
            "the started runs to end",
        )
    finally:
        wedged.send_signal(signal.SIGKILL)
        await wedged.wait()
    audiences = AudienceActivities(store, load_segments_file(segments_file), service)
    channel = RecordingChannel()
    activities: list[Callable[..., Any]] = [
        *activities_for(store, {"email": channel}),
        audiences.measure_audience,
        audiences.enroll_audience_batch,
    ]
    try:
        async with build_worker(client, queue, activities):
            # The killed batch is retried once its heartbeat times out (a minute).
            progress = await asyncio.wait_for(handle.result(), timeout=150)
            await _until(
                lambda: sum(r.status == "completed" for r in started()) == len(gold),
                "every run to end",
            )
        assert (progress.processed, progress.enrolled, progress.skipped) == (12, 12, 0)
        assert sorted(r.customer_id for r in started()) == gold  # one run each
        with store.engine.connect() as conn:
            enrolled = conn.scalar(
                select(func.count())
                .select_from(customer_events)
                .where(customer_events.c.type == "journey_enrolled")
            )
            messages = conn.execute(
                select(outbox.c.customer_id, func.count()).group_by(outbox.c.customer_id)
            ).all()
        assert enrolled == len(gold)
        assert sorted(messages) == [(c, 1) for c in gold]
    finally:
        store.close()

"""Date triggers: the built-in birthday journey greets on the day, at 10:00 the customer's time."""

from __future__ import annotations

import uuid
from datetime import UTC, date, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from temporalio.testing import WorkflowEnvironment

from activities.audience import AudienceActivities
from app.journeys import JourneyService
from domain.audiences import EnrollAudience
from domain.customers import CustomerUpsert
from domain.loader import load_journey_file
from domain.segments import load_segments_file
from store.store import Store
from tests.api.conftest import RecordingChannel
from workers.worker import activities_for, build_worker
from workflows.audience import AudienceEnrollmentWorkflow

REPO = Path(__file__).resolve().parents[2]
TOKYO = "Asia/Tokyo"


async def test_birthday_customers_are_greeted_at_ten_local_time_once(
    time_skipping_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    env = time_skipping_env
    started = await env.get_current_time()
    today = started.astimezone(UTC).date()
    store = Store.open(f"sqlite:///{tmp_path}/store.db")
    queue = f"dates-{uuid.uuid4().hex[:8]}"

    async def client() -> Any:
        return env.client

    service = JourneyService(store, client, queue, clock=lambda: started)
    service.publish_definition(load_journey_file(REPO / "journeys" / "birthday.yaml"))
    birthdays = {
        "kiko": today.replace(year=1990),
        "ren": date(1991, 1, 1) if (today.month, today.day) != (1, 1) else date(1991, 1, 2),
    }
    for customer, birthday in birthdays.items():
        store.customers.upsert(
            CustomerUpsert(
                customer_id=customer,
                email=f"{customer}@example.com",
                timezone=TOKYO,
                attributes={"first_name": customer.title(), "birthday": birthday.isoformat()},
            ),
            started,
        )
    channel = RecordingChannel()
    audiences = AudienceActivities(
        store, load_segments_file(REPO / "journeys/segments/segments.yaml"), service
    )
    try:
        async with build_worker(
            env.client,
            queue,
            [
                *activities_for(store, {"email": channel}),
                audiences.measure_audience,
                audiences.enroll_audience_batch,
            ],
        ):
            enrolled = []
            for key in ("first", "again"):  # a second run the same day enrolls nobody
                progress = await env.client.execute_workflow(
                    AudienceEnrollmentWorkflow.run,
                    EnrollAudience(
                        journey_id="birthday", segment="birthday_today", run_key=key, as_of=today
                    ),
                    id=f"audience/birthday/{key}-{uuid.uuid4().hex[:6]}",
                    task_queue=queue,
                )
                assert progress.total == 1
                enrolled.append(progress.enrolled)
            (run,) = store.runs.for_customer("kiko")
            await env.sleep(timedelta(days=7))  # the greeting, then the reminder 5 days on
            assert store.runs.get(run.entry_id).status == "completed"  # type: ignore[union-attr]
            steps = {(s.step_id, s.status): s.at for s in store.runs.steps(run.entry_id)}
            assert store.runs.for_customer("ren") == []
    finally:
        store.close()
    assert enrolled == [1, 0]
    greeting, reminder = channel.delivered
    assert {greeting.recipient, reminder.recipient} == {"kiko@example.com"}
    assert greeting.subject == "Happy birthday, Kiko!"
    assert reminder.subject == "Your birthday gift runs out tomorrow"
    sent_at = steps[("greet", "completed")].astimezone(ZoneInfo(TOKYO))
    assert sent_at.time().replace(second=0, microsecond=0) == time(10, 0)
    assert sent_at > started

"""Helpers for running journeys on the time-skipping server with recording fake activities.

The activities are replaced by methods registered under the same names as the real ones; they
record what the workflow asked for (a send's `requested_at` is workflow time) and keep customer
profiles in memory. `scripts/record_histories.py` uses the same helpers to record the histories
the replay tests check.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from temporalio import activity
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from domain.callbacks import (
    CLOSE_CALLBACK,
    CREATE_CALLBACK,
    CallbackTask,
    CloseCallback,
    CreateCallback,
)
from domain.contracts import (
    ABANDON_MESSAGE,
    RECORD_STEPS,
    SEND_MESSAGE,
    UPDATE_PROFILE,
    AbandonMessage,
    EnrollCustomer,
    JourneyOutcome,
    MessageOutcome,
    ProfileSnapshot,
    Recorded,
    RecordSteps,
    SendMessage,
    UpdateProfile,
)
from domain.customers import CustomerProfile
from domain.entry import correlation_key, workflow_id
from domain.events import CustomerEvent
from domain.journey import JourneyDefinition
from domain.loader import load_journey_file
from domain.runs import RunEnd, StepEvent
from domain.surveys import CREATE_SURVEY, CreateSurvey, SurveyLink
from workers.journey_stand_ins import JourneyStandIns
from workflows.journey import JourneyWorkflow
from workflows.sandbox import workflow_runner

JOURNEYS_DIR = Path(__file__).resolve().parents[2] / "journeys"
HISTORIES_DIR = Path(__file__).resolve().parents[1] / "histories"
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri")
REPLAY_CUSTOMER_ID = "replay-customer"
REPLAY_ORDER_ID = "o-1001"

JourneyHandle = WorkflowHandle[JourneyWorkflow, JourneyOutcome]


def built_in(journey_id: str) -> JourneyDefinition:
    return load_journey_file(JOURNEYS_DIR / f"{journey_id}.yaml")


class FakeServices(JourneyStandIns):
    """Stand-ins for the send, profile and run-log activities that remember every call."""

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[SendMessage] = []
        self.updates: list[UpdateProfile] = []
        self.steps: list[StepEvent] = []
        self.ends: list[RunEnd] = []
        self.callbacks: list[CreateCallback] = []
        self.surveys: list[CreateSurvey] = []
        self.closed: list[CloseCallback] = []
        self.abandoned: list[AbandonMessage] = []
        self.versions_recorded: list[int] = []  # versions a migration told the store of
        # step id -> "failed" (the provider refuses for good), "error" (every attempt raises)
        # or "defer_once" (quiet hours: deferred an hour on the first attempt, then sent)
        self.send_failures: dict[str, str] = {}
        self.attempts: dict[str, int] = {}

    def customer(
        self, prefix: str = "c", customer_id: str | None = None, **fields: Any
    ) -> CustomerProfile:
        """A new customer with a unique id, so every test has its own workflow ids."""
        fields.setdefault("email", "ada@example.com")
        customer_id = customer_id or f"{prefix}-{uuid.uuid4().hex[:10]}"
        profile = CustomerProfile(customer_id=customer_id, **fields)
        self.profiles[profile.customer_id] = profile
        return profile

    @activity.defn(name=SEND_MESSAGE)
    async def send_message(self, request: SendMessage) -> MessageOutcome:
        self.attempts[request.step_id] = self.attempts.get(request.step_id, 0) + 1
        failure = self.send_failures.get(request.step_id)
        if failure == "error":
            raise RuntimeError(f"provider unreachable for {request.step_id}")
        if failure == "defer_once" and self.attempts[request.step_id] == 1:
            return MessageOutcome(
                idempotency_key=request.idempotency_key,
                status="deferred",
                detail="quiet hours",
                deferred_until=request.requested_at + timedelta(hours=1),
            )
        if failure == "failed":
            return MessageOutcome(
                idempotency_key=request.idempotency_key,
                status="failed",
                detail="provider refused: invalid number",
            )
        self.sent.append(request)
        return MessageOutcome(idempotency_key=request.idempotency_key, status="sent")

    @activity.defn(name=UPDATE_PROFILE)
    async def update_profile(self, request: UpdateProfile) -> ProfileSnapshot:
        self.updates.append(request)
        return await super().update_profile(request)

    @activity.defn(name=RECORD_STEPS)
    async def record_steps(self, request: RecordSteps) -> Recorded:
        self.steps.extend(request.events)
        if request.version is not None:
            self.versions_recorded.append(request.version)
        if request.end is not None:
            self.ends.append(request.end)
        return Recorded(count=len(request.events))

    @activity.defn(name=CREATE_CALLBACK)
    async def create_callback(self, request: CreateCallback) -> CallbackTask:
        self.callbacks.append(request)
        return CallbackTask(**request.model_dump())

    @activity.defn(name=CLOSE_CALLBACK)
    async def close_callback(self, request: CloseCallback) -> CallbackTask | None:
        self.closed.append(request)
        return None

    @activity.defn(name=ABANDON_MESSAGE)
    async def abandon_message(self, request: AbandonMessage) -> None:
        self.abandoned.append(request)

    @activity.defn(name=CREATE_SURVEY)
    async def create_survey(self, request: CreateSurvey) -> SurveyLink:
        self.surveys.append(request)
        return SurveyLink(survey_id=request.survey_id, url=f"https://x.test/s/{request.survey_id}")

    def sent_to(self, customer_id: str) -> list[SendMessage]:
        return [m for m in self.sent if m.customer_id == customer_id]

    def sent_steps(self, customer_id: str) -> list[str]:
        return [m.step_id for m in self.sent_to(customer_id)]


@asynccontextmanager
async def journey_worker(env: WorkflowEnvironment, services: FakeServices) -> AsyncIterator[str]:
    """A worker on a task queue of its own; yields the queue's name."""
    task_queue = f"journeys-test-{uuid.uuid4().hex}"
    async with Worker(
        env.client,
        task_queue=task_queue,
        workflows=[JourneyWorkflow],
        activities=services.activities,
        workflow_runner=workflow_runner(),
    ):
        yield task_queue


def customer_event(
    customer_id: str, type_: str, at: datetime, event_id: str | None = None, **properties: Any
) -> CustomerEvent:
    return CustomerEvent(
        event_id=event_id or f"evt-{uuid.uuid4().hex}",
        customer_id=customer_id,
        type=type_,
        occurred_at=at,
        properties=properties,
    )


async def enroll(
    env: WorkflowEnvironment,
    task_queue: str,
    journey: JourneyDefinition,
    trigger: CustomerEvent,
    *,
    max_steps_per_run: int = 200,
    entry_id: str | None = None,
) -> JourneyHandle:
    """Start a run the way the service does: signal-with-start carrying the trigger event."""
    wf_id = workflow_id(journey.id, trigger.customer_id, correlation_key(journey, trigger))
    return await env.client.start_workflow(
        JourneyWorkflow.run,
        EnrollCustomer(
            journey=journey,
            version=1,
            customer_id=trigger.customer_id,
            entry_id=entry_id or f"entry-{uuid.uuid4().hex[:12]}",
            trigger=trigger,
            max_steps_per_run=max_steps_per_run,
        ),
        id=wf_id,
        task_queue=task_queue,
        start_signal="customer_event",
        start_signal_args=[trigger],
    )


def replay_workflow_id(journey: JourneyDefinition) -> str:
    """The id of the recorded run of a built-in journey (see scripts/record_histories.py)."""
    key = REPLAY_ORDER_ID if journey.trigger.correlate_on else None
    return workflow_id(journey.id, REPLAY_CUSTOMER_ID, key)


def server_clock() -> datetime:
    """An activity clock for the time-skipping server: when it scheduled this attempt."""
    if activity.in_activity():
        return activity.info().current_attempt_scheduled_time
    return datetime.now(UTC)


def local(instant: datetime, timezone: str) -> datetime:
    return instant.astimezone(ZoneInfo(timezone))


def clock(instant: datetime, timezone: str) -> str:
    """The customer's wall clock at `instant`, as HH:MM."""
    return local(instant, timezone).strftime("%H:%M")


def next_clock(
    after: datetime, at: str, timezone: str, days: tuple[str, ...] | None = None
) -> datetime:
    """The first `at` on an allowed local day from the minute of `after` (independent of domain/).

    The minute of `after` counts: a wait that starts a few milliseconds after a 10:00 timer
    fired has reached 10:00.
    """
    tz = ZoneInfo(timezone)
    hours, minutes = (int(part) for part in at.split(":"))
    after = after.replace(second=0, microsecond=0)
    start = after.astimezone(tz).date()
    for offset in range(8):
        day = start + timedelta(days=offset)
        candidate = datetime.combine(day, time(hours, minutes), tzinfo=tz)
        if candidate >= after and (days is None or candidate.strftime("%a").lower() in days):
            return candidate
    raise AssertionError("no such day within a week")


def close_to(
    actual: datetime, expected: datetime, within: timedelta = timedelta(seconds=59)
) -> bool:
    """Workflow time runs past a timer (milliseconds; seconds on a loaded machine, where the
    time-skipping server keeps skipping while a workflow task waits for the CPU): compare
    within the minute, which is what a customer's clock shows."""
    return abs(actual - expected) <= within

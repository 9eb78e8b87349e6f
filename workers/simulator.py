"""Run a journey for a simulated cohort on the time-skipping server, before anyone publishes.

The real JourneyWorkflow runs; only its activities are replaced by in-memory ones that decide
what a real send would (no address, no consent: skipped) and remember when, in workflow time,
each message went out. The workflow code runs outside the determinism sandbox here: the same
code, without the per-run module isolation that costs about a third of the time (the sandboxed
worker and the replay tests keep guarding determinism). Each simulated day the behaviour model
makes customers open, click, order and answer; those become `customer_event` signals, exactly
as ingestion delivers them.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from temporalio import activity
from temporalio.client import WorkflowHandle
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from domain.callbacks import (
    CALLBACK_COMPLETED,
    CREATE_CALLBACK,
    ESCALATE_CALLBACK,
    CallbackTask,
    CreateCallback,
)
from domain.contracts import (
    LOAD_PROFILE,
    RECORD_STEPS,
    SEND_MESSAGE,
    UPDATE_PROFILE,
    EnrollCustomer,
    JourneyOutcome,
    LoadProfile,
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
from domain.send_policy import SendPolicy, quiet_until
from domain.simulation import Behaviour, Model
from domain.surveys import CREATE_SURVEY, SURVEY_ANSWERED, CreateSurvey, SurveyLink
from workers.binaries import temporal_test_server
from workflows.journey import JourneyWorkflow


@dataclass
class SimulationResult:
    customers: int
    days: int
    runs: Counter[str] = field(default_factory=Counter)  # completed / exited / running / failed
    goals: Counter[str] = field(default_factory=Counter)  # goal name -> runs that reached it
    converted: int = 0
    steps: dict[str, Counter[str]] = field(default_factory=dict)  # step -> status -> count
    messages: Counter[tuple[int, str, str]] = field(default_factory=Counter)  # day, channel, status
    actions: Counter[str] = field(default_factory=Counter)  # opens, clicks, orders, answers
    deferrals: Counter[tuple[int, str, str]] = field(default_factory=Counter)  # day, channel, why
    scores: dict[str, list[int]] = field(default_factory=lambda: {"nps": [], "csat": []})
    seconds: float = 0.0

    def merge(self, other: SimulationResult) -> SimulationResult:
        """The counts of two cohorts simulated apart (the slowest took `seconds`)."""
        steps = {k: Counter(v) for k, v in self.steps.items()}
        for step, counts in other.steps.items():
            steps[step] = steps.get(step, Counter()) + counts
        return SimulationResult(
            customers=self.customers + other.customers,
            days=max(self.days, other.days),
            runs=self.runs + other.runs,
            goals=self.goals + other.goals,
            converted=self.converted + other.converted,
            steps=steps,
            messages=self.messages + other.messages,
            actions=self.actions + other.actions,
            deferrals=self.deferrals + other.deferrals,
            scores={k: self.scores.get(k, []) + other.scores.get(k, []) for k in ("nps", "csat")},
            seconds=max(self.seconds, other.seconds),
        )


class SimulatedServices:
    """The activities a journey calls, in memory, deciding sends as the real pipeline does."""

    def __init__(
        self, profiles: list[CustomerProfile], start: datetime, policy: SendPolicy | None = None
    ) -> None:
        self.profiles = {p.customer_id: p for p in profiles}
        self.start = start
        self.policy = policy or SendPolicy()
        self.sent_at: dict[str, list[tuple[datetime, str, str]]] = {}  # customer -> sends
        self.open_surveys: dict[str, list[CreateSurvey]] = {}  # customer -> unanswered
        self.open_callbacks: dict[str, list[CreateCallback]] = {}  # customer -> waiting
        self.deferrals: Counter[tuple[int, str, str]] = Counter()
        self.result_messages: Counter[tuple[int, str, str]] = Counter()
        self.received_today: Counter[str] = Counter()
        self.steps: dict[str, Counter[str]] = {}
        self.finished: set[str] = set()

    def day_of(self, at: datetime) -> int:
        return (at - self.start) // timedelta(days=1)

    @activity.defn(name=SEND_MESSAGE)
    async def send_message(self, request: SendMessage) -> MessageOutcome:
        profile = self.profiles.get(request.customer_id)
        status, detail = "sent", ""
        if profile is None:
            status, detail = "skipped", "unknown customer"
        elif request.channel == "email" and not profile.email:
            status, detail = "skipped", "no email address"
        elif request.channel == "sms" and not profile.phone:
            status, detail = "skipped", "no phone number"
        elif request.category == "marketing" and not getattr(profile.consent, request.channel):
            status, detail = "skipped", f"unsubscribed from {request.channel}"
        now = activity.info().current_attempt_scheduled_time
        if status == "sent" and profile is not None:
            held = self._policy(request, profile, now)
            if held is not None and held.status == "deferred":
                return held
            if held is not None:
                status, detail = held.status, held.detail
        self.result_messages[(self.day_of(now), request.channel, status)] += 1
        if status == "sent":
            self.received_today[request.customer_id] += 1
            self.sent_at.setdefault(request.customer_id, []).append(
                (now, request.channel, request.category)
            )
        return MessageOutcome(idempotency_key=request.idempotency_key, status=status, detail=detail)

    def _policy(
        self, request: SendMessage, profile: CustomerProfile, now: datetime
    ) -> MessageOutcome | None:
        """The workspace policy, as the real send activity applies it (caps kept in memory)."""
        windows = (
            request.quiet_hours if request.quiet_hours is not None else self.policy.quiet_hours
        )
        quiet = quiet_until(windows, request.channel, request.category, now, profile.timezone)
        if quiet is not None:
            return self._defer(request, now, quiet[0], "quiet_hours", quiet[1])
        for cap in self.policy.caps_for(request.channel, request.category):
            counted = sorted(
                at
                for at, channel, category in self.sent_at.get(request.customer_id, [])
                if at > now - cap.per
                and category in cap.categories
                and (cap.channels is None or channel in cap.channels)
            )
            if len(counted) >= cap.max:
                room_at = counted[len(counted) - cap.max] + cap.per
                if cap.action == "defer":
                    return self._defer(request, now, room_at, "cap", cap.label())
                return MessageOutcome(
                    idempotency_key=request.idempotency_key,
                    status="skipped",
                    detail=f"{cap.label()} reached; skipped by policy",
                )
        return None

    def _defer(
        self, request: SendMessage, now: datetime, until: datetime, kind: str, reason: str
    ) -> MessageOutcome:
        self.deferrals[(self.day_of(now), request.channel, kind)] += 1
        return MessageOutcome(
            idempotency_key=request.idempotency_key,
            status="deferred",
            detail=reason,
            deferred_until=until,
        )

    @activity.defn(name=LOAD_PROFILE)
    async def load_profile(self, request: LoadProfile) -> ProfileSnapshot:
        return ProfileSnapshot(profile=self.profiles.get(request.customer_id))

    @activity.defn(name=UPDATE_PROFILE)
    async def update_profile(self, request: UpdateProfile) -> ProfileSnapshot:
        profile = self.profiles.get(request.customer_id)
        if profile is None:
            return ProfileSnapshot(profile=None)
        tags = [t for t in profile.tags if t not in request.remove_tags]
        tags += [t for t in request.add_tags if t not in tags]
        attributes = {**profile.attributes, **request.set}
        profile = profile.model_copy(update={"attributes": attributes, "tags": tags})
        self.profiles[request.customer_id] = profile
        return ProfileSnapshot(profile=profile)

    @activity.defn(name=RECORD_STEPS)
    async def record_steps(self, request: RecordSteps) -> Recorded:
        for event in request.events:
            self.steps.setdefault(event.step_id, Counter())[event.status] += 1
        if request.end is not None:
            self.finished.add(request.end.workflow_id)
        return Recorded(count=len(request.events))

    @activity.defn(name=CREATE_SURVEY)
    async def create_survey(self, request: CreateSurvey) -> SurveyLink:
        self.open_surveys.setdefault(request.customer_id, []).append(request)
        return SurveyLink(
            survey_id=request.survey_id, url=f"https://sim.test/s/{request.survey_id}"
        )

    @activity.defn(name=CREATE_CALLBACK)
    async def create_callback(self, request: CreateCallback) -> CallbackTask:
        self.open_callbacks.setdefault(request.customer_id, []).append(request)
        return CallbackTask(**request.model_dump())

    @activity.defn(name=ESCALATE_CALLBACK)
    async def escalate_callback(self, task_id: str) -> CallbackTask | None:
        return None

    @property
    def activities(self) -> list[Callable[..., Any]]:
        return [
            self.send_message,
            self.load_profile,
            self.update_profile,
            self.record_steps,
            self.create_survey,
            self.create_callback,
            self.escalate_callback,
        ]


async def _deliver(
    handle: WorkflowHandle[Any, Any], events: list[CustomerEvent], gate: asyncio.Semaphore
) -> None:
    async with gate:
        for event in events:
            try:
                await handle.signal(JourneyWorkflow.customer_event, event)
            except RPCError:  # the run ended before this event reached it
                return


async def _outcome(handle: WorkflowHandle[Any, Any], gate: asyncio.Semaphore) -> JourneyOutcome:
    async with gate:
        outcome: JourneyOutcome = await handle.result()
        return outcome


def _event(customer_id: str, type_: str, at: datetime, **properties: Any) -> CustomerEvent:
    return CustomerEvent(
        event_id=f"sim-{uuid.uuid4().hex}",
        customer_id=customer_id,
        type=type_,
        occurred_at=at,
        properties=properties,
    )


async def simulate(
    journey: JourneyDefinition,
    profiles: list[CustomerProfile],
    days: int,
    behaviour: Behaviour,
    on_day: Callable[[int], None] | None = None,
    policy: SendPolicy | None = None,
) -> SimulationResult:
    """Run `journey` for every profile over `days` simulated days; count what happened."""
    began = time.perf_counter()
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=pydantic_data_converter, test_server_existing_path=temporal_test_server()
    )
    try:
        return await _run(env, journey, profiles, days, behaviour, on_day, began, policy)
    finally:
        await env.shutdown()


async def _run(
    env: WorkflowEnvironment,
    journey: JourneyDefinition,
    profiles: list[CustomerProfile],
    days: int,
    behaviour: Behaviour,
    on_day: Callable[[int], None] | None,
    began: float,
    policy: SendPolicy | None,
) -> SimulationResult:
    start = await env.get_current_time()
    services = SimulatedServices(profiles, start, policy)
    model = Model(behaviour)
    result = SimulationResult(customers=len(profiles), days=days)
    queue = f"simulation-{uuid.uuid4().hex[:8]}"
    handles: dict[str, WorkflowHandle[Any, Any]] = {}
    gate = asyncio.Semaphore(64)
    async with Worker(
        env.client,
        task_queue=queue,
        workflows=[JourneyWorkflow],
        activities=services.activities,
        workflow_runner=UnsandboxedWorkflowRunner(),
        max_concurrent_workflow_tasks=200,
    ):

        async def enroll(profile: CustomerProfile) -> None:
            properties: dict[str, Any] = dict(journey.trigger.match)
            if journey.trigger.correlate_on:
                properties[journey.trigger.correlate_on] = f"sim-{profile.customer_id}"
            trigger = _event(profile.customer_id, journey.trigger.event, start, **properties)
            wf_id = workflow_id(journey.id, profile.customer_id, correlation_key(journey, trigger))
            async with gate:
                handles[profile.customer_id] = await env.client.start_workflow(
                    JourneyWorkflow.run,
                    EnrollCustomer(
                        journey=journey,
                        version=0,
                        customer_id=profile.customer_id,
                        entry_id=uuid.uuid4().hex,
                        trigger=trigger,
                    ),
                    id=f"{wf_id}/{queue}",
                    task_queue=queue,
                    start_signal="customer_event",
                    start_signal_args=[trigger],
                )

        await asyncio.gather(*(enroll(profile) for profile in profiles))
        for day in range(days):
            services.received_today.clear()
            await env.sleep(timedelta(days=1))
            now = start + timedelta(days=day + 1)
            signals = []
            for customer_id, handle in handles.items():
                if handle.id in services.finished:
                    continue
                surveys = services.open_surveys.get(customer_id, [])
                actions = model.day(services.received_today[customer_id], len(surveys))
                events = [_event(customer_id, "message_opened", now) for _ in range(actions.opens)]
                events += [
                    _event(customer_id, "message_clicked", now) for _ in range(actions.clicks)
                ]
                if actions.answered:
                    survey = surveys.pop(0)
                    score = model.score(survey.kind)
                    events.append(
                        _event(
                            customer_id,
                            SURVEY_ANSWERED,
                            now,
                            survey_id=survey.survey_id,
                            kind=survey.kind,
                            score=score,
                        )
                    )
                    result.scores[survey.kind].append(score)
                for task in list(services.open_callbacks.get(customer_id, [])):
                    if model.reached():
                        services.open_callbacks[customer_id].remove(task)
                        events.append(
                            _event(
                                customer_id,
                                CALLBACK_COMPLETED,
                                now,
                                task_id=task.task_id,
                                outcome="reached",
                            )
                        )
                        result.actions.update(calls=1)
                if actions.ordered:
                    order = f"sim-o-{customer_id}-{day}"
                    events.append(_event(customer_id, "order_completed", now, order_id=order))
                result.actions.update(
                    opens=actions.opens, clicks=actions.clicks, orders=int(actions.ordered)
                )
                if events:
                    signals.append(_deliver(handle, events, gate))
            await asyncio.gather(*signals)
            if on_day is not None:
                on_day(day + 1)
        with env.auto_time_skipping_disabled():
            outcomes = await asyncio.gather(
                *(_outcome(h, gate) for h in handles.values() if h.id in services.finished)
            )
        result.runs["running"] = len(handles) - len(outcomes)
        result.runs += Counter()  # drops a zero count of running runs
        for outcome in outcomes:
            result.runs[outcome.status] += 1
            if outcome.goal is not None:
                result.goals[outcome.goal.goal] += 1
                result.converted += outcome.goal.converted
    result.steps = services.steps
    result.messages = services.result_messages
    result.deferrals = services.deferrals
    result.seconds = time.perf_counter() - began
    return result

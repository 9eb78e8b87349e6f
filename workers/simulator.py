"""Run a journey for a simulated cohort on the time-skipping server, before anyone publishes.

The real JourneyWorkflow runs; only its activities are replaced by in-memory ones that decide
what a real send would, by the same eligibility rule (domain/eligibility.py: address, consent,
quiet hours, frequency caps counted over the sends kept here; a simulated cohort has no
suppressions and no cases), and remember when, in workflow time, each message went out. A
run's activity calls are answered by those stand-ins inside its workflow task (StandInCalls):
no activity task, no round trip through the SDK core or the server; workflow time stands
still through the call (through a real one it moves by the real milliseconds the round trip
takes: the server does not skip time while a task is outstanding). The workflow code runs
outside the determinism sandbox here: the same code, without the per-run module isolation
that costs about a third of the time (the sandboxed worker and the replay tests keep guarding
determinism). Each simulated day the behaviour model makes customers open, click, order and
answer; those the journey listens to become `customer_event` signals, exactly as ingestion
delivers them. The result depends on the seed and the cohort alone, not on the machine's
speed or the number of processes: the model's choices are hashes, customers act at instants
no run's timer falls on, and the counts are taken once every run has ended or is parked at a
step.
"""

from __future__ import annotations

import asyncio
import functools
import time
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, cast

from pydantic import TypeAdapter
from pydantic_core import to_json
from temporalio import activity, workflow
from temporalio.client import WorkflowHandle
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import (
    Interceptor,
    StartActivityInput,
    StartLocalActivityInput,
    UnsandboxedWorkflowRunner,
    Worker,
    WorkflowInboundInterceptor,
    WorkflowInterceptorClassInput,
    WorkflowOutboundInterceptor,
)

from domain.callbacks import (
    CALLBACK_COMPLETED,
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
    AbandonMessage,
    EnrollCustomer,
    JourneyOutcome,
    MessageOutcome,
    Recorded,
    RecordSteps,
    RunSnapshot,
    SendMessage,
)
from domain.customers import CustomerProfile
from domain.eligibility import RecentSend, SendFacts, decide_send
from domain.entry import correlation_key, workflow_id
from domain.events import CustomerEvent
from domain.journey import CallbackStep, JourneyDefinition, SurveyStep
from domain.messages import recipient_of
from domain.runs import RunEnd
from domain.send_policy import SendPolicy
from domain.simulation import Behaviour, Model, listened_events
from domain.surveys import CREATE_SURVEY, SURVEY_ANSWERED, CreateSurvey, SurveyLink
from workers.binaries import temporal_test_server
from workers.build_id import workflow_build_id
from workers.client import core_runtime
from workers.data_converter import DATA_CONVERTER
from workers.journey_stand_ins import JourneyStandIns
from workflows.journey import JourneyWorkflow

WORKFLOW_TASK_SLOTS = 200
INLINE_ACTIVATIONS = True


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


class SimulatedServices(JourneyStandIns):
    """The activities a journey calls, in memory, deciding sends as the real pipeline does.

    Idempotent like the real ones: a local activity that runs again (its workflow task timed out
    on a busy machine) or a retried send is counted once, by the keys the workflow gives them.
    """

    def __init__(
        self,
        profiles: list[CustomerProfile],
        start: datetime,
        policy: SendPolicy | None = None,
        journey: JourneyDefinition | None = None,
    ) -> None:
        super().__init__(profiles)
        self.start = start
        self.policy = policy or SendPolicy()
        self.journey = journey
        self.sent_at: dict[str, list[RecentSend]] = {}  # customer -> sends
        self.decided: dict[tuple[str, datetime], MessageOutcome] = {}  # (key, requested) -> outcome
        self.created_surveys: dict[str, CreateSurvey] = {}  # survey id -> survey, not yet sent
        self.open_surveys: dict[str, list[CreateSurvey]] = {}  # customer -> sent, unanswered
        self.open_callbacks: dict[str, list[CreateCallback]] = {}  # customer -> waiting
        self.callback_ids: set[str] = set()
        self.deferrals: Counter[tuple[int, str, str]] = Counter()
        self.result_messages: Counter[tuple[int, str, str]] = Counter()
        self.received_today: Counter[str] = Counter()
        self.steps: dict[str, Counter[str]] = {}
        self.recorded: set[tuple[str, str, str, datetime, str]] = set()
        self.finished: dict[str, RunEnd] = {}  # workflow id -> how the run ended

    def day_of(self, at: datetime) -> int:
        return (at - self.start) // timedelta(days=1)

    @activity.defn(name=SEND_MESSAGE)
    async def send_message(self, request: SendMessage) -> MessageOutcome:
        # requested_at is workflow time: the same for a retry of this attempt, later for the
        # attempt after a deferral.
        attempt = (request.idempotency_key, request.requested_at)
        if attempt in self.decided:
            return self.decided[attempt]
        outcome = self._decide(request, request.requested_at)
        self.decided[attempt] = outcome
        return outcome

    def _decide(self, request: SendMessage, now: datetime) -> MessageOutcome:
        profile = self.profiles.get(request.customer_id)
        status, detail = "sent", ""
        if profile is None:
            status, detail = "skipped", "unknown customer"
        else:
            decided = decide_send(self._facts(request, profile, now))
            if decided.verdict == "defer" and decided.until is not None:
                self.deferrals[(self.day_of(now), request.channel, decided.rule or "other")] += 1
                return MessageOutcome(
                    idempotency_key=request.idempotency_key,
                    status="deferred",
                    detail=decided.reason,
                    deferred_until=decided.until,
                    resume_on=decided.resume_on,
                )
            if not decided.sends:
                status, detail = "skipped", decided.reason
        self.result_messages[(self.day_of(now), request.channel, status)] += 1
        if status == "sent":
            self.received_today[request.customer_id] += 1
            self.sent_at.setdefault(request.customer_id, []).append(
                RecentSend(at=now, channel=request.channel, category=request.category)
            )
            survey = request.context.get("survey")
            if isinstance(survey, dict) and survey.get("survey_id") in self.created_surveys:
                sent = self.created_surveys.pop(str(survey["survey_id"]))
                self.open_surveys.setdefault(request.customer_id, []).append(sent)
        return MessageOutcome(idempotency_key=request.idempotency_key, status=status, detail=detail)

    def _facts(self, request: SendMessage, profile: CustomerProfile, now: datetime) -> SendFacts:
        """The facts the real send activity gathers, from the cohort and the sends kept here."""
        return SendFacts(
            channel=request.channel,
            category=request.category,
            recipient=recipient_of(profile, request.channel),
            consented=bool(getattr(profile.consent, request.channel)),
            after_case=request.after_case,
            quiet_hours=(
                request.quiet_hours if request.quiet_hours is not None else self.policy.quiet_hours
            ),
            timezone=profile.timezone,
            caps=self.policy.caps,
            recent=self.sent_at.get(request.customer_id, []),
            now=now,
        )

    @activity.defn(name=RECORD_STEPS)
    async def record_steps(self, request: RecordSteps) -> Recorded:
        if request.end is not None and request.end.workflow_id in self.finished:
            # A run ends once: its last records again, from a workflow task that ran twice.
            return Recorded(count=len(request.events))
        for event in request.events:
            key = (event.workflow_id, event.step_id, event.status, event.at, event.detail)
            if key not in self.recorded:
                self.recorded.add(key)
                self.steps.setdefault(event.step_id, Counter())[event.status] += 1
        if request.end is not None:
            self.finished[request.end.workflow_id] = request.end
        return Recorded(count=len(request.events))

    @activity.defn(name=CREATE_SURVEY)
    async def create_survey(self, request: CreateSurvey) -> SurveyLink:
        # Answerable once its message went out (see _decide).
        self.created_surveys.setdefault(request.survey_id, request)
        return SurveyLink(
            survey_id=request.survey_id, url=f"https://sim.test/s/{request.survey_id}"
        )

    @activity.defn(name=CREATE_CALLBACK)
    async def create_callback(self, request: CreateCallback) -> CallbackTask:
        if request.task_id not in self.callback_ids:
            self.callback_ids.add(request.task_id)
            self.open_callbacks.setdefault(request.customer_id, []).append(request)
        return CallbackTask(**request.model_dump())

    def waits_until(self, step_id: str, created_at: datetime) -> datetime:
        """Until when the run waits at a survey or callback step created at `created_at`."""
        if self.journey is None:
            return datetime.max.replace(tzinfo=created_at.tzinfo)
        step = self.journey.steps[self.journey.index_of(step_id)]
        if isinstance(step, CallbackStep):
            return created_at + step.callback.timeout
        if isinstance(step, SurveyStep):
            return created_at + step.survey.timeout
        return datetime.max.replace(tzinfo=created_at.tzinfo)

    def answerable(self, customer_id: str, now: datetime) -> list[CreateSurvey]:
        """The customer's sent surveys whose run still waits for the answer."""
        surveys = [
            s
            for s in self.open_surveys.get(customer_id, [])
            if self.waits_until(s.step_id, s.created_at) > now
        ]
        self.open_surveys[customer_id] = surveys
        return surveys

    def reachable(self, customer_id: str, now: datetime) -> list[CreateCallback]:
        """The customer's callbacks whose run still waits for an outcome."""
        tasks = [
            t
            for t in self.open_callbacks.get(customer_id, [])
            if self.waits_until(t.step_id, t.created_at) > now
        ]
        self.open_callbacks[customer_id] = tasks
        return tasks

    @activity.defn(name=CLOSE_CALLBACK)
    async def close_callback(self, request: CloseCallback) -> CallbackTask | None:
        """The run stopped waiting for the task: agents no longer reach the customer about it."""
        for customer_id, tasks in self.open_callbacks.items():
            self.open_callbacks[customer_id] = [t for t in tasks if t.task_id != request.task_id]
        return None

    @activity.defn(name=ABANDON_MESSAGE)
    async def abandon_message(self, request: AbandonMessage) -> None:
        return None  # simulated sends never fail


class StandInCalls(Interceptor):
    """Answers a run's activity calls from the in-memory stand-ins inside its workflow task.

    A stand-in needs no server, no worker slot and no retry: it only reads and updates the
    simulation's memory. The workflow still calls `execute_activity` and
    `execute_local_activity` as always; the call is answered at once, with the arguments and
    the result passed through the data converter as they would be (the stand-in gets its own
    copy, the workflow the type it asked for), instead of a round trip through the SDK core
    and, for a regular activity, the test server. A stand-in that raises, or waits on
    anything, is left to the ordinary path, whose retries and errors then apply.

    The answers are kept by run and call: a run replayed (its workflow task failed or timed
    out, and the worker rebuilt it from its history) gets the answers it had, as it would
    from the markers and events of real calls, not what the stand-ins would say now.
    """

    def __init__(self, activities: list[Callable[..., Any]]) -> None:
        self.calls: dict[str, tuple[Callable[..., Any], list[type] | None]] = {}
        for fn in activities:
            defn = activity._Definition.must_from_callable(fn)  # the worker's own reading
            if defn.name:
                self.calls[defn.name] = (fn, defn.arg_types)
        # (run id, call number) -> the stand-in's answer (JSON), or _ORDINARY for a call it
        # left to the ordinary path
        self.answers: dict[tuple[str, int], Any] = {}

    def workflow_interceptor_class(
        self, input: WorkflowInterceptorClassInput
    ) -> type[WorkflowInboundInterceptor]:
        stand_ins = self

        class Inbound(WorkflowInboundInterceptor):
            def init(self, outbound: WorkflowOutboundInterceptor) -> None:
                super().init(_AnsweredCalls(outbound, stand_ins))

        return Inbound


class _AnsweredCalls(WorkflowOutboundInterceptor):
    def __init__(
        self,
        next: WorkflowOutboundInterceptor,
        stand_ins: StandInCalls,
    ) -> None:
        super().__init__(next)
        self.stand_ins = stand_ins
        self.count = 0  # calls this run made so far (again from 0 when it is replayed)

    def start_activity(self, input: StartActivityInput) -> workflow.ActivityHandle[Any]:
        answered = self._answer(input.activity, input.args, input.ret_type)
        return answered if answered is not None else super().start_activity(input)

    def start_local_activity(self, input: StartLocalActivityInput) -> workflow.ActivityHandle[Any]:
        answered = self._answer(input.activity, input.args, input.ret_type)
        return answered if answered is not None else super().start_local_activity(input)

    def _answer(
        self, name: str, args: Sequence[Any], ret_type: type | None
    ) -> workflow.ActivityHandle[Any] | None:
        key = (workflow.info().run_id, self.count)
        self.count += 1
        answers = self.stand_ins.answers
        if key not in answers:
            value = self._ask(name, args)
            # Kept as the data converter would carry it: later changes to the stand-ins'
            # objects do not reach it.
            answers[key] = value if value is None or value is _ORDINARY else to_json(value)
        kept = answers[key]
        if kept is _ORDINARY:
            return None
        answer: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        answer.set_result(None if kept is None else _adapter(ret_type or Any).validate_json(kept))
        return cast("workflow.ActivityHandle[Any]", answer)

    def _ask(self, name: str, args: Sequence[Any]) -> Any:
        """The stand-in's answer, or _ORDINARY when the call is to go the ordinary way."""
        call = self.stand_ins.calls.get(name)
        if call is None:
            return _ORDINARY
        fn, arg_types = call
        hints: Sequence[type | None] = arg_types or [None] * len(args)
        running = fn(*(_converted(arg, hint) for arg, hint in zip(args, hints, strict=True)))
        try:
            running.send(None)
        except StopIteration as done:
            return done.value
        except Exception:  # the ordinary path retries it and reports the error
            return _ORDINARY
        running.close()  # it waits on something: let the worker run it
        return _ORDINARY


_ORDINARY = object()


@functools.cache
def _adapter(hint: Any) -> TypeAdapter[Any]:
    return TypeAdapter(hint)


def _converted(value: Any, hint: type | None) -> Any:
    """`value` as the other side of a call receives it: what the data converter does to a
    value (None stays None, anything else goes through JSON and back as `hint`), without the
    payload envelopes."""
    if value is None:
        return None
    return _adapter(Any if hint is None else hint).validate_json(to_json(value))


# The cohort enters at the first midnight UTC the server reaches, so the time of day a simulation
# is started at moves nothing. The simulated customers act once a day, ACTS_AFTER past midnight
# on the first day and DRIFT later each following day: the instant is a whole minute and a half
# away from the whole minutes journeys set local-clock timers to, and a run's timer that counts
# whole days from an event the customers sent ends DRIFT before they act again, so it has fired
# and been handled by then (the time-skipping server does not skip while a workflow or activity
# task is outstanding, so `env.sleep` returns only once the work before that instant is done).
ACTS_AFTER = timedelta(hours=5, minutes=17, seconds=37, milliseconds=500)
LATEST_ACT = timedelta(hours=22)
# Customers who order that day do so half a DRIFT after their other actions: timers counted in
# whole days from an order end half a DRIFT away from any later actions.
ORDER = "order_completed"


def drift(days: int) -> timedelta:
    """How much later each day customers act: as much as the horizon leaves room for."""
    for step in (timedelta(minutes=10), timedelta(minutes=1)):
        if ACTS_AFTER + days * step <= LATEST_ACT:
            return step
    return timedelta(seconds=15)


# How long to wait, in real time, for a run to be done or parked at the end of the horizon.
SETTLE_SECONDS = 120.0


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


async def _parked(
    handle: WorkflowHandle[Any, Any], services: SimulatedServices, gate: asyncio.Semaphore
) -> bool:
    """Wait until the run has ended or is parked at a step (no work pending); True if parked."""
    deadline = time.monotonic() + SETTLE_SECONDS
    async with gate:
        while handle.id not in services.finished:
            snapshot: RunSnapshot = await handle.query(JourneyWorkflow.status)
            if snapshot.waiting is not None and handle.id not in services.finished:
                return True
            if time.monotonic() > deadline:
                raise RuntimeError(f"run {handle.id} neither ended nor parked at the horizon")
            await asyncio.sleep(0.05)
    return False


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
    # Our runtime: the SDK core's warnings for server operators are not printed (the
    # time-skipping server does not advertise every capability); its real errors still are.
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=DATA_CONVERTER,
        test_server_existing_path=temporal_test_server(),
        runtime=core_runtime(),
    )
    try:
        return await _run(env, journey, profiles, days, behaviour, on_day, began, policy)
    finally:
        await env.shutdown()


async def _advance_to(env: WorkflowEnvironment, instant: datetime) -> None:
    remaining = instant - await env.get_current_time()
    if remaining > timedelta(0):
        await env.sleep(remaining)


def _customer_day(
    customer_id: str,
    day: int,
    now: datetime,
    services: SimulatedServices,
    model: Model,
    result: SimulationResult,
) -> tuple[list[CustomerEvent], bool]:
    """What one customer does on `day`, as the events their run would receive, and whether
    they also order that day (later that day: see ORDERS_AFTER)."""
    surveys = services.answerable(customer_id, now)
    actions = model.day(customer_id, day, services.received_today[customer_id], len(surveys))
    events = [_event(customer_id, "message_opened", now) for _ in range(actions.opens)]
    events += [_event(customer_id, "message_clicked", now) for _ in range(actions.clicks)]
    if actions.answered:
        survey = surveys.pop(0)
        score = model.score(customer_id, day, survey.kind)
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
    tasks = services.reachable(customer_id, now)
    for index, task in enumerate(list(tasks)):
        if model.reached(customer_id, day, index):
            tasks.remove(task)
            events.append(
                _event(
                    customer_id, CALLBACK_COMPLETED, now, task_id=task.task_id, outcome="reached"
                )
            )
            result.actions.update(calls=1)
    result.actions.update(opens=actions.opens, clicks=actions.clicks)
    return events, actions.ordered


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
    midnight = await env.get_current_time() + timedelta(days=1)
    start = midnight.replace(hour=0, minute=0, second=0, microsecond=0)
    await _advance_to(env, start)
    services = SimulatedServices(profiles, start, policy, journey)
    model = Model(behaviour)
    listened = listened_events(journey)
    result = SimulationResult(customers=len(profiles), days=days)
    queue = f"simulation-{uuid.uuid4().hex[:8]}"
    handles: dict[str, WorkflowHandle[Any, Any]] = {}
    gate = asyncio.Semaphore(64)
    later = drift(days)
    async with Worker(
        env.client,
        task_queue=queue,
        workflows=[JourneyWorkflow],
        activities=services.activities,
        interceptors=[StandInCalls(services.activities)],
        workflow_runner=UnsandboxedWorkflowRunner(),
        # Every run stays in the cache: an evicted run replays its whole history next time.
        max_cached_workflows=len(profiles) + 16,
        max_concurrent_workflow_tasks=WORKFLOW_TASK_SLOTS,
        # Activations run inline on the worker's event loop instead of being handed to a thread
        # per task (with a deadlock timer each); the workflow code is the same, and the
        # sandboxed worker and the replay tests keep guarding its determinism.
        debug_mode=INLINE_ACTIVATIONS,
        build_id=workflow_build_id(),  # not the SDK's digest of every module: seconds of CPU
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
                    # A busy machine can take longer than the default 10 s for the first tasks
                    # of a large cohort; a timed-out task would only run again.
                    task_timeout=timedelta(minutes=1),
                )

        await asyncio.gather(*(enroll(profile) for profile in profiles))
        for day in range(days):
            if len(services.finished) == len(handles):
                # Every run has ended: nothing is left to act on or to fire.
                if on_day is not None:
                    for rest in range(day, days):
                        on_day(rest + 1)
                break
            now = start + ACTS_AFTER + day * (timedelta(days=1) + later)
            await _advance_to(env, now)
            signals, ordering = [], []
            for customer_id, handle in handles.items():
                if handle.id in services.finished:
                    continue
                events, ordered = _customer_day(customer_id, day, now, services, model, result)
                # Events the journey does not listen to would only sit in the run's inbox.
                events = [event for event in events if event.type in listened]
                if events:
                    signals.append(_deliver(handle, events, gate))
                if ordered:
                    ordering.append(customer_id)
            services.received_today.clear()
            await asyncio.gather(*signals)
            # Orders come apart from the other actions, once those have been handled: two
            # events sent at once may reach a run in one workflow task or in two, and which
            # of them the run sees first would then depend on the machine's speed.
            if not ordering:  # nobody orders today: no instant to stop at for it
                if on_day is not None:
                    on_day(day + 1)
                continue
            now += later / 2
            await _advance_to(env, now)
            signals = []
            for customer_id in ordering:
                handle = handles[customer_id]
                if handle.id in services.finished:
                    continue
                result.actions.update(orders=1)
                if ORDER in listened:
                    order = _event(customer_id, ORDER, now, order_id=f"sim-o-{customer_id}-{day}")
                    signals.append(_deliver(handle, [order], gate))
            await asyncio.gather(*signals)
            if on_day is not None:
                on_day(day + 1)
        await _advance_to(env, start + timedelta(days=days))
        with env.auto_time_skipping_disabled():
            parked = await asyncio.gather(*(_parked(h, services, gate) for h in handles.values()))
            outcomes = await asyncio.gather(
                *(_outcome(h, gate) for h in handles.values() if h.id in services.finished)
            )
        result.runs["running"] = sum(parked)
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

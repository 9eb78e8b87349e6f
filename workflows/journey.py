"""JourneyWorkflow: interprets one pinned journey version for one customer.

The definition travels in the input, so a run keeps the version it started with and replays
deterministically. Customer events arrive as the `customer_event` signal: an `exit_when` goal
ends the run at once, whatever step it is in; other events wait in an inbox for `wait_for`.
Every step is recorded (entered, then completed / skipped / failed, with why); records are
flushed to the store before the run blocks and when it ends.

Send and survey messages share one delivery path: quiet hours, frequency caps and an open
complaint case defer a message (a durable timer, or the event that ends the hold, then the
same message again under the same key); a message that fails for good, or whose transient
retries run out, is recorded as failed with the reason and the run goes on by the send's
`on_failure`. Behaviour that running journeys did not have goes behind `workflow.patched`,
listed in workflows/patches.py.

Events reach a run in log order, each with its position (`logged_event`): the run drops any
position it has passed, so redelivery is harmless. A run started outside the ordered delivery
(`catch_up`, e.g. by an audience page) first reads the customer's log after its trigger, holding
signals that arrive meanwhile, then takes them all in order.

Operators change a running run through updates (`end_run`, `skip_wait`, `retry_step`,
`move_to`), each with a validator that rejects what the run's state does not allow before
anything reaches history. An accepted operation is applied where the run waits (never in the
middle of a send; an end that comes during a send waits for it), noted in the trace with who
and why, written to the store, and only then answered; the update ids applied are kept in the
state, so the same operation sent again is answered "already" instead of done twice.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, is_cancelled_exception

with workflow.unsafe.imports_passed_through():
    from domain.callbacks import (
        CALLBACK_COMPLETED,
        CLOSE_CALLBACK,
        CREATE_CALLBACK,
        ESCALATE_CALLBACK,
        CallbackTask,
        CloseCallback,
        CreateCallback,
    )
    from domain.contracts import (
        ABANDON_MESSAGE,
        LOAD_PROFILE,
        READ_LOG,
        RECORD_STEPS,
        SEND_MESSAGE,
        UPDATE_PROFILE,
        EnrollCustomer,
        GoalReached,
        JourneyOutcome,
        JourneyState,
        LoadProfile,
        LogPage,
        MessageOutcome,
        OperationResult,
        ProfileSnapshot,
        ReadLog,
        Recorded,
        RecordSteps,
        RunOperation,
        RunOperationKind,
        RunSnapshot,
        SendMessage,
        StepRecord,
        UpdateProfile,
    )
    from domain.customers import CustomerProfile
    from domain.durations import format_duration
    from domain.events import CustomerEvent, LoggedEvent
    from domain.experiments import HOLDOUT, TREATMENT, bucket, choose, held_out
    from domain.expressions import ExpressionError, evaluate_condition, render_value
    from domain.journey import (
        END,
        BranchStep,
        CallbackStep,
        EndStep,
        GotoStep,
        HoldoutStep,
        SendStep,
        SplitStep,
        StartStep,
        Step,
        SurveyStep,
        UpdateStep,
        WaitForStep,
        WaitStep,
        step_kind,
    )
    from domain.journey_start import START_JOURNEY, StartJourney, StartOutcome
    from domain.listening import listened_event_types
    from domain.matching import event_matches
    from domain.messages import Channel
    from domain.runs import RunEnd, RunStatus, StepEvent
    from domain.schedule import wait_until
    from domain.surveys import (
        CREATE_SURVEY,
        SURVEY_ANSWERED,
        CreateSurvey,
        SurveyLink,
        nps_category,
    )

SEND_OPTIONS: dict[str, Any] = {
    "start_to_close_timeout": timedelta(minutes=2),
    # The send heartbeats while the provider works: a worker that dies mid-send is noticed in
    # seconds and the retry (same idempotency key) runs on another worker.
    "heartbeat_timeout": timedelta(seconds=10),
    "retry_policy": RetryPolicy(
        initial_interval=timedelta(seconds=2),
        backoff_coefficient=2.0,
        maximum_interval=timedelta(minutes=10),
        maximum_attempts=30,
    ),
}
STORE_OPTIONS: dict[str, Any] = {
    "start_to_close_timeout": timedelta(seconds=30),
    "retry_policy": RetryPolicy(maximum_interval=timedelta(minutes=1)),
}
# Clean-up after the fact (give up a message, close a stale task): worth a few tries, never
# worth holding the run up.
TIDY_OPTIONS: dict[str, Any] = {
    "start_to_close_timeout": timedelta(seconds=30),
    "retry_policy": RetryPolicy(maximum_attempts=5, maximum_interval=timedelta(seconds=30)),
}
MAX_CALL_BACKS = 10
MAX_STEPS_PER_ENTRY = 10_000
MAX_DEFERRALS = 100
SEEN_EVENTS_KEPT = 500
INBOX_KEPT = 200
MAX_CATCH_UP_PAGES = 20
OPERATIONS_KEPT = 200
# Step kinds whose wait a run may leave for a newer version (`journeys migrate`).
MIGRATABLE_KINDS = ("wait", "wait_for")
# Step kinds whose failure an operator may retry (`journeys runs retry`).
RETRYABLE_KINDS = ("send", "update")
# Errors of a step that a retry of the workflow task cannot heal.
UNHEALABLE = (ExpressionError, OverflowError, ValueError, TypeError, KeyError, IndexError)


class Refused(ApplicationError):
    """A run operation the run's state does not allow: the update is rejected, nothing changes."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason, type="RunOperationRefused", non_retryable=True)


@dataclass
class Interrupt:
    """An accepted run operation the run applies at its next safe point."""

    kind: RunOperationKind
    op: RunOperation
    update_id: str
    target: str | None = None

    def said(self) -> str:
        return f"by {self.op.actor}: {self.op.reason}"


@workflow.defn(name="JourneyWorkflow")
class JourneyWorkflow:
    @workflow.init
    def __init__(self, inp: EnrollCustomer) -> None:
        # Set up here, not in run(): a signal-with-start delivers its signal before run starts.
        self.inp = inp
        self.state = inp.state or JourneyState(
            position=inp.journey.steps[0].id,
            seen_event_ids=[inp.trigger.event_id],
            last_seq=inp.trigger_seq,
            caught_up=not inp.catch_up,
        )
        self.pending: list[StepEvent] = []
        self.profile: CustomerProfile | None = None
        self.waiting: str | None = None
        self.current: Step | None = None
        self.end_reason = "completed every step"
        # Why the run failed, when a step met an error no retry can heal.
        self.failure: str | None = None
        # Run operations: the one accepted and not yet applied, the end one asked for, the
        # results their update handlers wait for, and whether the current wait may be left
        # (a held message is mid-send: it may not).
        self.interrupt: Interrupt | None = None
        self.stop: Interrupt | None = None
        self.results: dict[str, OperationResult] = {}
        self.interruptible = False
        self.closing = False
        # When the run entered the step it is in (a migrated run: when its wait began).
        self.entered_at: datetime | None = None
        self.since: datetime | None = None
        # Releases of held sends (`sends_released`, when a journey paused with --hold-sends
        # is resumed): a message held by that pause is asked again at once.
        self.released = 0

    # --- the run -------------------------------------------------------------------------

    @workflow.run
    async def run(self, inp: EnrollCustomer) -> JourneyOutcome:
        if not self.state.caught_up:
            await self._catch_up()
        steps_this_run = 0
        while self.state.goal is None and self.state.position != END:
            journey = self._inp.journey  # the run's version (a migration replaces it)
            step = journey.steps[journey.index_of(str(self.state.position))]
            if self.interrupt is not None:
                # An end that came between steps (during a record or the catch-up); before
                # continue-as-new, which waits for the update handler that waits for this.
                if await self._apply(step):
                    break
                continue
            if steps_this_run >= inp.max_steps_per_run or (
                workflow.info().is_continue_as_new_suggested()
            ):
                await self._continue_as_new()
            if self.state.steps_taken >= MAX_STEPS_PER_ENTRY:
                self._fail(step, f"run took {MAX_STEPS_PER_ENTRY} steps; the journey loops")
                break
            self.state.steps_taken += 1
            steps_this_run += 1
            try:
                self.state.position = await self._take(step)
            except UNHEALABLE as exc:
                # A template or condition that fails, a time that does not fit: the same on
                # every retry. The step fails with its reason and the run ends, instead of a
                # workflow task that fails forever.
                self._fail(step, f"{type(exc).__name__}: {exc}")
                break
            if self.interrupt is not None and await self._apply(step):
                break
        return await self._finish()

    def _fail(self, step: Step, reason: str) -> None:
        self.failure = f"{step.id} failed: {reason}"[:500]
        self._note(step, "failed", reason)

    async def _take(self, step: Step) -> str:
        """Run one step and return where to go next."""
        self.current = step
        # A run migrated mid-wait: the step it lands on counts from when the wait began.
        self.since, self.state.carried_since = self.state.carried_since, None
        self.entered_at = self.since or workflow.now()
        visit = self.state.visits.get(step.id, 0) + 1
        self.state.visits[step.id] = visit
        self._note(step, "entered")
        match step:
            case SendStep():
                return await self._send(step, visit)
            case WaitStep():
                return await self._wait(step)
            case WaitForStep():
                return await self._wait_for(step)
            case BranchStep():
                return await self._branch(step)
            case UpdateStep():
                return await self._update(step)
            case SplitStep():
                return self._split(step)
            case HoldoutStep():
                return self._holdout(step)
            case CallbackStep():
                return await self._callback(step, visit)
            case SurveyStep():
                return await self._survey(step, visit)
            case StartStep():
                return await self._start(step, visit)
            case GotoStep():
                self._note(step, "completed", f"goto {step.goto}")
                return step.goto
            case EndStep():
                self._note(step, "completed", step.end.reason)
                self.end_reason = step.end.reason
                return END
            case _:
                raise ApplicationError(f"unknown step kind {step!r}", type="UnknownStepKind")

    def _next(self, step: Step) -> str:
        index = self.inp.journey.index_of(step.id) + 1
        return self.inp.journey.steps[index].id if index < len(self.inp.journey.steps) else END

    # --- step kinds ----------------------------------------------------------------------

    async def _send(self, step: SendStep, visit: int) -> str:
        if self.state.held_out:
            self.state.outputs[step.id] = {"status": "skipped", "detail": HOLDOUT}
            self._note(step, "skipped", "holdout: the control group is sent nothing")
            return self._next(step)
        outcome, _ = await self._deliver_held(step, visit, step.send.channel, step.send.template)
        if outcome is None:
            return END
        self.state.outputs[step.id] = {"status": outcome.status, "detail": outcome.detail}
        what = f"{step.send.channel} {outcome.status} {outcome.detail}".strip()
        if outcome.status == "failed":
            target = step.send.failure_target(self._next(step))
            if target == END:
                self.end_reason = f"{step.id} failed: {outcome.detail}"
            self._note(step, "failed", f"{what}; on_failure {step.send.on_failure} -> {target}")
            return target
        status = {"sent": "completed", "pending": "completed"}.get(outcome.status, outcome.status)
        self._note(step, status, what)
        return self._next(step)

    async def _deliver_held(
        self,
        step: SendStep | SurveyStep,
        visit: int,
        channel: Channel,
        template: str,
        extra: dict[str, Any] | None = None,
        before_retry: Callable[[], Any] | None = None,
    ) -> tuple[MessageOutcome | None, bool]:
        """Deliver a step's message, waiting out deferrals; (outcome, whether it was held).

        The outcome is None when a goal ended the run while the message was held.
        `before_retry` (awaited after a hold) returns fresh `extra` for the next attempt.
        """
        held = False
        for _ in range(MAX_DEFERRALS):
            released = self.released
            outcome = await self._deliver(step.id, visit, channel, template, extra)
            if outcome.status != "deferred" or outcome.deferred_until is None:
                break
            held = True
            # Quiet hours, a frequency cap, an open case or the journey's hold: a durable timer
            # (or the event or release that ends the hold), then the same message again.
            until, resume_on = outcome.deferred_until, outcome.resume_on
            self._note(step, "deferred", f"until {until.isoformat()}: {outcome.detail}")
            await self._block(
                f"deferred until {until.isoformat()}",
                until,
                lambda event_type=resume_on, mark=released: (
                    self.released > mark or self._take_event(event_type)
                ),
                interruptible=False,
            )
            if self._stopping():
                return None, held
            if before_retry is not None:
                extra = await before_retry()
        return outcome, held

    async def _deliver(
        self,
        step_id: str,
        visit: int,
        channel: Channel,
        template: str,
        extra: dict[str, Any] | None = None,
    ) -> MessageOutcome:
        inp = self._inp
        info = workflow.info()
        request = SendMessage(
            idempotency_key=f"{info.workflow_id}/{inp.entry_id}/{step_id}/{visit}",
            journey_id=inp.journey.id,
            version=inp.version,
            category=inp.journey.category_of(step_id),
            workflow_id=info.workflow_id,
            entry_id=inp.entry_id,
            step_id=step_id,
            customer_id=inp.customer_id,
            channel=channel,
            template_name=template,
            template=inp.journey.template(template),
            context={**self._context(with_profile=False), **(extra or {})},
            requested_at=workflow.now(),
            quiet_hours=inp.journey.quiet_hours,
            after_case=inp.journey.after_case,
        )
        try:
            outcome: MessageOutcome = await workflow.execute_activity(
                SEND_MESSAGE,
                request,
                result_type=MessageOutcome,
                summary=f"{step_id}: {channel} {template}",
                **SEND_OPTIONS,
            )
        except ActivityError as exc:
            if is_cancelled_exception(exc):
                raise
            return await self._give_up(request, exc)
        return outcome

    async def _give_up(self, request: SendMessage, exc: ActivityError) -> MessageOutcome:
        """The send kept failing until its retries ran out: a failed message, not a failed run."""
        reason = f"gave up after retries: {exc.cause or exc}"[:500]
        try:
            await workflow.execute_activity(
                ABANDON_MESSAGE,
                request.given_up(reason, workflow.now()),
                **TIDY_OPTIONS,
            )
        except ActivityError as tidy:
            if is_cancelled_exception(tidy):
                raise
            reason += f" (outbox not released: {tidy.cause or tidy})"
        return MessageOutcome(
            idempotency_key=request.idempotency_key, status="failed", detail=reason
        )

    async def _callback(self, step: CallbackStep, visit: int) -> str:
        """Book the call, then wait for its outcome: escalated when overdue, `on_timeout` after
        `timeout` (from the step's start).

        "Call back later" is not a final outcome: the store opens a follow-up task due at the
        time the customer asked for, and the step waits for that task instead, escalating it
        when it is overdue and giving up `timeout` after its due time (at most MAX_CALL_BACKS
        times; then call_back_later is the outcome). A task the run stops waiting for is closed
        (expired on the timeout path, cancelled when a goal ends the run) so nobody works it.
        """
        spec, info = step.callback, workflow.info()
        now = workflow.now()
        task: CallbackTask = await workflow.execute_activity(
            CREATE_CALLBACK,
            CreateCallback(
                task_id=f"cb-{workflow.uuid4().hex[:16]}",
                queue=spec.queue,
                reason=spec.reason,
                customer_id=self._inp.customer_id,
                journey_id=self._inp.journey.id,
                workflow_id=info.workflow_id,
                step_id=step.id,
                due_at=now + spec.due_in,
                context={
                    "trigger": self._inp.trigger.template_context(),
                    "steps": self.state.outputs,
                },
                created_at=now,
            ),
            result_type=CallbackTask,
            **STORE_OPTIONS,
        )
        task_id, due_at, deadline = task.task_id, task.due_at, now + spec.timeout
        found: list[CustomerEvent] = []
        for attempt in range(MAX_CALL_BACKS):
            found = await self._await_task(step, task_id, due_at, deadline)
            if not found:
                break
            props = found[0].properties
            next_task, call_back_at = props.get("next_task_id"), props.get("call_back_at")
            if props.get("outcome") != "call_back_later" or not next_task or not call_back_at:
                break
            if attempt + 1 == MAX_CALL_BACKS:
                why = f"asked to call back later {MAX_CALL_BACKS} times; the journey went on"
                await self._close_task(step, str(next_task), "cancelled", why)
                break
            due_at = datetime.fromisoformat(str(call_back_at))
            deadline = due_at + spec.timeout
            self._note(
                step, "rescheduled", f"{task_id}: call back at {due_at.isoformat()} ({next_task})"
            )
            task_id = str(next_task)
        if self._stopping():
            if not found:
                await self._close_task(step, task_id, "cancelled", self._stopped_by())
            return END
        if not found:
            self.state.outputs[step.id] = {"task_id": task_id, "timed_out": True}
            target = step.on_timeout or self._next(step)
            reason = f"no outcome by {deadline.isoformat()}; the journey went on to {target}"
            await self._close_task(step, task_id, "expired", reason)
            self._note(step, "completed", f"no outcome for {task_id} in time; to {target}")
            return target
        props = found[0].properties
        outcome = str(props.get("outcome"))
        self.state.outputs[step.id] = {
            "task_id": task_id,
            "outcome": outcome,
            "notes": props.get("notes", ""),
            "timed_out": False,
        }
        target = step.on_outcome.get(outcome, self._next(step))  # type: ignore[call-overload]
        self._note(step, "completed", f"{task_id}: {outcome} -> {target}")
        return str(target)

    async def _await_task(
        self, step: CallbackStep, task_id: str, due_at: datetime, deadline: datetime
    ) -> list[CustomerEvent]:
        """The task's completion event, if it comes by `deadline`; escalated when overdue."""
        found: list[CustomerEvent] = []
        arrived = self._arrival(CALLBACK_COMPLETED, "task_id", task_id, found)
        skipped = await self._block(f"callback {task_id}", min(due_at, deadline), arrived)
        if not found and not skipped and not self._stopping() and workflow.now() < deadline:
            await workflow.execute_activity(
                ESCALATE_CALLBACK, task_id, result_type=CallbackTask, **STORE_OPTIONS
            )
            self._note(step, "escalated", f"{task_id} overdue; moved to supervisors")
            await self._block(f"callback {task_id}", deadline, arrived)
        return found

    async def _close_task(
        self, step: CallbackStep, task_id: str, status: Literal["expired", "cancelled"], why: str
    ) -> None:
        try:
            await workflow.execute_activity(
                CLOSE_CALLBACK,
                CloseCallback(task_id=task_id, status=status, reason=why, at=workflow.now()),
                result_type=CallbackTask,
                **TIDY_OPTIONS,
            )
        except ActivityError as exc:
            if is_cancelled_exception(exc):
                raise
            self._note(step, "failed", f"could not close {task_id}: {exc.cause or exc}")

    async def _survey(self, step: SurveyStep, visit: int) -> str:
        spec, info = step.survey, workflow.info()
        now = workflow.now()

        async def create_link() -> SurveyLink:
            link: SurveyLink = await workflow.execute_activity(
                CREATE_SURVEY,
                CreateSurvey(
                    survey_id=survey_id,
                    kind=spec.kind,
                    customer_id=self._inp.customer_id,
                    journey_id=self._inp.journey.id,
                    workflow_id=info.workflow_id,
                    step_id=step.id,
                    expires_at=workflow.now() + (spec.expires_in or spec.timeout),
                    created_at=now,
                ),
                result_type=SurveyLink,
                **STORE_OPTIONS,
            )
            return link

        survey_id = f"sv-{workflow.uuid4().hex[:16]}"
        link = await create_link()
        if self.state.held_out:
            self._note(step, "skipped", "holdout: the control group is sent nothing")
            self.state.outputs[step.id] = {"survey_id": link.survey_id, "answered": False}
            return self._next(step)

        def survey_context(link: SurveyLink) -> dict[str, Any]:
            return {"survey": {"url": link.url, "kind": spec.kind, "survey_id": link.survey_id}}

        async def refreshed() -> dict[str, Any]:
            # Held for a while: the link must work for the whole answer window from now on.
            return survey_context(await create_link())

        sent, held = await self._deliver_held(
            step, visit, spec.channel, spec.template, survey_context(link), refreshed
        )
        if sent is None:
            return END
        found: list[CustomerEvent] = []
        arrived = self._arrival(SURVEY_ANSWERED, "survey_id", link.survey_id, found)
        if sent.status == "sent":
            since = workflow.now() if held else now
            await self._block(f"survey {link.survey_id}", since + spec.timeout, arrived)
        if self._stopping():
            return END
        if not found:
            self.state.outputs[step.id] = {"survey_id": link.survey_id, "answered": False}
            target = step.on_timeout or self._next(step)
            why = "no answer in time" if sent.status == "sent" else f"not sent: {sent.detail}"
            self._note(step, "completed", f"{link.survey_id} {why}; to {target}")
            return target
        props = found[0].properties
        score = int(str(props.get("score")))
        self.state.outputs[step.id] = {
            "survey_id": link.survey_id,
            "answered": True,
            "score": score,
            "comment": props.get("comment", ""),
            "category": nps_category(score) if spec.kind == "nps" else None,
        }
        self._note(step, "completed", f"{spec.kind} {score}")
        return self._next(step)

    def _arrival(
        self, event_type: str, key: str, value: str, found: list[CustomerEvent]
    ) -> Callable[[], bool]:
        def arrived() -> bool:
            for event in self.state.inbox:
                if event.type == event_type and event.properties.get(key) == value:
                    found.append(event)
                    self.state.inbox.remove(event)
                    return True
            return False

        return arrived

    def _take_event(self, event_type: str | None) -> bool:
        """Consume the first inbox event of `event_type`, if one has arrived."""
        for event in self.state.inbox:
            if event_type is not None and event.type == event_type:
                self.state.inbox.remove(event)
                return True
        return False

    async def _wait(self, step: WaitStep) -> str:
        timezone = "UTC"
        if step.wait.until is not None:
            profile = await self._load_profile()
            timezone = profile.timezone if profile else "UTC"
        until = wait_until(self.since or workflow.now(), step.wait, timezone)
        skipped = await self._block(f"until {until.isoformat()}", until, lambda: False)
        if not self._stopping():
            waited = "an operator skipped the wait" if skipped else "waited"
            self._note(step, "completed", f"{waited} until {until.isoformat()} ({timezone})")
        return self._next(step)

    async def _wait_for(self, step: WaitForStep) -> str:
        spec = step.wait_for
        context = self._context(with_profile=False)
        expected = {key: render_value(value, context) for key, value in spec.match.items()}
        deadline = (self.since or workflow.now()) + spec.timeout
        found: list[CustomerEvent] = []

        def arrived() -> bool:
            for event in self.state.inbox:
                if event_matches(event, spec.event, expected):
                    found.append(event)
                    self.state.inbox.remove(event)
                    return True
            return False

        await self._block(f"event {spec.event}", deadline, arrived)
        if found:
            self.state.outputs[step.id] = {"received": True, "event": found[0].template_context()}
            self._note(step, "completed", f"{spec.event} {found[0].event_id} arrived")
            return self._next(step)
        self.state.outputs[step.id] = {"received": False}
        if self._stopping():
            return END
        target = step.on_timeout or self._next(step)
        waited = format_duration(spec.timeout)
        self._note(step, "completed", f"no {spec.event} within {waited}; to {target}")
        return target

    async def _branch(self, step: BranchStep) -> str:
        await self._load_profile()
        context = self._context(with_profile=True)
        errors: list[str] = []
        for case in step.branch:
            if case.when is None:
                self._note(step, "completed", f"else -> {case.target}")
                return case.target
            try:
                holds = evaluate_condition(case.when, context)
            except ExpressionError as exc:
                errors.append(str(exc))
                holds = False
            if holds:
                self._note(step, "completed", f"{case.when} -> {case.target}")
                return case.target
        target = self._next(step)
        self._note(step, "completed", "; ".join([*errors, f"no case held -> {target}"]))
        return target

    def _split(self, step: SplitStep) -> str:
        point = bucket(self.inp.journey.id, step.id, self.inp.customer_id)
        name = choose(step.split, point)
        self.state.outputs[step.id] = {"variant": name}
        self._note(step, "completed", name)
        return next(v.goto for v in step.split if v.name == name)

    def _holdout(self, step: HoldoutStep) -> str:
        point = bucket(self.inp.journey.id, step.id, self.inp.customer_id)
        self.state.held_out = held_out(step.holdout.percent, point)
        group = HOLDOUT if self.state.held_out else TREATMENT
        self.state.outputs[step.id] = {"group": group}
        self._note(step, "completed", group)
        return self._next(step)

    async def _start(self, step: StartStep, visit: int) -> str:
        """Enroll the customer in another journey; whatever its rules answer is the output."""
        inp, info = self._inp, workflow.info()
        context = self._context(with_profile=False)
        try:
            properties = {key: render_value(v, context) for key, v in step.start.properties.items()}
        except ExpressionError as exc:
            # As an update step's: the step fails with the reason and the run goes on.
            self.state.outputs[step.id] = {"status": "failed", "detail": str(exc)[:500]}
            self._note(step, "failed", f"properties: {exc}")
            return self._next(step)
        outcome: StartOutcome = await workflow.execute_activity(
            START_JOURNEY,
            StartJourney(
                journey_id=step.start.journey,
                customer_id=inp.customer_id,
                properties=properties,
                parent_journey_id=inp.journey.id,
                parent_workflow_id=info.workflow_id,
                parent_entry_id=inp.entry_id,
                step_id=step.id,
                idempotency_key=f"{info.workflow_id}/{inp.entry_id}/{step.id}/{visit}",
                at=workflow.now(),
            ),
            result_type=StartOutcome,
            summary=f"{step.id}: start {step.start.journey}",
            **STORE_OPTIONS,
        )
        self.state.outputs[step.id] = outcome.model_dump(mode="json")
        started = outcome.workflow_id or "-"
        self._note(
            step,
            "completed",
            f"{step.start.journey} {outcome.status} {started} {outcome.detail}".strip(),
        )
        return self._next(step)

    async def _update(self, step: UpdateStep) -> str:
        await self._load_profile()
        context = self._context(with_profile=True)
        try:
            values = {key: render_value(v, context) for key, v in step.update.set.items()}
        except ExpressionError as exc:
            self._note(step, "failed", str(exc))
            return self._next(step)
        snapshot: ProfileSnapshot = await workflow.execute_local_activity(
            UPDATE_PROFILE,
            UpdateProfile(
                customer_id=self._inp.customer_id,
                set=values,
                add_tags=list(step.update.add_tags),
                remove_tags=list(step.update.remove_tags),
                at=workflow.now(),
            ),
            result_type=ProfileSnapshot,
            **STORE_OPTIONS,
        )
        self.profile = snapshot.profile
        changed = [*values, *(f"+{t}" for t in step.update.add_tags)]
        changed += [f"-{t}" for t in step.update.remove_tags]
        self._note(step, "completed", "set " + ", ".join(changed))
        return self._next(step)

    # --- blocking, goals and events ------------------------------------------------------

    async def _block(
        self, what: str, until: datetime, done: Any, *, interruptible: bool = True
    ) -> bool:
        """Wait until `done()` holds, a goal is reached, or `until` passes (a durable timer).

        An accepted run operation ends the wait too: skip-wait as if `until` had passed (True
        is returned), the others for the run loop to apply. A wait that is not
        `interruptible` (a held message, mid-send) accepts only an end.
        """
        self.waiting = what
        self.interruptible = interruptible
        await self._flush()
        remaining = until - workflow.now()
        try:
            if remaining > timedelta(0):
                await workflow.wait_condition(
                    lambda: self.state.goal is not None or self.interrupt is not None or done(),
                    timeout=remaining,
                )
            else:
                done()
        except TimeoutError:
            pass
        finally:
            self.waiting = None
            self.interruptible = False
        interrupt = self.interrupt
        if interrupt is None or interrupt.kind != "skip_wait" or self.state.goal is not None:
            return False
        self.interrupt = None
        step = self.current
        assert step is not None
        self._note(step, "wait_skipped", f"{what} skipped {interrupt.said()}")
        await self._flush()  # the store has it before the operator's answer
        self._applied(interrupt, f"woke the run at {step.id}: {what} skipped")
        return True

    def _stopping(self) -> bool:
        """Whether the step must stop here: a goal, or an operation that leaves the step."""
        return self.state.goal is not None or (
            self.interrupt is not None and self.interrupt.kind != "skip_wait"
        )

    def _stopped_by(self) -> str:
        if self.state.goal is not None:
            return f"goal {self.state.goal.goal}"
        assert self.interrupt is not None
        return f"run.{self.interrupt.kind} {self.interrupt.said()}"[:500]

    async def _catch_up(self) -> None:
        """Read the customer's log after the trigger, then take what signals brought meanwhile."""
        inp = self._inp
        after = inp.trigger_seq
        read: list[LoggedEvent] = []
        for _ in range(MAX_CATCH_UP_PAGES):
            page: LogPage = await workflow.execute_local_activity(
                READ_LOG,
                ReadLog(
                    customer_id=inp.customer_id,
                    after_seq=after,
                    trigger_event_id=inp.trigger.event_id,
                    types=sorted(listened_event_types(inp.journey)),
                ),
                result_type=LogPage,
                **STORE_OPTIONS,
            )
            if after is None:
                after = page.trigger_seq
                if self.state.last_seq is None:
                    self.state.last_seq = page.trigger_seq
            read.extend(page.events)
            if not page.more or not page.events:
                break
            after = page.events[-1].seq
        self.state.caught_up = True
        held, self.state.early = self.state.early, []
        for logged in sorted([*read, *held], key=lambda item: item.seq):
            self._take_logged(logged)

    @workflow.signal(name="logged_event")
    def logged_event(self, logged: LoggedEvent) -> None:
        """An event of the customer's log with its position, in log order."""
        if not self.state.caught_up:
            self.state.early = [*self.state.early[-INBOX_KEPT:], logged]
            return
        self._take_logged(logged)

    def _take_logged(self, logged: LoggedEvent) -> None:
        if self.state.last_seq is not None and logged.seq <= self.state.last_seq:
            return
        self.state.last_seq = logged.seq
        self.customer_event(logged.event)

    @workflow.signal(name="sends_released")
    def sends_released(self) -> None:
        """The journey was resumed after a pause that held its sends: ask again now."""
        self.released += 1

    @workflow.signal(name="customer_event")
    def customer_event(self, event: CustomerEvent) -> None:
        """A new event in the customer's log: a goal, something a step waits for, or neither."""
        if event.event_id in self.state.seen_event_ids:
            return
        self.state.seen_event_ids = [*self.state.seen_event_ids[-SEEN_EVENTS_KEPT:], event.event_id]
        if self.state.goal is not None:
            return
        context = self._context(with_profile=False)
        for goal in self.inp.journey.exit_when:
            try:
                expected = {key: render_value(v, context) for key, v in goal.match.items()}
            except ExpressionError:
                continue
            if event_matches(event, goal.event, expected):
                self.state.goal = GoalReached(
                    goal=goal.label, converted=goal.converted, event_id=event.event_id
                )
                return
        self.state.inbox = [*self.state.inbox[-INBOX_KEPT:], event]

    # --- run operations (updates) -------------------------------------------------------

    @workflow.update(name="end_run")
    async def end_run(self, op: RunOperation) -> OperationResult:
        """Stop the run: at once while it waits, else when the step in progress is done."""
        return await self._operate("end", op)

    @end_run.validator
    def _validate_end(self, op: RunOperation) -> None:
        self._validate("end", op)

    @workflow.update(name="skip_wait")
    async def skip_wait(self, op: RunOperation) -> OperationResult:
        """Wake the run now: it goes on as if the wait it is in had run out."""
        return await self._operate("skip_wait", op)

    @skip_wait.validator
    def _validate_skip(self, op: RunOperation) -> None:
        self._validate("skip_wait", op)

    @workflow.update(name="retry_step")
    async def retry_step(self, op: RunOperation) -> OperationResult:
        """Take the step that failed last again (a send or an update), then go on from it."""
        return await self._operate("retry", op)

    @retry_step.validator
    def _validate_retry(self, op: RunOperation) -> None:
        self._validate("retry", op)

    @workflow.update(name="move_to")
    async def move_to(self, op: RunOperation) -> OperationResult:
        """Leave the wait the run is in for step `op.to` of the same version."""
        return await self._operate("move", op)

    @move_to.validator
    def _validate_move(self, op: RunOperation) -> None:
        self._validate("move", op)

    @workflow.update(name="migrate_to")
    async def migrate_to(self, op: RunOperation) -> OperationResult:
        """Move the waiting run to a newer version of its journey, at the step `op.mapping`
        gives for the step it waits in; its trigger, outputs and time waited go with it."""
        return await self._operate("migrate", op)

    @migrate_to.validator
    def _validate_migrate(self, op: RunOperation) -> None:
        self._validate("migrate", op)

    def _validate(self, kind: RunOperationKind, op: RunOperation) -> None:
        """Refuse (reject the update, nothing changes) what the run's state does not allow."""
        info = workflow.current_update_info()
        if info is not None and info.id in self.state.operations:
            return  # applied before: the handler answers "already done"
        if self.closing or self.state.goal is not None or self.state.position == END:
            raise Refused("the run is ending (or continuing as new): try again in a moment")
        if self.interrupt is not None:
            raise Refused(f"another operation ({self.interrupt.kind}) is being applied")
        if kind == "end":
            return
        where = self.state.position
        if self.waiting is None or not self.state.caught_up:
            raise Refused(
                f"the run is not waiting: step {where} is in progress; try again at its next wait"
            )
        if not self.interruptible:
            raise Refused(
                f"the run holds a message at step {where} ({self.waiting}): a held message is "
                "mid-send; it goes when the hold ends, or end the run"
            )
        if kind == "move":
            self._move_target(op)
        elif kind == "retry":
            self._retry_target()
        elif kind == "migrate":
            self._migration_target(op)

    def _move_target(self, op: RunOperation) -> str:
        inp = self._inp
        steps = [s.id for s in inp.journey.steps]
        if not op.to:
            raise Refused("move needs the step to go to")
        if op.to not in steps:
            raise Refused(
                f"version {inp.version} of journey {inp.journey.id} has no step {op.to!r}; "
                f"its steps: {', '.join(steps)}"
            )
        if op.to == self.state.position:
            raise Refused(f"the run is already at step {op.to}")
        return op.to

    def _migration_target(self, op: RunOperation) -> str:
        inp, where = self._inp, str(self.state.position)
        new = op.journey
        if new is None or op.to_version is None:
            raise Refused("migrate needs the version to move to and its definition")
        if new.id != inp.journey.id:
            raise Refused(
                f"the run is in journey {inp.journey.id}, not {new.id}: runs move between "
                "versions of their own journey only"
            )
        if op.to_version <= inp.version:
            raise Refused(
                f"the run is on version {inp.version}: migration moves runs to a newer "
                f"version only, not to {op.to_version}"
            )
        kind = step_kind(self.current) if self.current is not None else None
        if kind not in MIGRATABLE_KINDS:
            raise Refused(
                f"the run waits in step {where} ({kind}): only a run waiting on a timer or "
                "an event (wait, wait_for) can move to another version"
            )
        target = op.mapping.get(where)
        if target is None:
            raise Refused(f"step {where} has no mapping to version {op.to_version}: it stays")
        steps = [s.id for s in new.steps]
        if target not in steps:
            raise Refused(
                f"version {op.to_version} of journey {new.id} has no step {target!r}; "
                f"its steps: {', '.join(steps)}"
            )
        return target

    def _retry_target(self) -> str:
        """The step that failed last, if the run went on past it; else Refused."""
        latest: dict[str, str] = {}
        for record in reversed(self.state.history):
            if record.status in ("completed", "failed", "skipped"):
                latest.setdefault(record.step_id, record.status)
                failed = latest[record.step_id] == "failed" and record.kind in RETRYABLE_KINDS
                if failed and any(s.id == record.step_id for s in self._inp.journey.steps):
                    return record.step_id
        raise Refused(
            "no send or update step of this run has failed (or it succeeded since); "
            "nothing to retry"
        )

    async def _operate(self, kind: RunOperationKind, op: RunOperation) -> OperationResult:
        info = workflow.current_update_info()
        update_id = info.id if info is not None else str(workflow.uuid4())
        if update_id in self.state.operations:
            return OperationResult(
                operation=kind,
                applied=False,
                already=True,
                detail="this operation was applied before",
                position=None if self.state.position == END else self.state.position,
                status="stopped" if self.stop is not None else "running",
            )
        target = None
        if kind == "move":
            target = self._move_target(op)
        elif kind == "retry":
            target = self._retry_target()
        elif kind == "migrate":
            target = self._migration_target(op)
        self.interrupt = Interrupt(kind=kind, op=op, update_id=update_id, target=target)
        await workflow.wait_condition(lambda: update_id in self.results)
        return self.results.pop(update_id)

    def _applied(self, interrupt: Interrupt, detail: str, *, applied: bool = True) -> None:
        if applied:
            self.state.operations = [
                *self.state.operations[-(OPERATIONS_KEPT - 1) :],
                interrupt.update_id,
            ]
        position = self.state.position
        self.results[interrupt.update_id] = OperationResult(
            operation=interrupt.kind,
            applied=applied,
            detail=detail,
            position=None if position == END or interrupt.kind == "end" else position,
            status="stopped" if interrupt.kind == "end" and applied else "running",
        )

    async def _apply(self, step: Step) -> bool:
        """Apply the accepted operation at `step`; True when the run ends with it."""
        interrupt, self.interrupt = self.interrupt, None
        assert interrupt is not None
        if self.state.goal is not None:
            self._applied(
                interrupt, f"goal {self.state.goal.goal} ended the run first", applied=False
            )
            return True
        if interrupt.kind == "end":
            self._note(step, "stopped", f"ended {interrupt.said()}")
            self.stop = interrupt
            return True
        target = str(interrupt.target)
        if interrupt.kind == "migrate":
            await self._migrate(step, interrupt, target)
            return False
        if interrupt.kind == "move":
            self._note(step, "moved", f"moved to {target} {interrupt.said()}")
            detail = f"moved from {step.id} to {target}"
        else:
            self._note(step, "retried", f"retry of {target} {interrupt.said()}")
            detail = f"left {step.id} to take {target} again"
        self.state.position = target
        await self._flush()  # the store has it before the operator's answer
        self._applied(interrupt, detail)
        return False

    async def _migrate(self, step: Step, interrupt: Interrupt, target: str) -> None:
        op, old = interrupt.op, self._inp.version
        assert op.journey is not None and op.to_version is not None
        self._note(
            step,
            "migrated",
            f"from version {old} at {step.id} to version {op.to_version} at {target} "
            f"{interrupt.said()}",
        )
        self.inp = self._inp.model_copy(update={"journey": op.journey, "version": op.to_version})
        self.state.position = target
        # The time already waited goes along: the new step counts from when the wait began.
        self.state.carried_since = self.entered_at
        await self._flush(version=op.to_version)  # the store has it before the answer
        self._applied(
            interrupt,
            f"moved from version {old} at {step.id} to version {op.to_version} at {target}",
        )

    @workflow.query(name="status")
    def status(self) -> RunSnapshot:
        inp = self._inp
        return RunSnapshot(
            journey_id=inp.journey.id,
            version=inp.version,
            customer_id=inp.customer_id,
            entry_id=inp.entry_id,
            position=self.state.position,
            waiting=self.waiting,
            goal=self.state.goal,
            history=self.state.history,
            outputs=self.state.outputs,
            operations=self.state.operations,
        )

    # --- bookkeeping ---------------------------------------------------------------------

    @property
    def _inp(self) -> EnrollCustomer:
        return self.inp

    def _context(self, *, with_profile: bool) -> dict[str, Any]:
        inp = self._inp
        profile = self.profile.template_context() if self.profile and with_profile else {}
        return {
            "profile": profile,
            "trigger": inp.trigger.template_context(),
            "steps": self.state.outputs,
            "journey": {"id": inp.journey.id, "version": inp.version, "name": inp.journey.name},
        }

    async def _load_profile(self) -> CustomerProfile | None:
        snapshot: ProfileSnapshot = await workflow.execute_local_activity(
            LOAD_PROFILE,
            LoadProfile(customer_id=self._inp.customer_id),
            result_type=ProfileSnapshot,
            **STORE_OPTIONS,
        )
        self.profile = snapshot.profile
        return self.profile

    def _note(self, step: Step, status: str, detail: str = "") -> None:
        inp = self._inp
        now = workflow.now()
        kind = step_kind(step) or "?"
        # The record's identity: a retried workflow task replays to the same count but a
        # later now(), so the store de-duplicates on (entry, seq), not on the time.
        seq = self.state.step_records
        self.state.step_records += 1
        self.state.history = [
            *self.state.history[-199:],
            StepRecord(step_id=step.id, kind=kind, status=status, detail=detail, at=now),
        ]
        # workflow.logger is silent while replaying; the fields are every run line's own.
        note = workflow.logger.warning if status == "failed" else workflow.logger.debug
        note(
            f"step {status}",
            extra={
                "journey": inp.journey.id,
                "version": inp.version,
                "customer": inp.customer_id,
                "step": step.id,
                "workflow_id": workflow.info().workflow_id,
                "kind": kind,
                "detail": detail[:200],
            },
        )
        self.pending.append(
            StepEvent(
                workflow_id=workflow.info().workflow_id,
                entry_id=inp.entry_id,
                journey_id=inp.journey.id,
                version=inp.version,
                customer_id=inp.customer_id,
                step_id=step.id,
                kind=kind,
                status=status,
                detail=detail[:500],
                at=now,
                seq=seq,
            )
        )

    async def _flush(self, end: RunEnd | None = None, *, version: int | None = None) -> None:
        if not self.pending and end is None and version is None:
            return
        events, self.pending = self.pending, []
        await workflow.execute_local_activity(
            RECORD_STEPS,
            RecordSteps(
                entry_id=self._inp.entry_id,
                events=events,
                current_step=None if end else self.state.position,
                end=end,
                version=version,
            ),
            result_type=Recorded,
            **STORE_OPTIONS,
        )

    async def _finish(self) -> JourneyOutcome:
        self.closing = True
        goal = self.state.goal
        status: RunStatus
        if self.failure is not None:
            status, reason = "failed", self.failure
        elif self.stop is not None:
            status = "stopped"
            reason = f"ended by an operator ({self.stop.op.actor}): {self.stop.op.reason}"[:500]
        elif goal is not None:
            status, reason = "exited", f"goal {goal.goal} reached ({goal.event_id})"
            if self.current is not None:
                self._note(self.current, "exited", reason)
        else:
            status, reason = "completed", self.end_reason
        await self._flush(
            RunEnd(
                workflow_id=workflow.info().workflow_id,
                status=status,
                reason=reason,
                at=workflow.now(),
            )
        )
        if self.stop is not None:
            self._applied(self.stop, f"ended at {self.current.id if self.current else '-'}")
        if self.interrupt is not None:  # accepted, then the run ended another way first
            interrupt, self.interrupt = self.interrupt, None
            self._applied(interrupt, f"the run ended first ({status}: {reason})", applied=False)
        if not workflow.all_handlers_finished():
            await workflow.wait_condition(workflow.all_handlers_finished)
        return JourneyOutcome(
            status=status,
            reason=reason,
            steps_taken=self.state.steps_taken,
            goal=goal,
        )

    async def _continue_as_new(self) -> None:
        self.closing = True
        await self._flush()
        await workflow.wait_condition(workflow.all_handlers_finished)
        inp = self._inp.model_copy(update={"state": self.state})
        workflow.continue_as_new(inp)

"""CaseWorkflow: one complaint case, from acknowledgement to closing.

It acknowledges the customer, then watches two SLA timers that depend on severity (first
response, resolution); a breach escalates the case to the supervisors' queue. Support changes
it through updates (assign, add_note, respond, resolve, reopen) whose validators refuse what
the case's state does not allow, so a refused update leaves no trace. A resolved case closes
when it is not reopened within CLOSE_AFTER. Every change is kept in the store and the events
(case_opened, case_escalated, case_resolved, case_reopened, case_closed) go into the
customer's log, where journeys hear them.

A case whose customer is erased before the store first keeps it (it passed the open's
tombstone check, but no worker had run it when the erasure looked for the customer's cases)
has that first record refused (ERASED_ERROR) and ends there, having acknowledged nothing; a
case the store knows is terminated by the erasure itself (app/privacy.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from domain.cases import (
        ACKNOWLEDGEMENT,
        CASE_WORKFLOW,
        CLOSE_AFTER,
        RECORD_CASE,
        SLA,
        SUPERVISORS,
        Assign,
        CaseEntry,
        CaseRecord,
        CaseState,
        Note,
        Reopen,
        Resolve,
        Respond,
        StartCase,
        auto_assignee,
        check_update,
        new_state,
    )
    from domain.contracts import SEND_MESSAGE, MessageOutcome, SendMessage
    from domain.durations import format_duration
    from domain.privacy import ERASED_ERROR

ACTIVITY: dict[str, Any] = {
    "start_to_close_timeout": timedelta(minutes=2),
    "retry_policy": RetryPolicy(maximum_interval=timedelta(minutes=5)),
}


@workflow.defn(name=CASE_WORKFLOW)
class CaseWorkflow:
    @workflow.init
    def __init__(self, start: StartCase) -> None:
        self.state = new_state(start.case_id, start.request, workflow.now())
        self.recording = asyncio.Lock()
        self.changes = 0

    @workflow.run
    async def run(self, start: StartCase) -> CaseState:
        try:
            return await self._run(start)
        except ActivityError as exc:
            if not (isinstance(exc.cause, ApplicationError) and exc.cause.type == ERASED_ERROR):
                raise
            # The customer was erased before the store kept this case (an erasure ends the
            # workflows of the cases it finds there): the case ends here, keeping nothing.
            workflow.logger.info("case ended: %s", exc.cause.message)
            return self.state

    async def _run(self, start: StartCase) -> CaseState:
        await self._record("case_opened")
        await self._auto_assign(start.roster)
        await self._acknowledge()
        state = self.state
        if not await self._until(
            lambda: state.first_response_at is not None or state.status != "open",
            state.first_response_due,
        ):
            await self._escalate("first response")
        while True:
            if not await self._until(lambda: state.status != "open", state.resolution_due):
                await self._escalate("resolution")
                await workflow.wait_condition(lambda: state.status != "open")
            resolved_at = state.resolved_at or workflow.now()
            if not await self._until(lambda: state.status == "open", resolved_at + CLOSE_AFTER):
                break
        state.status = "closed"
        state.closed_at = workflow.now()
        self._log("closed", "", f"not reopened within {format_duration(CLOSE_AFTER)}")
        await self._record("case_closed")
        await workflow.wait_condition(workflow.all_handlers_finished)
        return state

    # --- updates ---------------------------------------------------------------------------

    @workflow.update
    async def assign(self, change: Assign) -> CaseState:
        self.state.assignee = change.agent
        self._log("assigned", change.agent)
        await self._record(None)
        return self.state

    @assign.validator
    def _check_assign(self, change: Assign) -> None:
        check_update(self.state, "assign")

    @workflow.update
    async def add_note(self, note: Note) -> CaseState:
        self._log("note", note.by, note.text)
        await self._record(None)
        return self.state

    @add_note.validator
    def _check_note(self, note: Note) -> None:
        check_update(self.state, "note")

    @workflow.update
    async def respond(self, reply: Respond) -> CaseState:
        if self.state.first_response_at is None:
            self.state.first_response_at = workflow.now()
        self.state.assignee = self.state.assignee or reply.by
        self._log("responded", reply.by, reply.text)
        await self._record(None)
        return self.state

    @respond.validator
    def _check_respond(self, reply: Respond) -> None:
        check_update(self.state, "respond")

    @workflow.update
    async def resolve(self, change: Resolve) -> CaseState:
        self.state.status = "resolved"
        self.state.resolved_at = workflow.now()
        self.state.resolution = change.resolution
        self._log("resolved", change.by, change.resolution)
        await self._record("case_resolved")
        return self.state

    @resolve.validator
    def _check_resolve(self, change: Resolve) -> None:
        check_update(self.state, "resolve")

    @workflow.update
    async def reopen(self, change: Reopen) -> CaseState:
        self.state.status = "open"
        self.state.resolved_at = None
        self.state.resolution_due = workflow.now() + SLA[self.state.severity][1]
        self._log("reopened", change.by, change.reason)
        await self._record("case_reopened")
        return self.state

    @reopen.validator
    def _check_reopen(self, change: Reopen) -> None:
        check_update(self.state, "reopen")

    @workflow.query
    def state_of(self) -> CaseState:
        return self.state

    # --- inside ----------------------------------------------------------------------------

    async def _until(self, done: Callable[[], bool], deadline: datetime) -> bool:
        """Wait for `done()` until `deadline`: True when it held in time (a durable timer)."""
        remaining = deadline - workflow.now()
        if remaining <= timedelta(0):
            return done()
        try:
            await workflow.wait_condition(done, timeout=remaining)
        except TimeoutError:
            return done()
        return True

    async def _auto_assign(self, roster: list[str]) -> None:
        agent = auto_assignee(self.state.case_id, roster)
        if agent is None or self.state.assignee is not None:
            return
        self.state.assignee = agent
        self._log("assigned", agent, "automatically, from the support roster")
        await self._record(None)

    async def _escalate(self, sla: str) -> None:
        self.state.queue = SUPERVISORS
        self.state.escalations.append(sla)
        self._log("escalated", "", f"{sla} SLA breached; moved to {SUPERVISORS}")
        await self._record("case_escalated")

    async def _acknowledge(self) -> None:
        state, info = self.state, workflow.info()
        context = {
            "case": {
                "case_id": state.case_id,
                "category": state.category,
                "first_response_within": format_duration(SLA[state.severity][0]),
            }
        }
        outcome: MessageOutcome = await workflow.execute_activity(
            SEND_MESSAGE,
            SendMessage(
                idempotency_key=f"{info.workflow_id}/acknowledgement",
                journey_id="case",
                version=0,
                category="transactional",
                workflow_id=info.workflow_id,
                entry_id=state.case_id,
                step_id="acknowledgement",
                customer_id=state.customer_id,
                channel=state.channel,
                template_name="case_acknowledgement",
                template=ACKNOWLEDGEMENT,
                context=context,
                requested_at=workflow.now(),
            ),
            result_type=MessageOutcome,
            **ACTIVITY,
        )
        self._log("acknowledged", "", f"{state.channel} {outcome.status} {outcome.detail}".strip())
        await self._record(None)

    def _log(self, action: str, by: str, text: str = "") -> None:
        self.state.history.append(CaseEntry(at=workflow.now(), action=action, by=by, text=text))

    async def _record(self, event: str | None) -> None:
        """Keep the state in the store; append `event` to the customer's log once."""
        self.changes += 1
        async with self.recording:
            await workflow.execute_activity(
                RECORD_CASE,
                CaseRecord(
                    state=self.state,
                    event=event,
                    event_key=f"{event}.{self.changes}" if event else "",
                ),
                **ACTIVITY,
            )

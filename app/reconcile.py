"""Reconciliation: the store's run mirror made to agree with Temporal, never the reverse.

A run's state in the store is written by the run itself; when it is not (a run terminated in
the Temporal UI, a row whose workflow never started because the process died), this module asks
Temporal what it knows of that entry and writes that down. An RPC error is never evidence that a
run ended; only Temporal describing the entry's execution as closed is.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel
from temporalio.client import WorkflowExecutionDescription, WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from domain.contracts import JourneyOutcome
from domain.events import CustomerEvent
from domain.runs import Enrollment, RunEnd, RunStatus

if TYPE_CHECKING:
    from app.journeys import JourneyService

ENTRY_MEMO = "entry_id"

_CLOSED: dict[WorkflowExecutionStatus, RunStatus] = {
    WorkflowExecutionStatus.FAILED: "failed",
    WorkflowExecutionStatus.CANCELED: "failed",
    WorkflowExecutionStatus.TERMINATED: "failed",
    WorkflowExecutionStatus.TIMED_OUT: "failed",
}


class RunChange(BaseModel):
    """What reconciling one run found, and what it changed in the store."""

    workflow_id: str
    entry_id: str
    journey_id: str
    customer_id: str
    store_status: str
    temporal_status: str  # running, completed, failed, terminated, ... or missing
    action: Literal["none", "ended", "reopened", "started", "waiting"]
    detail: str = ""

    @property
    def ended(self) -> bool:
        return self.action == "ended"

    @property
    def delivery_note(self) -> str:
        if self.action == "ended":
            return f"the run had ended in Temporal ({self.temporal_status}); store reconciled"
        return "the run is not in Temporal yet: it reads this event from the log when it starts"


async def _execution(
    service: JourneyService, run: Enrollment
) -> WorkflowExecutionDescription | None:
    """Temporal's newest execution of the run's workflow id, if it is this entry's."""
    client = await service.client()
    try:
        found = await client.get_workflow_handle(run.workflow_id).describe()
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            return None
        raise
    memo = await found.memo()
    entry = memo.get(ENTRY_MEMO)
    if entry is not None:
        return found if entry == run.entry_id else None
    # Started before runs carried their entry in the memo: the execution is this entry's
    # unless it started before the entry was made.
    started = found.start_time
    return found if started is None or started >= run.entered_at.replace(microsecond=0) else None


async def reconcile_run(
    service: JourneyService, run: Enrollment, *, start_missing: bool = False
) -> RunChange:
    """Make the store's row for `run` agree with Temporal; `start_missing` starts an entry that
    never reached Temporal (from its trigger in the log) unless its delivery is still due."""
    found = await _execution(service, run)
    change = _change(run, found)
    store = service.store
    if found is None:
        if run.status != "running":
            return change
        if not start_missing:
            change.action = "waiting"
            return change
        return await _start_missing(service, run, change)
    if found.status == WorkflowExecutionStatus.RUNNING:
        if run.status != "running":
            await asyncio.to_thread(store.runs.reopen, run.entry_id)
            change.action = "reopened"
            change.detail = "running in Temporal; the store had it ended"
        return change
    if run.status != "running":
        return change
    status: RunStatus = _CLOSED.get(found.status, "completed")  # type: ignore[arg-type]
    reason = f"reconciled from Temporal: {change.temporal_status}"
    if found.status == WorkflowExecutionStatus.COMPLETED:
        client = await service.client()
        handle = client.get_workflow_handle(
            run.workflow_id, run_id=found.run_id, result_type=JourneyOutcome
        )
        outcome = await handle.result()
        status, reason = outcome.status, f"{outcome.reason} (reconciled from Temporal)"
    await asyncio.to_thread(
        store.runs.finish,
        run.entry_id,
        RunEnd(
            workflow_id=run.workflow_id,
            status=status,
            reason=reason,
            at=found.close_time or service.clock(),
        ),
    )
    change.action = "ended"
    change.detail = reason
    return change


async def _start_missing(service: JourneyService, run: Enrollment, change: RunChange) -> RunChange:
    store = service.store
    if await asyncio.to_thread(store.privacy.get, run.customer_id) is not None:
        change.action = "waiting"
        change.detail = "the customer is being erased: nothing is started for them"
        return change
    trigger = (
        None
        if run.trigger_event_id is None
        else await asyncio.to_thread(store.events.get, run.trigger_event_id)
    )
    if trigger is None:
        change.action = "waiting"
        change.detail = "no trigger event in the log to start it from"
        return change
    pending = await asyncio.to_thread(store.deliveries.for_events, [trigger.event_id])
    record = pending.get(trigger.event_id)
    if record is not None and record.status == "pending":
        change.action = "waiting"
        change.detail = "its trigger's delivery is still due; that starts it"
        return change
    journey = await asyncio.to_thread(service.journey, run.journey_id, run.version)
    event = CustomerEvent.model_validate(trigger.model_dump(exclude={"seq", "received_at"}))
    # Started by reconciliation, out of the ordered delivery: it reads the log itself.
    await service._start(journey, run, event, seq=trigger.seq, catch_up=True)
    change.action = "started"
    change.detail = "no workflow in Temporal for this entry: started from its trigger"
    return change


async def reconcile(
    service: JourneyService, journey_id: str | None = None, *, repair: bool = True
) -> list[RunChange]:
    """Check every run the store has as running (and those Temporal still runs); with `repair`,
    write down what Temporal says and start entries that never reached it. What differed."""
    runs = await asyncio.to_thread(service.store.runs.running_all, journey_id)
    changes = []
    for run in runs:
        if repair:
            change = await reconcile_run(service, run, start_missing=True)
        else:
            change = await _check_only(service, run)
        if change.action != "none":
            changes.append(change)
    return changes


async def _check_only(service: JourneyService, run: Enrollment) -> RunChange:
    found = await _execution(service, run)
    change = _change(run, found)
    if found is None or found.status != WorkflowExecutionStatus.RUNNING:
        change.action = "waiting"
        change.detail = "differs (dry run: nothing changed)"
    return change


def _change(run: Enrollment, found: WorkflowExecutionDescription | None) -> RunChange:
    """What reconciling `run` found, before any change."""
    if found is None:
        status = "missing"
    else:
        status = found.status.name.lower() if found.status is not None else "unknown"
    return RunChange(
        workflow_id=run.workflow_id,
        entry_id=run.entry_id,
        journey_id=run.journey_id,
        customer_id=run.customer_id,
        store_status=run.status,
        temporal_status=status,
        action="none",
    )

"""Run operations: an operator ends a run, wakes it, retries its failed step or moves it.

Each is an update of the run's JourneyWorkflow whose validator refuses what the run's state
does not allow (nothing changes then); the run applies it at a safe point and writes the store
itself, as for any step. This module picks the runs (one by id, or a bulk selection from the
store), sends the updates under idempotent ids, audits what was done and counts what was not.

A bulk operation is resumable: its update ids are (operation, key, entry), and the key defaults
to a digest of the command (operation, journey, version, step, target, reason), so running the
same command again skips the runs it already did ("already") and finishes the rest.
"""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from collections import Counter
from collections.abc import Callable
from typing import Literal

from pydantic import BaseModel, Field
from temporalio.client import (
    WorkflowQueryFailedError,
    WorkflowQueryRejectedError,
    WorkflowUpdateFailedError,
)
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from app.audit import acting
from app.journeys import JourneyService
from app.reconcile import reconcile_run
from domain.audit import AuditAction
from domain.contracts import (
    RUN_OPERATION_UPDATES,
    OperationResult,
    RunOperation,
    RunOperationKind,
)
from domain.runs import Enrollment
from workflows.journey import JourneyWorkflow

# How long one operation waits for its run's answer (an end waits for a send in progress).
ANSWER_SECONDS = 60.0
CONCURRENT_OPERATIONS = 8
AUDITED_AS: dict[RunOperationKind, AuditAction] = {
    "end": "run.end",
    "skip_wait": "run.skip_wait",
    "retry": "run.retry",
    "move": "run.move",
    "migrate": "run.migrate",
}


class UnknownRun(LookupError):
    def __init__(self, workflow_id: str) -> None:
        super().__init__(f"no run {workflow_id!r} in the store")


class OperationRefused(Exception):
    """The run's state does not allow the operation; nothing changed."""


class NothingSelected(Exception):
    """A bulk selection that matches no running run."""


class OperationOutcome(BaseModel):
    """What one operation did to one run."""

    workflow_id: str
    entry_id: str
    operation: RunOperationKind
    outcome: Literal["done", "already", "refused"]
    detail: str
    position: str | None = None
    status: str = Field(description="The run's status in the store afterwards.")


class BulkReport(BaseModel):
    operation: RunOperationKind
    journey_id: str
    version: int | None
    step: str | None
    key: str
    selected: int
    done: int = 0
    already: int = 0
    refused: int = 0
    reasons: dict[str, int] = Field(default_factory=dict, description="refusals, by reason")
    outcomes: list[OperationOutcome] = Field(default_factory=list)


def bulk_key(
    kind: RunOperationKind,
    journey_id: str,
    version: int | None,
    step: str | None,
    to: str | None,
    reason: str,
) -> str:
    """The key of a bulk command: the same command again resumes it."""
    raw = "\x1f".join(str(part) for part in (kind, journey_id, version, step, to, reason))
    return hashlib.sha256(raw.encode()).hexdigest()[:16]


def update_id(kind: RunOperationKind, key: str, entry_id: str) -> str:
    return f"run-op/{kind}/{key}/{entry_id}"


class RunOperations:
    def __init__(self, service: JourneyService) -> None:
        self.service = service

    def actor(self) -> str:
        who = acting() or self.service.auditor.default
        return who.name if who is not None else "unknown"

    async def operate(
        self,
        workflow_id: str,
        kind: RunOperationKind,
        reason: str,
        *,
        to: str | None = None,
        key: str | None = None,
    ) -> OperationOutcome:
        """One operation on the running run behind `workflow_id`; OperationRefused, changing
        nothing, when its state does not allow it; UnknownRun when the store has no such run."""
        store = self.service.store
        run = await asyncio.to_thread(store.runs.running, workflow_id)
        if run is None:
            ended = await asyncio.to_thread(store.runs.latest, workflow_id)
            if ended is None:
                raise UnknownRun(workflow_id)
            why = f"the run has ended ({ended.status}: {ended.end_reason or 'no reason'}); "
            if kind == "retry":
                # A failed run (or one whose send failed with on_failure: end) has returned:
                # Temporal runs no handler of a closed workflow, so nothing can be retried in it.
                raise OperationRefused(
                    why + "a failed or ended run is closed in Temporal and cannot be retried; "
                    "enroll the customer again"
                )
            raise OperationRefused(why + "an ended run cannot be changed")
        return await self.apply(run, kind, reason, to, key or uuid.uuid4().hex[:16])

    async def apply(
        self,
        run: Enrollment,
        kind: RunOperationKind,
        reason: str,
        to: str | None,
        key: str,
        op: RunOperation | None = None,
    ) -> OperationOutcome:
        """Send the operation's update to the run (`op`: a prepared one, e.g. a migration)."""
        op = op or RunOperation(actor=self.actor(), reason=reason, to=to)
        client = await self.service.client()
        handle = client.get_workflow_handle(run.workflow_id)
        op_id = update_id(kind, key, run.entry_id)
        try:
            async with asyncio.timeout(ANSWER_SECONDS):
                # Done before (a resumed bulk command): say so rather than have Temporal
                # answer the first result again, which would read as done twice.
                snapshot = await handle.query(JourneyWorkflow.status)
                if op_id in snapshot.operations:
                    return OperationOutcome(
                        workflow_id=run.workflow_id,
                        entry_id=run.entry_id,
                        operation=kind,
                        outcome="already",
                        detail="done before under the same key",
                        position=snapshot.position,
                        status=run.status,
                    )
                result = await handle.execute_update(
                    RUN_OPERATION_UPDATES[kind], op, id=op_id, result_type=OperationResult
                )
        except (WorkflowQueryFailedError, WorkflowQueryRejectedError) as exc:
            raise OperationRefused(f"the run did not answer: {exc}") from exc
        except WorkflowUpdateFailedError as exc:
            cause = exc.cause
            message = cause.message if isinstance(cause, ApplicationError) else str(cause or exc)
            raise OperationRefused(message) from exc
        except TimeoutError as exc:
            raise OperationRefused(
                f"the run did not answer within {ANSWER_SECONDS:g} s (is a worker running?); "
                "it may still apply it: run the same command again with the same key"
            ) from exc
        except RPCError as exc:
            if exc.status not in (RPCStatusCode.NOT_FOUND, RPCStatusCode.FAILED_PRECONDITION):
                raise
            # Not evidence by itself: ask Temporal what it knows of this entry.
            change = await reconcile_run(self.service, run)
            if change.ended:
                raise OperationRefused(
                    f"the run had ended in Temporal ({change.temporal_status}); the store now "
                    "says so; an ended run cannot be changed"
                ) from exc
            if change.temporal_status == "missing":
                raise OperationRefused(
                    "the run is not in Temporal yet (its start is still due); try again once "
                    "it has started"
                ) from exc
            raise OperationRefused(f"Temporal refused the update: {exc.message}") from exc
        outcome = OperationOutcome(
            workflow_id=run.workflow_id,
            entry_id=run.entry_id,
            operation=kind,
            outcome="already" if result.already else "done" if result.applied else "refused",
            detail=result.detail,
            position=result.position,
            status=result.status,
        )
        if outcome.outcome == "done":
            details = {
                "entry_id": run.entry_id,
                "reason": reason,
                "to": to,
                "key": key,
                "detail": result.detail,
            }
            if op.to_version is not None:
                details |= {"from_version": run.version, "to_version": op.to_version}
            await asyncio.to_thread(
                self.service.auditor.record, None, AUDITED_AS[kind], run.workflow_id, details
            )
        return outcome

    def select(self, journey_id: str, version: int | None, step: str | None) -> list[Enrollment]:
        """The running runs a bulk operation takes; NothingSelected when there are none."""
        runs = self.service.store.runs.select_running(journey_id, version, step)
        if not runs:
            where = [f"of journey {journey_id!r}"]
            if version is not None:
                where.append(f"version {version}")
            if step is not None:
                where.append(f"at step {step!r}")
            raise NothingSelected(f"no running run {' '.join(where)}: nothing to do")
        return runs

    async def bulk(
        self,
        kind: RunOperationKind,
        reason: str,
        *,
        journey_id: str,
        version: int | None = None,
        step: str | None = None,
        to: str | None = None,
        key: str | None = None,
        runs: list[Enrollment] | None = None,
        on_start: Callable[[int], None] = lambda _total: None,
        on_done: Callable[[OperationOutcome], None] = lambda _outcome: None,
    ) -> BulkReport:
        """The operation on every running run the selection matches (`runs`, when the caller
        selected them already), a few at a time."""
        if runs is None:
            runs = await asyncio.to_thread(self.select, journey_id, version, step)
        key = key or bulk_key(kind, journey_id, version, step, to, reason)
        report = BulkReport(
            operation=kind,
            journey_id=journey_id,
            version=version,
            step=step,
            key=key,
            selected=len(runs),
        )
        on_start(len(runs))
        gate = asyncio.Semaphore(CONCURRENT_OPERATIONS)

        async def one(run: Enrollment) -> OperationOutcome:
            async with gate:
                try:
                    outcome = await self.apply(run, kind, reason, to, key)
                except OperationRefused as exc:
                    outcome = OperationOutcome(
                        workflow_id=run.workflow_id,
                        entry_id=run.entry_id,
                        operation=kind,
                        outcome="refused",
                        detail=str(exc),
                        position=run.current_step,
                        status=run.status,
                    )
                on_done(outcome)
                return outcome

        report.outcomes = list(await asyncio.gather(*(one(run) for run in runs)))
        counts = Counter(o.outcome for o in report.outcomes)
        report.done, report.already, report.refused = (
            counts["done"],
            counts["already"],
            counts["refused"],
        )
        report.reasons = dict(
            Counter(o.detail for o in report.outcomes if o.outcome == "refused").most_common()
        )
        return report

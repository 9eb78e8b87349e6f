"""Privacy use cases: export everything held about a customer, and erase a customer.

Erasure runs in three steps, each safe to repeat, so a crash anywhere leaves it resumable:

1. **Tombstone** (one transaction): the `erasures` row is written with `erased_at` NULL and
   the customer's undelivered events are dropped. From this moment the customer's events,
   upserts and enrollments are refused, and deliveries and reconciliation start nothing for
   them, so no new run can appear while the erasure goes on.
2. **Temporal**: every running workflow of the customer (their journey runs, their open
   cases) is terminated. A workflow already closed or never started is left as it is. A case
   workflow started before the tombstone but not yet kept in the store is not found here: its
   first record takes the customer's lock and finds the tombstone, and the workflow ends
   itself keeping nothing (workflows/case.py).
3. **Scrub** (one transaction, store/privacy.py): the rule of domain/privacy.py is applied,
   runs still marked running are marked exited ("customer erased"), open cases closed, open
   callback tasks cancelled, and `erased_at` set.

A crash (or Temporal being unreachable) after step 1 leaves a tombstone whose `erased_at` is
NULL: the customer stays refused, an export answers that the erasure is unfinished, and
erasing again runs steps 2 and 3 (terminating what is still running, then scrubbing). Once
`erased_at` is set, erasing again changes nothing and says when it happened.
"""

from __future__ import annotations

import asyncio
from datetime import datetime

from pydantic import BaseModel, Field
from temporalio.client import WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from app.cases import case_workflow_id
from app.journeys import JourneyService, RunView
from domain.callbacks import CallbackTask
from domain.cases import CaseState
from domain.customers import Consent, CustomerProfile
from domain.events import StoredEvent
from domain.messages import OutboxMessage
from domain.privacy import ERASED_REASON, CustomerErased
from domain.projections import CustomerMetrics
from domain.surveys import Survey
from store.send_ledger import SendDecision
from store.suppression import Suppression

# Rounds of "terminate what the store has as running": a run another process started just
# before the tombstone stood is found by the next round.
TERMINATE_ROUNDS = 3


class CustomerExport(BaseModel):
    """Everything held about one customer, as one document."""

    customer_id: str
    exported_at: datetime
    profile: CustomerProfile
    consent: Consent
    metrics: CustomerMetrics | None = Field(
        description="The customer_metrics projection (value tier, stage, RFM, churn risk), "
        "if it has been built."
    )
    events: list[StoredEvent] = Field(description="The customer's whole event log, in order.")
    messages: list[OutboxMessage] = Field(description="Every message, with its content.")
    send_decisions: list[SendDecision] = Field(
        description="Every decision about a message (sent, deferred, skipped...) and why."
    )
    runs: list[RunView] = Field(description="Journey runs with their step records.")
    cases: list[CaseState]
    callbacks: list[CallbackTask]
    surveys: list[Survey]
    suppressions: list[Suppression] = Field(
        description="Suppression-list entries for the customer's email address and phone."
    )


class ErasureReport(BaseModel):
    """What an erasure did, or, repeated, that it had been done and when."""

    customer_id: str
    already_erased: bool = Field(description="True when an earlier request had erased them.")
    detail: str
    started_at: datetime
    erased_at: datetime
    workflows_terminated: int = 0
    runs_ended: int = 0
    cases_closed: int = 0
    callbacks_closed: int = 0
    events_scrubbed: int = 0
    messages_scrubbed: int = 0


class PrivacyService:
    def __init__(self, journeys: JourneyService) -> None:
        self.journeys = journeys
        self.store = journeys.store
        self.privacy = journeys.store.privacy

    def now(self) -> datetime:
        return self.journeys.clock()

    def export(self, customer_id: str) -> CustomerExport:
        """The customer's whole record; UnknownCustomer (never known) or CustomerErased."""
        erasure = self.privacy.get(customer_id)
        if erasure is not None:
            raise CustomerErased(erasure, "an export is")
        record = self.privacy.gather(customer_id)
        return CustomerExport(
            customer_id=customer_id,
            exported_at=self.now(),
            profile=record.profile,
            consent=record.profile.consent,
            metrics=record.metrics,
            events=record.events,
            messages=record.messages,
            send_decisions=record.send_decisions,
            runs=[RunView(run=run, steps=steps) for run, steps in record.runs],
            cases=record.cases,
            callbacks=record.callbacks,
            surveys=record.surveys,
            suppressions=record.suppressions,
        )

    async def erase(self, customer_id: str) -> ErasureReport:
        """Erase the customer (see the module's docstring for the steps and how a crash part-way
        is resumed). UnknownCustomer for an id never known; a repeat reports the first."""
        earlier = await asyncio.to_thread(self.privacy.get, customer_id)
        if earlier is not None and earlier.erased_at is not None:
            return ErasureReport(
                customer_id=customer_id,
                already_erased=True,
                detail=f"{earlier.describe()}; nothing more to do",
                started_at=earlier.started_at,
                erased_at=earlier.erased_at,
            )
        await asyncio.to_thread(self.privacy.begin, customer_id, self.now())
        terminated = await self._end_workflows(customer_id)
        erasure, summary = await asyncio.to_thread(self.privacy.scrub, customer_id, self.now())
        assert erasure.erased_at is not None
        await asyncio.to_thread(
            self.journeys.auditor.record,
            None,
            "customer.erase",
            customer_id,
            {"workflows_terminated": terminated},
        )
        return ErasureReport(
            customer_id=customer_id,
            already_erased=False,
            detail=f"{erasure.describe()}",
            started_at=erasure.started_at,
            erased_at=erasure.erased_at,
            workflows_terminated=terminated,
            **summary.model_dump(),
        )

    async def _end_workflows(self, customer_id: str) -> int:
        """Terminate the customer's running journey runs and open cases in Temporal."""
        done: set[str] = set()
        terminated = 0
        for _ in range(TERMINATE_ROUNDS):

            def running() -> list[str]:
                runs = self.store.runs.running_for_customer(customer_id)
                cases = self.store.cases.list(customer_id=customer_id, limit=10_000)
                return [run.workflow_id for run in runs] + [
                    case_workflow_id(case.case_id) for case in cases if case.status != "closed"
                ]

            todo = [wf_id for wf_id in await asyncio.to_thread(running) if wf_id not in done]
            if not todo:
                break
            for wf_id in todo:
                if await self._terminate(wf_id):
                    terminated += 1
                done.add(wf_id)
        return terminated

    async def _terminate(self, wf_id: str) -> bool:
        """Terminate the workflow if it is running; a closed or missing one is left alone. An
        RPC error other than "not found" propagates: the erasure stays resumable."""
        client = await self.journeys.client()
        handle = client.get_workflow_handle(wf_id)
        try:
            found = await handle.describe()
            if found.status != WorkflowExecutionStatus.RUNNING:
                return False
            await handle.terminate(reason=ERASED_REASON)
        except RPCError as exc:
            if exc.status != RPCStatusCode.NOT_FOUND:
                raise
            return False
        return True

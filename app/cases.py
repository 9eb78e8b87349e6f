"""Opening and changing complaint cases: what the CLI and the HTTP API share.

A case is a CaseWorkflow with id `case/<case_id>`. Opening one for an unknown customer is
refused before anything starts; a retried open (same request id) finds the case it opened.
Changes are Temporal updates: the workflow's validators refuse what the case's state does not
allow (CaseRefused, nothing recorded).

New cases are assigned to an agent of the support roster (JOURNEYS_SUPPORT_ROSTER, agent names
separated by commas; see workflows/case.py); without one they wait in the support queue.
"""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel
from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from app.journeys import JourneyService
from domain.cases import CaseState, OpenCase, StartCase
from domain.privacy import CustomerErased
from store.errors import UnknownCustomer
from workers.settings import Settings
from workflows.case import CaseWorkflow


class UnknownCase(LookupError):
    def __init__(self, case_id: str) -> None:
        super().__init__(f"unknown case {case_id!r}")


class CaseRefused(ValueError):
    """The case's state does not allow this change."""


def case_workflow_id(case_id: str) -> str:
    return f"case/{case_id}"


def case_id_for(request_id: str | None) -> str:
    if request_id is None:
        return f"cs-{uuid.uuid4().hex[:12]}"
    return f"cs-{hashlib.sha256(request_id.encode()).hexdigest()[:12]}"


class CaseService:
    def __init__(self, journeys: JourneyService, roster: Sequence[str] | None = None) -> None:
        self.journeys = journeys
        self.store = journeys.store
        self.roster = list(Settings().roster if roster is None else roster)

    async def open(self, request: OpenCase, request_id: str | None = None) -> CaseState:
        if not self.store.customers.exists(request.customer_id):
            raise UnknownCustomer(request.customer_id)
        erasure = self.store.privacy.get(request.customer_id)
        if erasure is not None:
            raise CustomerErased(erasure, "a case is")
        case_id = case_id_for(request_id)
        client = await self.journeys.client()
        try:
            handle: WorkflowHandle[Any, Any] = await client.start_workflow(
                CaseWorkflow.run,
                StartCase(case_id=case_id, request=request, roster=self.roster),
                id=case_workflow_id(case_id),
                task_queue=self.journeys.task_queue,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            )
        except WorkflowAlreadyStartedError:
            handle = client.get_workflow_handle(case_workflow_id(case_id))
        state = await self.state(case_id, handle)
        await asyncio.to_thread(
            self.journeys.auditor.record,
            None,
            "case.open",
            case_id,
            {"customer_id": request.customer_id, "severity": request.severity},
        )
        return state

    async def state(
        self, case_id: str, handle: WorkflowHandle[Any, Any] | None = None
    ) -> CaseState:
        """The live state from the workflow; the stored one when the workflow is gone."""
        client = await self.journeys.client()
        handle = handle or client.get_workflow_handle(case_workflow_id(case_id))
        try:
            state: CaseState = await handle.query(CaseWorkflow.state_of)
            return state
        except RPCError as exc:
            if exc.status != RPCStatusCode.NOT_FOUND:
                raise
        stored = self.store.cases.get(case_id)
        if stored is None:
            raise UnknownCase(case_id)
        return stored

    async def change(self, case_id: str, update: str, payload: BaseModel) -> CaseState:
        client = await self.journeys.client()
        handle = client.get_workflow_handle(case_workflow_id(case_id))
        try:
            state: CaseState = await handle.execute_update(update, payload, result_type=CaseState)
            await asyncio.to_thread(
                self.journeys.auditor.record,
                None,
                f"case.{update}",  # type: ignore[arg-type]
                case_id,
                payload.model_dump(mode="json"),
            )
            return state
        except WorkflowUpdateFailedError as exc:
            cause = exc.cause
            raise CaseRefused(getattr(cause, "message", None) or str(cause)) from exc
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                if self.store.cases.get(case_id) is not None:
                    raise CaseRefused(f"case {case_id} is closed; open a new case instead") from exc
                raise UnknownCase(case_id) from exc
            raise

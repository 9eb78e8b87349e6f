"""HTTP: open complaint cases, list them, read one, and change them (assign, note, respond,
resolve, reopen). A change the case's state does not allow is 409 and changes nothing."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, HTTPException, Query, Request
from pydantic import BaseModel

from app.cases import CaseRefused, CaseService, UnknownCase
from domain.cases import Assign, CaseState, Note, OpenCase, Reopen, Resolve, Respond
from entrypoints.api_common import NOT_FOUND, TEMPORAL, ErrorDetail, protected_router, requires

router = protected_router()
REFUSED: dict[int | str, dict[str, object]] = {
    409: {"model": ErrorDetail, "description": "The case's state does not allow this."},
    **NOT_FOUND,
    **TEMPORAL,
}


def get_cases(request: Request) -> CaseService:
    cases: CaseService = request.app.state.cases
    return cases


Cases = Annotated[CaseService, Depends(get_cases)]


async def _change(cases: CaseService, case_id: str, update: str, payload: BaseModel) -> CaseState:
    try:
        return await cases.change(case_id, update, payload)
    except CaseRefused as exc:
        raise HTTPException(409, str(exc)) from exc
    except UnknownCase as exc:
        raise HTTPException(404, str(exc)) from exc


@router.post(
    "/cases",
    dependencies=[requires("cases:write")],
    tags=["cases"],
    response_model=CaseState,
    status_code=201,
    responses=REFUSED,
)
async def open_case(
    request: OpenCase,
    cases: Cases,
    idempotency_key: Annotated[str | None, Header(max_length=64)] = None,
) -> CaseState:
    """Open a case: acknowledgement, SLA timers by severity, escalation when breached."""
    return await cases.open(request, idempotency_key)


@router.get(
    "/cases", dependencies=[requires("cases:read")], tags=["cases"], response_model=list[CaseState]
)
def list_cases(
    cases: Cases,
    status: str | None = None,
    queue: str | None = None,
    customer_id: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[CaseState]:
    return cases.store.cases.list(status, queue, customer_id, limit)


@router.get(
    "/cases/{case_id}",
    dependencies=[requires("cases:read")],
    tags=["cases"],
    response_model=CaseState,
    responses=REFUSED,
)
async def get_case(case_id: str, cases: Cases) -> CaseState:
    """The case's state and history (live from its workflow)."""
    try:
        return await cases.state(case_id)
    except UnknownCase as exc:
        raise HTTPException(404, str(exc)) from exc


@router.post(
    "/cases/{case_id}/assign",
    dependencies=[requires("cases:write")],
    tags=["cases"],
    response_model=CaseState,
    responses=REFUSED,
)
async def assign(case_id: str, change: Assign, cases: Cases) -> CaseState:
    return await _change(cases, case_id, "assign", change)


@router.post(
    "/cases/{case_id}/notes",
    dependencies=[requires("cases:write")],
    tags=["cases"],
    response_model=CaseState,
    responses=REFUSED,
)
async def add_note(case_id: str, note: Note, cases: Cases) -> CaseState:
    return await _change(cases, case_id, "add_note", note)


@router.post(
    "/cases/{case_id}/respond",
    dependencies=[requires("cases:write")],
    tags=["cases"],
    response_model=CaseState,
    responses=REFUSED,
)
async def respond(case_id: str, reply: Respond, cases: Cases) -> CaseState:
    return await _change(cases, case_id, "respond", reply)


@router.post(
    "/cases/{case_id}/resolve",
    dependencies=[requires("cases:write")],
    tags=["cases"],
    response_model=CaseState,
    responses=REFUSED,
)
async def resolve(case_id: str, change: Resolve, cases: Cases) -> CaseState:
    return await _change(cases, case_id, "resolve", change)


@router.post(
    "/cases/{case_id}/reopen",
    dependencies=[requires("cases:write")],
    tags=["cases"],
    response_model=CaseState,
    responses=REFUSED,
)
async def reopen(case_id: str, change: Reopen, cases: Cases) -> CaseState:
    return await _change(cases, case_id, "reopen", change)

"""HTTP: a customer's data, exported as one document, and erasure (GET /customers/{id}/export,
DELETE /customers/{id}). The rule of what erasure scrubs and keeps is domain/privacy.py's."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request

from app.privacy import CustomerExport, ErasureReport, PrivacyService
from domain.privacy import CustomerErased
from entrypoints.api_common import NOT_FOUND, TEMPORAL, ErrorDetail, protected_router, requires

router = protected_router()

GONE: dict[int | str, dict[str, object]] = {
    410: {
        "model": ErrorDetail,
        "description": "The customer was erased (or is being erased); `detail` says when.",
    }
}


def get_privacy(request: Request) -> PrivacyService:
    privacy: PrivacyService = request.app.state.privacy
    return privacy


Privacy = Annotated[PrivacyService, Depends(get_privacy)]


@router.get(
    "/customers/{customer_id}/export",
    dependencies=[requires("customers:export")],
    tags=["privacy"],
    response_model=CustomerExport,
    responses={**NOT_FOUND, **GONE},
    summary="Everything held about a customer, as one JSON document",
)
def export_customer(customer_id: str, privacy: Privacy) -> CustomerExport:
    """Profile and consent, the whole event log, messages with their content and every send
    decision, runs with their step records, cases, callbacks, surveys, suppressions of the
    customer's addresses and their projections. 410 once the customer is erased."""
    try:
        return privacy.export(customer_id)
    except CustomerErased as exc:
        raise HTTPException(410, str(exc)) from exc


@router.delete(
    "/customers/{customer_id}",
    dependencies=[requires("customers:erase")],
    tags=["privacy"],
    response_model=ErasureReport,
    responses={**NOT_FOUND, **TEMPORAL},
    summary="Erase a customer: end their runs, scrub their data, leave a tombstone",
)
async def erase_customer(customer_id: str, privacy: Privacy) -> ErasureReport:
    """Running journey runs and open cases are terminated in Temporal, open callback tasks
    cancelled; contact points, attributes, event properties, message contents and addresses
    are scrubbed; anonymised facts (event types and times, message statuses, runs and step
    records) are kept, so counts and funnels stay right. From then on the customer's events
    (422), upserts and enrollments (409) are refused, naming the erasure.

    Repeating it is harmless: an erased customer answers `already_erased: true`; an erasure
    interrupted part-way (Temporal unreachable: 503) is finished by sending it again."""
    return await privacy.erase(customer_id)

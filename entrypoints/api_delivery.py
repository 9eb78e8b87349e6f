"""HTTP endpoints for delivery and readiness: parked events, retrying them, reconciliation."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import text

from app.reconcile import RunChange, reconcile
from entrypoints.api_common import Service, protected_router, requires
from store.deliveries import DeliveryRecord

READY_TIMEOUT = 3.0

public = APIRouter()
router = protected_router()


class Readiness(BaseModel):
    status: Literal["ready", "unavailable"]
    temporal: str
    store: str


@public.get(
    "/health/ready",
    tags=["health"],
    response_model=Readiness,
    responses={503: {"model": Readiness, "description": "Temporal or the store is unreachable."}},
    summary="Readiness: 200 when Temporal and the store both answer, else 503 naming which",
)
async def ready(service: Service) -> JSONResponse:
    async def temporal() -> str:
        client = await service.client()
        await client.service_client.check_health()
        return "ok"

    def store() -> str:
        with service.store.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return "ok"

    async def probe(check: Awaitable[str]) -> str:
        try:
            async with asyncio.timeout(READY_TIMEOUT):
                return await check
        except Exception as exc:
            return f"unreachable: {type(exc).__name__}: {exc}"[:300]

    temporal_state, store_state = await asyncio.gather(
        probe(temporal()), probe(asyncio.to_thread(store))
    )
    up = temporal_state == "ok" and store_state == "ok"
    body = Readiness(
        status="ready" if up else "unavailable", temporal=temporal_state, store=store_state
    )
    return JSONResponse(body.model_dump(), status_code=200 if up else 503)


@router.get(
    "/events/failed",
    dependencies=[requires("runs:read")],
    tags=["events"],
    response_model=list[DeliveryRecord],
    summary="Events whose delivery was parked: failed for a reason that will not heal",
)
def failed_events(
    service: Service,
    customer_id: Annotated[str | None, Query(max_length=128)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[DeliveryRecord]:
    return service.store.deliveries.parked(limit, customer_id)


@router.post(
    "/events/{event_id}/retry",
    dependencies=[requires("runs:write")],
    tags=["events"],
    response_model=DeliveryRecord,
    responses={404: {"description": "No parked delivery for this event."}},
    summary="Deliver a parked event again, now",
)
async def retry_event(event_id: str, service: Service) -> DeliveryRecord:
    record = await asyncio.to_thread(service.store.deliveries.retry, event_id, service.clock())
    if record is None:
        raise HTTPException(404, f"no parked delivery for event {event_id!r}")
    await asyncio.to_thread(service.auditor.record, None, "event.retry", event_id)
    await service.deliverer.deliver_customer(record.customer_id)
    found = await asyncio.to_thread(service.store.deliveries.for_events, [event_id])
    return found[event_id]


@router.post(
    "/runs/reconcile",
    dependencies=[requires("runs:write")],
    tags=["runs"],
    response_model=list[RunChange],
    summary="Check running runs against Temporal and repair the store where it differs",
)
async def reconcile_runs(
    service: Service,
    journey_id: Annotated[str | None, Query(max_length=128)] = None,
    dry_run: bool = False,
) -> list[RunChange]:
    changes = await reconcile(service, journey_id, repair=not dry_run)
    if not dry_run:
        details = {"journey_id": journey_id, "repaired": len(changes)}
        await asyncio.to_thread(service.auditor.record, None, "run.reconcile", "runs", details)
    return changes

"""POST /journeys/impact: what publishing a journey definition would do, as `journeys impact`
reports it (app/impact.py). Nothing is published and nothing is written to the store."""

from __future__ import annotations

import asyncio
from datetime import date
from typing import Annotated, Any

from fastapi import Body, HTTPException, Query
from fastapi.exceptions import RequestValidationError

from app.impact import ImpactOptions, preview, simulate_in_processes
from domain.checks import check
from domain.impact import ImpactReport
from domain.journey import JourneyDefinition
from domain.segments import SegmentError, load_segments_file
from domain.send_policy import PolicyError, load_policy_file
from entrypoints.api_common import Service, invalid, protected_router, requires
from workers.settings import get_settings

router = protected_router()

# Bounded below the command line's limits: the simulation runs inside the API process, one
# at a time (a second request while one runs is 409), and only for roles that may publish.
MAX_API_SAMPLE = 500
MAX_API_DAYS = 120
_one_at_a_time = asyncio.Lock()


@router.post(
    "/journeys/impact",
    dependencies=[requires("journeys:write")],
    tags=["journeys"],
    response_model=ImpactReport,
    summary="What publishing this definition would do (nothing is published)",
)
async def journey_impact(
    service: Service,
    journey: Annotated[JourneyDefinition, Body(description="A journey, as `journeys schema`.")],
    sample: Annotated[
        int,
        Query(
            ge=0,
            le=MAX_API_SAMPLE,
            description="Customers to simulate, a seeded sample of real members; 0: no funnel.",
        ),
    ] = 200,
    days: Annotated[int, Query(ge=1, le=MAX_API_DAYS, description="Simulated days.")] = 30,
    seed: int = 7,
    as_of: Annotated[
        date | None, Query(description="The audience's date; default: today where it runs.")
    ] = None,
) -> ImpactReport:
    """Runs in flight per version and step, and which of those steps the definition removes
    or changes (they stay on their version); whom its audience would enroll now; its
    simulated funnel next to the newest version's over the same sample. A definition that
    does not pass `journeys validate` is 422 with each problem's step and field."""
    settings = get_settings()
    errors: list[dict[str, Any]] = [
        {
            "type": "value_error",
            "loc": ("body", *(["steps", problem.step] if problem.step else []), problem.field),
            "msg": str(problem),
            "input": None,
        }
        for problem in check(journey)
    ]
    try:
        segments = load_segments_file(settings.segments_file)
    except SegmentError as exc:
        raise invalid(("body", "audience", "segment"), f"the segments file: {exc}", None) from exc
    if journey.audience is not None and journey.audience.segment not in segments:
        known = ", ".join(sorted(segments)) or "none"
        errors.append(
            {
                "type": "value_error",
                "loc": ("body", "audience", "segment"),
                "msg": f"unknown segment {journey.audience.segment!r} (known: {known})",
                "input": journey.audience.segment,
            }
        )
    if errors:
        raise RequestValidationError(errors)
    try:
        policy = load_policy_file(settings.policy_file) if sample else None
    except PolicyError as exc:
        raise invalid(("query", "sample"), f"the send policy: {exc}", sample) from exc
    options = ImpactOptions(sample=sample, days=days, seed=seed, as_of=as_of)
    if _one_at_a_time.locked():
        raise HTTPException(
            409, "another impact preview is running in this API process; try again when it ends"
        )
    async with _one_at_a_time:
        # Blocking (the store, and the simulator on its own event loop): off this loop.
        return await asyncio.to_thread(
            preview,
            service,
            journey,
            f"{journey.id} (draft)",
            segments,
            options,
            simulate=simulate_in_processes(1),
            policy=policy,
            workspace_timezone=settings.timezone,
        )

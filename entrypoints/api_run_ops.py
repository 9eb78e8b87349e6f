"""HTTP run operations: `POST /runs/{workflow_id}/end|skip-wait|retry|move`, and the
migration of a journey's runs in flight, `POST /journeys/{journey_id}/migrate`.

The same use cases as `journeys runs end|skip-wait|retry|move` on one run: 200 with what the
run did, 409 with the reason when its state does not allow it (nothing changed), 404 for a run
the store does not know.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import HTTPException
from pydantic import BaseModel, Field, StringConstraints

from app.journeys import UnknownJourney
from app.run_migration import MigrationReport, RunMigration
from app.run_operations import OperationOutcome, OperationRefused, RunOperations, UnknownRun
from domain.contracts import RunOperationKind
from domain.run_migration import MigrationProblem
from entrypoints.api_common import (
    NOT_FOUND,
    TEMPORAL,
    ErrorDetail,
    Service,
    invalid,
    protected_router,
    requires,
)

router = protected_router()

REFUSED: dict[int | str, dict[str, object]] = {
    409: {
        "model": ErrorDetail,
        "description": "The run's state does not allow it; nothing changed.",
    }
}


class OperationRequest(BaseModel):
    reason: str = Field(
        min_length=1, max_length=500, description="Why: in the trace and audit log."
    )
    key: str | None = Field(
        default=None,
        max_length=64,
        pattern=r"^[A-Za-z0-9._-]+$",
        description="Idempotency key: the same key again is answered `already`, not done twice.",
    )


class MoveRequest(OperationRequest):
    to: str = Field(min_length=1, max_length=128, description="A step of the run's own version.")


async def _operate(
    service: Service, workflow_id: str, kind: RunOperationKind, body: OperationRequest
) -> OperationOutcome:
    to = body.to if isinstance(body, MoveRequest) else None
    try:
        return await RunOperations(service).operate(
            workflow_id, kind, body.reason, to=to, key=body.key
        )
    except UnknownRun as exc:
        raise HTTPException(404, str(exc)) from exc
    except OperationRefused as exc:
        raise HTTPException(409, str(exc)) from exc


_COMMON = {
    "dependencies": [requires("runs:write")],
    "tags": ["runs"],
    "response_model": OperationOutcome,
    "responses": {**NOT_FOUND, **REFUSED, **TEMPORAL},
}


@router.post(
    "/runs/{workflow_id:path}/end",
    summary="Stop a run: ended by an operator (status `stopped`)",
    **_COMMON,  # type: ignore[arg-type]
)
async def end_run(workflow_id: str, body: OperationRequest, service: Service) -> OperationOutcome:
    return await _operate(service, workflow_id, "end", body)


@router.post(
    "/runs/{workflow_id:path}/skip-wait",
    summary="Wake a waiting run now, as if its wait had run out",
    **_COMMON,  # type: ignore[arg-type]
)
async def skip_wait(workflow_id: str, body: OperationRequest, service: Service) -> OperationOutcome:
    return await _operate(service, workflow_id, "skip_wait", body)


@router.post(
    "/runs/{workflow_id:path}/retry",
    summary="Take the run's failed step (a send or an update) again, then go on from it",
    **_COMMON,  # type: ignore[arg-type]
)
async def retry_step(
    workflow_id: str, body: OperationRequest, service: Service
) -> OperationOutcome:
    return await _operate(service, workflow_id, "retry", body)


@router.post(
    "/runs/{workflow_id:path}/move",
    summary="Move a waiting run to another step of its journey version",
    **_COMMON,  # type: ignore[arg-type]
)
async def move_run(workflow_id: str, body: MoveRequest, service: Service) -> OperationOutcome:
    return await _operate(service, workflow_id, "move", body)


StepId = Annotated[str, StringConstraints(min_length=1, max_length=128)]


class MigrateRequest(OperationRequest):
    to: int = Field(ge=1, le=1_000_000, description="The newer version to move runs to.")
    map: dict[StepId, StepId] = Field(
        default_factory=dict,
        max_length=200,
        description="Old step -> step of the newer version (steps with the same id and kind "
        "map by themselves).",
    )
    step: str | None = Field(
        default=None, min_length=1, max_length=128, description="Only runs at this step."
    )
    dry_run: bool = Field(default=False, description="Report what would move; change nothing.")


@router.post(
    "/journeys/{journey_id}/migrate",
    summary="Move a journey's runs in flight to a newer version, while they wait",
    dependencies=[requires("runs:write")],
    tags=["runs"],
    response_model=MigrationReport,
    responses={**NOT_FOUND, **TEMPORAL},
)
async def migrate_runs(journey_id: str, body: MigrateRequest, service: Service) -> MigrationReport:
    try:
        return await RunMigration(service).migrate(
            journey_id,
            body.to,
            body.reason,
            explicit=body.map,
            step=body.step,
            dry_run=body.dry_run,
            key=body.key,
        )
    except UnknownJourney as exc:
        raise HTTPException(404, str(exc)) from exc
    except MigrationProblem as exc:
        field = {"where": "step", "map": "map", "to": "to"}.get(exc.field, exc.field)
        raise invalid(("body", field), exc.message, None) from exc

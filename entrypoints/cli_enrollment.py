"""`journeys audiences`: schedule and run segment enrollment into journeys."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from temporalio.exceptions import WorkflowAlreadyStartedError

from app import schedules as audience_schedules
from app.audience_runs import AudienceRuns
from app.journeys import JourneyService
from domain.audiences import AudienceProgress, EnrollAudience
from entrypoints.cli_common import console, fail, service
from store.errors import StoreError

audiences_app = typer.Typer(
    help="Enroll segments into journeys: on their schedules, or now.", no_args_is_help=True
)


@audiences_app.command("sync")
def sync() -> None:
    """Create, update, pause or delete the daily schedules to match the published journeys."""
    for change in asyncio.run(audience_schedules.sync_published(service())) or [
        "schedules already match"
    ]:
        console.print(change)


@audiences_app.command("run")
def run(
    journey_id: str,
    segment: Annotated[str | None, typer.Option(help="Defaults to the journey's audience.")] = None,
    as_of: Annotated[
        datetime | None, typer.Option(formats=["%Y-%m-%d"], help="Projection date (YYYY-MM-DD).")
    ] = None,
    batch: Annotated[int | None, typer.Option(help="Members per batch.")] = None,
    rate: Annotated[float | None, typer.Option(help="Enrollments per second at most.")] = None,
    run_key: Annotated[
        str | None, typer.Option(help="Run again with the same key to resume; one effect.")
    ] = None,
) -> None:
    """Enroll a segment now, with a progress bar; Ctrl-C leaves the run going in Temporal."""
    svc = service()
    try:
        journey = svc.journey(journey_id)
    except StoreError as exc:
        raise fail(str(exc)) from exc
    audience = journey.audience
    name = segment or (audience.segment if audience else None)
    if name is None:
        raise fail(f"{journey_id} has no audience: pass --segment")
    request = EnrollAudience(
        journey_id=journey_id,
        segment=name,
        run_key=run_key or f"manual-{uuid.uuid4().hex[:12]}",
        as_of=as_of.date() if as_of else None,
        batch_size=batch or (audience.batch_size if audience else 200),
        per_second=rate or (audience.per_second if audience else 50),
    )
    try:
        result = asyncio.run(_run_with_progress(svc, request))
    except WorkflowAlreadyStartedError as exc:
        raise fail(
            f"audience run {request.run_key!r} of {journey_id} is already running "
            f"(workflow {exc.workflow_id}); wait for it, or watch it in the Temporal UI"
        ) from exc
    console.print(
        f"{result.enrolled} enrolled, {result.skipped} skipped (already in or not allowed), "
        f"{result.processed} of {result.total} members of {name} as of {result.as_of}"
        + (f"; stopped: {result.stopped}" if result.stopped else "")
    )


async def _run_with_progress(svc: JourneyService, request: EnrollAudience) -> AudienceProgress:
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
    with Progress(*columns, TimeElapsedColumn(), console=console) as bar:
        task = bar.add_task(f"enrolling {request.segment}", total=None)

        def show(progress: AudienceProgress) -> None:
            bar.update(task, total=progress.total, completed=progress.processed)

        return await AudienceRuns(svc).run(request, show)

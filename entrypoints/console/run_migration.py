"""Console pages: move a journey's runs in flight to a newer version (`journeys migrate`).

The page shows the plan first (the dry run: for each older version and step, how many runs,
where they go or why they stay), with the mapping the ops user may add; migrating takes a
reason and runs the same RunMigration as the CLI and the API, then shows what moved, what
stayed and what the runs refused, and why. Sending the same form again resumes it.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Query, Request
from fastapi.responses import HTMLResponse, Response

from app.journeys import JourneyService
from app.run_migration import MigrationReport, RunMigration
from domain.run_migration import MigrationProblem, parse_maps
from entrypoints.console.web import (
    ConsoleError,
    ConsoleUser,
    Form,
    User,
    console_router,
    field,
    render,
    require,
)
from store.errors import UnknownJourney

router = console_router()
MAX_MAP_TEXT = 10_000


def _pairs(text: str) -> list[str]:
    return [part.strip() for part in text.replace(",", "\n").splitlines() if part.strip()]


async def _page(
    request: Request,
    user: ConsoleUser,
    journey_id: str,
    to: int | None,
    map_text: str,
    *,
    reason: str | None = None,
) -> HTMLResponse:
    service: JourneyService = request.app.state.service
    summary = service.store.journeys.get(journey_id)
    if summary is None:
        raise UnknownJourney(journey_id)
    to = to if to is not None else summary.latest_version
    report: MigrationReport | None = None
    problem: str | None = None
    try:
        explicit = parse_maps(_pairs(map_text))
        report = await RunMigration(service).migrate(
            journey_id,
            to,
            reason or "console preview",
            explicit=explicit,
            dry_run=reason is None,
        )
    except MigrationProblem as exc:
        problem = exc.message
    return render(
        request,
        user,
        "journeys/migrate.html",
        # A plan that cannot be made is an answer to a look; a migration refused is a 422.
        status_code=422 if problem is not None and reason is not None else 200,
        active="journeys",
        summary=summary,
        to=to,
        map_text=map_text,
        report=report,
        problem=problem,
        done=reason is not None and report is not None,
    )


@router.get("/journeys/{journey_id}/migrate")
async def preview(
    request: Request,
    user: User,
    journey_id: str,
    to: Annotated[int | None, Query(ge=1, le=1_000_000)] = None,
    map: Annotated[str, Query(max_length=MAX_MAP_TEXT)] = "",
) -> HTMLResponse:
    """The plan: what a migration to version `to` (the newest by default) would do."""
    require(user, "runs:write")
    return await _page(request, user, journey_id, to, map)


@router.post("/journeys/{journey_id}/migrate")
async def migrate(request: Request, user: User, form: Form, journey_id: str) -> Response:
    """Migrate, with the reason; the page then shows what was done."""
    require(user, "runs:write")
    _ = user.gettext
    raw_to = field(form, "to", user)
    if not raw_to.isdigit() or not 1 <= int(raw_to) <= 1_000_000:
        raise ConsoleError(400, _("Fill in the field “{field}”.").format(field="to"))
    map_text = field(form, "map", user, required=False)[:MAX_MAP_TEXT]
    reason = field(form, "reason", user)[:500]
    return await _page(request, user, journey_id, int(raw_to), map_text, reason=reason)

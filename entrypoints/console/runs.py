"""Console pages: one journey run, step by step: what happened at each step and when, where it
is now and what it waits for (until when, in the customer's timezone), its journey version,
and a link to the run in the Temporal Web UI.

The stored step records (store/customer_search.py) are the trace; the run's own answer to its
status query (as `journeys runs show` asks it) adds where it is and what it waits for, when
Temporal answers within a moment.
"""

from __future__ import annotations

from urllib.parse import quote

from fastapi import Request
from fastapi.responses import HTMLResponse

from app.customer_pages import run_page
from app.journeys import JourneyService
from entrypoints.console.customers import customer_url, describe_wait, labels, moments_in
from entrypoints.console.web import PREFIX, User, console_router, render, require

router = console_router()

# The dev stack's Web UI (`journeys dev` starts it there) when the app was not told another.
DEFAULT_TEMPORAL_UI = "http://127.0.0.1:8233"


def temporal_url(request: Request, workflow_id: str) -> str:
    """The run in the Temporal Web UI: <ui>/namespaces/<namespace>/workflows/<workflow id>."""
    state = request.app.state
    base = str(getattr(state, "temporal_ui_url", DEFAULT_TEMPORAL_UI)).rstrip("/")
    namespace = str(getattr(state, "temporal_namespace", "default"))
    return f"{base}/namespaces/{quote(namespace, safe='')}/workflows/{quote(workflow_id, safe='')}"


@router.get("/runs/{workflow_id:path}")
async def run(request: Request, user: User, workflow_id: str) -> HTMLResponse:
    require(user, "runs:read")
    service: JourneyService = request.app.state.service
    page = await run_page(service, workflow_id)
    timezone = page.record.timezone
    snapshot = page.snapshot
    waits = describe_wait(user, snapshot.waiting if snapshot else None, timezone)
    journey_url = (
        f"{PREFIX}/journeys/{quote(page.record.run.journey_id, safe='')}"
        f"?version={page.record.run.version}"
    )
    return render(
        request,
        user,
        "runs/run.html",
        active="customers",
        page=page,
        run=page.record.run,
        snapshot=snapshot,
        waits=waits,
        timezone=timezone,
        journey_url=journey_url,
        customer_url=customer_url(page.record.run.customer_id),
        temporal_url=temporal_url(request, workflow_id),
        words=labels(user),
        moments=lambda text: moments_in(user, text, timezone),
    )

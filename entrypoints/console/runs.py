"""Console pages: one journey run, step by step: what happened at each step and when, where it
is now and what it waits for (until when, in the customer's timezone), its journey version,
and a link to the run in the Temporal Web UI.

The stored step records (store/customer_search.py) are the trace; the run's own answer to its
status query (as `journeys runs show` asks it) adds where it is and what it waits for, when
Temporal answers within a moment.
"""

from __future__ import annotations

import re
import uuid
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import HTMLResponse, Response

from app.customer_pages import run_page
from app.journeys import JourneyService
from app.run_operations import OperationRefused, RunOperations, UnknownRun
from domain.contracts import RunOperationKind
from entrypoints.console.customers import (
    customer_url,
    describe_wait,
    labels,
    moments_in,
    run_url,
)
from entrypoints.console.web import (
    PREFIX,
    ConsoleError,
    ConsoleUser,
    Form,
    User,
    console_router,
    field,
    redirect,
    render,
    require,
)
from store.errors import UnknownEnrollment

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
async def run(request: Request, user: User, workflow_id: str) -> Response:
    require(user, "runs:read")
    kind, _sep, rest = workflow_id.partition("/")
    if kind == "case" and rest and "/" not in rest:
        # A complaint case's workflow (case/<case id>): its page is the case page.
        return redirect(f"{PREFIX}/cases/{quote(rest, safe='')}")
    return await _run_response(request, user, workflow_id)


async def _run_response(
    request: Request,
    user: ConsoleUser,
    workflow_id: str,
    *,
    problem: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
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
        status_code=status_code,
        active="customers",
        page=page,
        run=page.record.run,
        snapshot=snapshot,
        waits=waits,
        timezone=timezone,
        journey_url=journey_url,
        customer_url=customer_url(page.record.run.customer_id),
        temporal_url=temporal_url(request, workflow_id),
        self_url=run_url(workflow_id),
        problem=problem,
        words=labels(user),
        moments=lambda text: moments_in(user, text, timezone),
    )


# The operations an operator may do to one run (app/run_operations.py, as POST /runs/.../<op>).
OPERATIONS: dict[str, RunOperationKind] = {
    "skip-wait": "skip_wait",
    "retry": "retry",
    "move": "move",
    "end": "end",
}


@router.post("/runs/{workflow_id:path}/{operation}")
async def operate(
    request: Request, user: User, form: Form, workflow_id: str, operation: str
) -> Response:
    """Skip a wait, retry a failed step, move to another step, or end the run (after a
    confirmation page), through the same RunOperations call as the API."""
    require(user, "runs:write")
    _ = user.gettext
    kind = OPERATIONS.get(operation)
    if kind is None:
        raise ConsoleError(404, _("There is no such page in the console."))
    reason = field(form, "reason", user)[:500]
    to = field(form, "to", user) if kind == "move" else None
    if kind == "end" and form.get("confirmed") != "yes":
        service: JourneyService = request.app.state.service
        page = await run_page(service, workflow_id)
        return render(
            request,
            user,
            "runs/confirm_end.html",
            active="customers",
            run=page.record.run,
            self_url=run_url(workflow_id),
            reason=reason,
        )
    key = field(form, "key", user, required=False)
    key = key if re.fullmatch(r"[A-Za-z0-9._-]{1,64}", key) else uuid.uuid4().hex[:16]
    try:
        outcome = await RunOperations(request.app.state.service).operate(
            workflow_id, kind, reason, to=to, key=key
        )
    except UnknownRun as exc:
        raise UnknownEnrollment(workflow_id) from exc
    except OperationRefused as exc:
        return await _run_response(
            request,
            user,
            workflow_id,
            problem=_("Refused: {error}").format(error=exc),
            status_code=409,
        )
    if outcome.outcome == "refused":
        return await _run_response(
            request,
            user,
            workflow_id,
            problem=_("Refused: {error}").format(error=outcome.detail),
            status_code=409,
        )
    notice = (
        _("Done: {detail}") if outcome.outcome == "done" else _("Already done: {detail}")
    ).format(detail=outcome.detail)
    return redirect(run_url(workflow_id), notice=notice)

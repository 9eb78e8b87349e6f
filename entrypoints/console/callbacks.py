"""Console pages: the callback queue (回访) by due time, a task with its completion form.

Claiming and completing go through SupportService, as the API's endpoints do: a claim is one
conditional update (two agents cannot both hold a task), a completion records the outcome and
its callback_completed event in one transaction and then delivers the event, so the journey
run waiting on the task moves on. "Call back later" takes a wall-clock time on the
customer's clock (their profile's timezone), turned into UTC by domain.callbacks.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import get_args
from urllib.parse import quote
from zoneinfo import ZoneInfo

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import ValidationError
from starlette.datastructures import FormData

from app.support import SupportService
from domain.callbacks import (
    ACTIVE,
    OUTCOMES,
    CallbackTask,
    Completion,
    TaskStatus,
    local_call_back_at,
)
from entrypoints.console.cases import choice, cursor_at, page_links, reads_of, text_filter
from entrypoints.console.web import (
    PREFIX,
    ConsoleError,
    ConsoleUser,
    Form,
    User,
    console_router,
    encode_cursor,
    field,
    redirect,
    render,
    require,
)
from store.callbacks import CallbackRefused, UnknownCallback

router = console_router()
PAGE_SIZE = 50
STATES: tuple[str, ...] = ("active", *get_args(TaskStatus))


def support_of(request: Request) -> SupportService:
    support: SupportService = request.app.state.support
    return support


@router.get("/callbacks")
def callback_queue(request: Request, user: User) -> HTMLResponse:
    require(user, "callbacks:read")
    reads = reads_of(request)
    filters = {
        "state": choice(request, "state", STATES, user) or "active",
        "queue": text_filter(request, "queue"),
        "agent": text_filter(request, "agent"),
    }
    after = cursor_at(request.query_params.get("cursor"), user, str)
    statuses = ACTIVE if filters["state"] == "active" else (filters["state"],)
    page = reads.callback_page(
        queue=filters["queue"] or None,
        agent=filters["agent"] or None,
        statuses=statuses,
        after=after,
        limit=PAGE_SIZE,
    )
    cursor = None
    if page.more and page.rows:
        last = page.rows[-1].task
        cursor = encode_cursor({"at": last.due_at.isoformat(), "id": last.task_id})
    next_url, first_url = page_links(f"{PREFIX}/callbacks", filters, cursor)
    now = reads.now()
    return render(
        request,
        user,
        "callbacks/queue.html",
        active="callbacks",
        rows=[{"task": row.task, "overdue": row.task.overdue(now)} for row in page.rows],
        filters=filters,
        queues=reads.callback_queues(),
        states=STATES,
        next_url=next_url,
        first_url=first_url if after else "",
    )


def _task_page(
    request: Request,
    user: ConsoleUser,
    task_id: str,
    *,
    problem: str = "",
    status_code: int = 200,
) -> HTMLResponse:
    reads = reads_of(request)
    found = reads.callback(task_id)
    if found is None:
        raise UnknownCallback(task_id)
    now = reads.now()
    zone = found.customer_timezone
    return render(
        request,
        user,
        "callbacks/task.html",
        status_code=status_code,
        active="callbacks",
        task=found.task,
        overdue=found.task.overdue(now),
        customer_timezone=zone,
        mine=found.task.claimed_by == user.name,
        outcomes=OUTCOMES,
        # The picker's bounds and first value, on the customer's clock.
        earliest=fmt_local(now + timedelta(minutes=5), zone),
        latest=fmt_local(now + timedelta(days=30), zone),
        suggested=fmt_local(now + timedelta(days=1), zone),
        problem=problem,
    )


def fmt_local(moment: datetime, zone: str) -> str:
    """`moment` as a datetime-local field's value (YYYY-MM-DDTHH:MM) on `zone`'s clock."""
    return moment.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%dT%H:%M")


@router.get("/callbacks/{task_id}")
def callback_page(request: Request, user: User, task_id: str) -> HTMLResponse:
    require(user, "callbacks:read")
    return _task_page(request, user, task_id)


def _refused(request: Request, user: ConsoleUser, task_id: str, reason: object) -> HTMLResponse:
    found = reads_of(request).callback(task_id)
    words = refusal_words(found.task, user) if found else ""
    detail = f"{words} ({reason})" if words else str(reason)
    message = user.gettext("The callback was not changed: {reason}").format(reason=detail)
    return _task_page(request, user, task_id, problem=message, status_code=409)


def refusal_words(task: CallbackTask, user: ConsoleUser) -> str:
    """Why the queue refuses, in the reader's language, from the task's state (empty when the
    state does not say: a call-back time out of range, whose reason the store gives)."""
    _ = user.gettext
    if task.status == "done":
        return _("This callback is already completed.")
    if task.status in ("expired", "cancelled"):
        return _("This callback is finished.")
    if task.status == "claimed" and task.claimed_by != user.name:
        return _("Another agent holds this callback.")
    if task.status == "open":
        return _("Claim this callback first.")
    return ""


@router.post("/callbacks/{task_id}/claim", response_model=None)
def claim(
    request: Request, user: User, form: Form, task_id: str
) -> HTMLResponse | RedirectResponse:
    require(user, "callbacks:write")
    try:
        support_of(request).claim(task_id, user.name)
    except CallbackRefused as exc:
        return _refused(request, user, task_id, exc)
    return redirect(
        f"{PREFIX}/callbacks/{quote(task_id, safe='')}",
        notice=user.gettext("You hold this callback now; call the customer."),
    )


def _completion(form: FormData, user: ConsoleUser, zone: str) -> Completion:
    """The completion the form describes; 400 saying what is wrong with it."""
    outcome = field(form, "outcome", user)
    if outcome not in OUTCOMES:
        raise ConsoleError(
            400,
            user.gettext("The filter “{name}” has no value “{value}”.").format(
                name="outcome", value=outcome
            ),
        )
    notes = field(form, "notes", user, required=False)
    call_back_at = None
    if outcome == "call_back_later":
        wall_clock = field(form, "call_back_at", user)
        try:
            call_back_at = local_call_back_at(wall_clock, zone)
        except ValueError as exc:
            raise ConsoleError(
                400,
                user.gettext("The call-back time is not valid: {reason}").format(reason=exc),
            ) from None
    try:
        return Completion.model_validate(
            {
                "agent": user.name,
                "outcome": outcome,
                "notes": notes,
                "call_back_at": call_back_at,
            }
        )
    except ValidationError as exc:
        names = ", ".join(str(error["loc"][-1]) for error in exc.errors() if error["loc"])
        raise ConsoleError(
            400, user.gettext("Some input is not valid: {fields}.").format(fields=names or "-")
        ) from None


@router.post("/callbacks/{task_id}/complete", response_model=None)
async def complete(
    request: Request, user: User, form: Form, task_id: str
) -> HTMLResponse | RedirectResponse:
    require(user, "callbacks:write")
    found = reads_of(request).callback(task_id)
    if found is None:
        raise UnknownCallback(task_id)
    completion = _completion(form, user, found.customer_timezone)
    try:
        await support_of(request).complete(task_id, completion)
    except CallbackRefused as exc:
        return _refused(request, user, task_id, exc)
    return redirect(
        f"{PREFIX}/callbacks/{quote(task_id, safe='')}",
        notice=user.gettext("Callback completed; the journey waiting on it moves on."),
    )

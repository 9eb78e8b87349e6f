"""Console pages: the case queue by SLA state and a case with its history and actions.

The queue reads the store (app/console_support.py, one keyset page); a case page reads the
case's live state through CaseService, and each action (assign, note, respond, resolve,
reopen) is the Temporal update the API's endpoint sends, audited the same way. The case
workflow's validators decide what the case's state allows: a refusal is shown on the case
page with its reason (409) and nothing is recorded.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, get_args
from urllib.parse import quote, urlencode

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import BaseModel, ValidationError

from app.cases import CaseRefused, CaseService
from app.console_support import SupportReads
from domain.cases import (
    SLA_STATES,
    Assign,
    CaseRuleError,
    CaseState,
    CaseStatus,
    Note,
    Reopen,
    Resolve,
    Respond,
    Severity,
    category_name,
    check_update,
    next_deadline,
    sla_state,
)
from entrypoints.console.web import (
    PREFIX,
    ConsoleError,
    ConsoleUser,
    Form,
    User,
    console_router,
    decode_cursor,
    encode_cursor,
    field,
    redirect,
    render,
    require,
)
from store.console_support import CaseFilter

router = console_router()
PAGE_SIZE = 50
SEVERITIES: tuple[str, ...] = get_args(Severity)
STATUSES: tuple[str, ...] = get_args(CaseStatus)
# Form action -> (the case workflow's update, what check_update calls it).
ACTIONS: dict[str, tuple[str, str]] = {
    "assign": ("assign", "assign"),
    "note": ("add_note", "note"),
    "respond": ("respond", "respond"),
    "resolve": ("resolve", "resolve"),
    "reopen": ("reopen", "reopen"),
}


def reads_of(request: Request) -> SupportReads:
    """The console's support reads over the app's store (made once per app)."""
    state = request.app.state
    found: SupportReads | None = getattr(state, "console_support_reads", None)
    if found is None:
        found = SupportReads(state.service.store)
        state.console_support_reads = found
    return found


def cases_of(request: Request) -> CaseService:
    cases: CaseService = request.app.state.cases
    return cases


def choice(request: Request, name: str, allowed: tuple[str, ...], user: ConsoleUser) -> str:
    """A filter from the query string: empty, or one of `allowed` (400 otherwise)."""
    value = request.query_params.get(name, "").strip()
    if value and value not in allowed:
        raise ConsoleError(
            400,
            user.gettext("The filter “{name}” has no value “{value}”.").format(
                name=name, value=value
            ),
        )
    return value


def text_filter(request: Request, name: str) -> str:
    return request.query_params.get(name, "").strip()[:128]


def cursor_at(text: str | None, user: ConsoleUser, second: type) -> tuple[datetime, Any] | None:
    """A keyset cursor {"at": datetime, "id": ...} as a tuple; a bad one is a 400 page."""
    values = decode_cursor(text, user, ("at", "id"))
    if not values:
        return None
    try:
        at = datetime.fromisoformat(str(values["at"]))
        key = second(values["id"])
        if at.utcoffset() is None or (second is str and not isinstance(values["id"], str)):
            raise ValueError("not a cursor")
        if second is int and not 0 <= key < 2**63:
            raise ValueError("out of range")
    except (TypeError, ValueError):
        raise ConsoleError(
            400,
            user.gettext(
                "This page link is not valid (its cursor was changed or cut); "
                "go back to the first page."
            ),
        ) from None
    return at, key


def page_links(path: str, filters: dict[str, str], cursor: str | None) -> tuple[str, str]:
    """The next page's address (none without a cursor) and the first page's."""
    kept = {name: value for name, value in filters.items() if value}
    first = f"{path}?{urlencode(kept)}" if kept else path
    if cursor is None:
        return "", first
    return f"{path}?{urlencode(kept | {'cursor': cursor})}", first


def allowed_actions(state: CaseState) -> set[str]:
    """The actions the case's state allows now, by the domain's rule (to offer the forms)."""
    allowed = set()
    for action, (_, rule) in ACTIONS.items():
        try:
            check_update(state, rule)
        except CaseRuleError:
            continue
        allowed.add(action)
    return allowed


@router.get("/cases")
def case_queue(request: Request, user: User) -> HTMLResponse:
    require(user, "cases:read")
    reads = reads_of(request)
    filters = {
        "status": choice(request, "status", STATUSES, user) or "open",
        "sla": choice(request, "sla", SLA_STATES, user),
        "severity": choice(request, "severity", SEVERITIES, user),
        "queue": text_filter(request, "queue"),
        "assignee": text_filter(request, "assignee"),
    }
    after = cursor_at(request.query_params.get("cursor"), user, str)
    now = reads.now()
    page = reads.case_page(
        CaseFilter(
            status=filters["status"],
            queue=filters["queue"] or None,
            assignee=filters["assignee"] or None,
            severity=filters["severity"] or None,
            sla=filters["sla"] or None,
        ),
        now,
        after,
        PAGE_SIZE,
    )
    cursor = None
    if page.more and page.rows:
        last = page.rows[-1]
        key = next_deadline(last) if filters["status"] == "open" else last.opened_at
        cursor = encode_cursor({"at": (key or last.opened_at).isoformat(), "id": last.case_id})
    next_url, first_url = page_links(f"{PREFIX}/cases", filters, cursor)
    queues, agents = reads.case_choices()
    rows = [
        {"case": state, "sla": sla_state(state, now), "deadline": next_deadline(state)}
        for state in page.rows
    ]
    return render(
        request,
        user,
        "cases/queue.html",
        active="cases",
        rows=rows,
        counts=reads.sla_counts(now, filters["queue"] or None),
        filters=filters,
        queues=queues,
        agents=agents,
        severities=SEVERITIES,
        statuses=STATUSES,
        sla_states=SLA_STATES,
        next_url=next_url,
        first_url=first_url if after else "",
    )


async def _case_page(
    request: Request,
    user: ConsoleUser,
    case_id: str,
    *,
    problem: str = "",
    status_code: int = 200,
    state: CaseState | None = None,
) -> HTMLResponse:
    if state is None:
        state = await cases_of(request).state(case_id)
    now = reads_of(request).now()
    return render(
        request,
        user,
        "cases/case.html",
        status_code=status_code,
        active="cases",
        case=state,
        sla=sla_state(state, now),
        deadline=next_deadline(state),
        allowed=allowed_actions(state),
        history=list(reversed(state.history)),
        problem=problem,
        category_name=lambda category: category_name(category, user.locale),
    )


@router.get("/cases/{case_id}")
async def case_page(request: Request, user: User, case_id: str) -> HTMLResponse:
    require(user, "cases:read")
    return await _case_page(request, user, case_id)


def refusal_words(state: CaseState, user: ConsoleUser) -> str:
    """Why the case workflow refuses, in the reader's language, from the state it refused in
    (the workflow's own reason, in English, goes beside it)."""
    _ = user.gettext
    if state.status == "closed":
        return _("This case is closed; open a new case instead.")
    if state.status == "resolved":
        return _("This case is resolved; reopen it first.")
    return _("Only a resolved case can be reopened.")


def _payload(action: str, form: Any, user: ConsoleUser) -> BaseModel:
    """The update's payload from the form; 400 naming what is missing or too long."""
    try:
        if action == "assign":
            return Assign(agent=field(form, "agent", user))
        if action == "note":
            return Note(text=field(form, "text", user), by=user.name)
        if action == "respond":
            return Respond(text=field(form, "text", user), by=user.name)
        if action == "resolve":
            return Resolve(resolution=field(form, "resolution", user), by=user.name)
        return Reopen(reason=field(form, "reason", user), by=user.name)
    except ValidationError as exc:
        names = ", ".join(str(error["loc"][-1]) for error in exc.errors() if error["loc"])
        raise ConsoleError(
            400, user.gettext("Some input is not valid: {fields}.").format(fields=names)
        ) from None


@router.post("/cases/{case_id}/{action}", response_model=None)
async def change_case(
    request: Request, user: User, form: Form, case_id: str, action: str
) -> HTMLResponse | RedirectResponse:
    if action not in ACTIONS:
        raise ConsoleError(404, user.gettext("Not found."))
    require(user, "cases:write")
    payload = _payload(action, form, user)
    update, _ = ACTIONS[action]
    cases = cases_of(request)
    try:
        await cases.change(case_id, update, payload)
    except CaseRefused as exc:
        state = await cases.state(case_id)
        message = user.gettext("The case was not changed: {reason}").format(
            reason=f"{refusal_words(state, user)} ({exc})"
        )
        return await _case_page(
            request, user, case_id, problem=message, status_code=409, state=state
        )
    _ = user.gettext
    notices = {
        "assign": _("Case assigned."),
        "note": _("Note added."),
        "respond": _("Response recorded."),
        "resolve": _("Case resolved."),
        "reopen": _("Case reopened."),
    }
    return redirect(f"{PREFIX}/cases/{quote(case_id, safe='')}", notice=notices[action])

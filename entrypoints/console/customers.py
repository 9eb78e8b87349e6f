"""Console pages: find a customer, read their page (profile, consent, value tier, stage, churn
risk with its reasons, one timeline of everything), and act on it: enroll in a journey, change
consent, open a case.

Reads go through app/customer_pages.py; each action calls the service the API endpoint calls
(JourneyService.enroll, MessagingService.set_consent, CaseService.open), so it is checked and
audited the same way, after `require` checked the role.
"""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import Query, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError

from app.cases import CaseService
from app.customer_pages import customer_view, find_customers
from app.journeys import JourneyPaused, JourneyService
from app.messaging import ConsentChange, MessagingService
from domain.cases import OpenCase
from domain.privacy import CustomerErased
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
from store.customer_search import KINDS, NUMBERED, Cursor, Entry

router = console_router()

MAX_QUERY = 320
PAGE_SIZE = 50
TIMELINE_SIZE = 50
CHANNELS = ("email", "sms", "webhook")
SEVERITIES = ("low", "normal", "high", "urgent")
# The timeline's kinds, in the order the filter offers them.
SHOWN_KINDS = ("event", "message", "decision", "run", "survey", "case", "callback")
ISO_MOMENT = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:[+-]\d\d:\d\d|Z)")


def _service(request: Request) -> JourneyService:
    service: JourneyService = request.app.state.service
    return service


def customer_url(customer_id: str) -> str:
    return f"{PREFIX}/customers/{quote(customer_id, safe='')}"


# --- labels -----------------------------------------------------------------------------------


def labels(user: ConsoleUser) -> dict[str, dict[str, str]]:
    """The words for stored codes (stages, tiers, decisions, rules, statuses), in the user's
    language; a code without a word here is shown as it is stored."""
    _ = user.gettext
    return {
        "stage": {
            "prospect": _("prospect"),
            "new": _("new"),
            "active": _("active"),
            "reactivated": _("reactivated"),
            "at_risk": _("at risk"),
            "lapsed": _("lapsed"),
            "churned": _("churned"),
        },
        "tier": {"high": _("high value"), "mid": _("mid value"), "low": _("low value")},
        "churn": {
            "overdue": _("overdue for an order"),
            "complaints_up": _("complaints up"),
            "engagement_down": _("engagement down"),
        },
        "decision": {
            "sent": _("sent"),
            "uncertain": _("uncertain"),
            "deferred": _("held"),
            "skipped": _("skipped"),
            "suppressed": _("suppressed"),
            "failed": _("failed"),
            "bounced": _("bounced"),
            "soft_bounced": _("soft bounce"),
            "complained": _("complaint"),
        },
        "rule": {
            "no_address": _("no address"),
            "consent": _("unsubscribed"),
            "suppressed": _("on the suppression list"),
            "open_case": _("waiting: open case"),
            "after_case": _("skipped after a case"),
            "quiet_hours": _("waiting: quiet hours"),
            "cap": _("waiting: frequency cap"),
            "journey_held": _("waiting: the journey holds its sends"),
        },
        "status": {
            "running": _("running"),
            "completed": _("completed"),
            "exited": _("exited"),
            "failed": _("failed"),
            "stopped": _("stopped"),
            "pending": _("pending"),
            "sending": _("sending"),
            "sent": _("sent"),
            "skipped": _("skipped"),
            "suppressed": _("suppressed"),
            "open": _("open"),
            "resolved": _("resolved"),
            "closed": _("closed"),
            "claimed": _("claimed"),
            "done": _("done"),
            "entered": _("entered"),
            "deferred": _("held"),
            "escalated": _("escalated"),
            "rescheduled": _("rescheduled"),
            "wait_skipped": _("wait skipped"),
            "moved": _("moved"),
            "retried": _("retried"),
            "migrated": _("migrated to a newer version"),
        },
        "kind": {
            "event": _("Event"),
            "message": _("Message"),
            "decision": _("Send decision"),
            "run": _("Run"),
            "survey": _("Survey"),
            "case": _("Case"),
            "callback": _("Callback"),
        },
        "channel": {"email": _("Email"), "sms": _("SMS"), "webhook": _("Webhook")},
        "severity": {
            "low": _("low"),
            "normal": _("normal"),
            "high": _("high"),
            "urgent": _("urgent"),
        },
    }


def describe_wait(
    user: ConsoleUser, waiting: str | None, timezone: str
) -> tuple[str, str | None] | None:
    """What a run waits for, in words, and until when in the customer's timezone (None when
    the run says no moment), from its status answer (`waiting`)."""
    if not waiting:
        return None
    _ = user.gettext
    moment = _moment(waiting)
    until = user.formats.moment(moment, timezone) if moment else None
    kind, _sep, rest = waiting.partition(" ")
    if kind == "deferred":
        return _("a held message: it is tried again when the hold ends"), until
    if kind == "until":
        return _("a timer"), until
    if kind == "callback":
        return _("the outcome of callback task {task}").format(task=rest), until
    if kind == "survey":
        return _("an answer to survey {survey}").format(survey=rest), until
    if kind == "event":
        return _("the event {event}").format(event=rest), until
    return waiting, until


def _moment(text: str) -> datetime | None:
    """The first ISO moment in `text`, or None (also for one that names no real time)."""
    found = ISO_MOMENT.search(text)
    if not found:
        return None
    try:
        return datetime.fromisoformat(found.group(0).replace("Z", "+00:00"))
    except ValueError:
        return None


def moments_in(user: ConsoleUser, text: str, timezone: str) -> str:
    """`text` (an engine's detail or reason) with each ISO moment in it written as the user's
    locale writes it, in `timezone` (the customer's)."""

    def local(found: re.Match[str]) -> str:
        moment = _moment(found.group(0))
        return found.group(0) if moment is None else user.formats.moment(moment, timezone)

    return ISO_MOMENT.sub(local, text or "")


def step_wait(user: ConsoleUser, entry: Entry, timezone: str) -> tuple[str, str | None] | None:
    """What a running run waits for, from its newest step record (the page reads no run's live
    state: the run page does)."""
    if entry.row.get("status") != "running" or not entry.steps:
        return None
    last = entry.steps[-1]
    _ = user.gettext
    moment = _moment(last.detail)
    until = user.formats.moment(moment, timezone) if moment else None
    if last.status == "deferred":
        reason = last.detail.partition(": ")[2] or last.detail
        return _("a held message ({reason})").format(reason=reason), until
    if last.status in ("entered", "rescheduled", "escalated"):
        return _("step {step} ({kind})").format(step=last.step_id, kind=last.kind), until
    return None


# --- search -----------------------------------------------------------------------------------


@router.get("/customers")
def search_page(
    request: Request, user: User, q: str = "", after: str | None = None
) -> HTMLResponse:
    require(user, "customers:read")
    _ = user.gettext
    query = q.strip()
    if len(query) > MAX_QUERY:
        raise ConsoleError(400, _("Search for at most {n} characters.").format(n=MAX_QUERY))
    cursor = decode_cursor(after, user, ("after",))
    start = cursor.get("after")
    if start is not None and not isinstance(start, str):
        decode_cursor("-", user, ("after",))
    page = find_customers(_service(request), query, start, PAGE_SIZE)
    base = f"{PREFIX}/customers"
    params = {"q": query} if query else {}
    next_url = (
        f"{base}?{urlencode({**params, 'after': encode_cursor({'after': page.next_after})})}"
        if page.next_after
        else None
    )
    first_url = f"{base}?{urlencode(params)}" if start else None
    return render(
        request,
        user,
        "customers/search.html",
        active="customers",
        query=query,
        page=page,
        next_url=next_url,
        first_url=first_url,
        words=labels(user),
        customer_url=customer_url,
    )


# --- the customer page ------------------------------------------------------------------------


def _before(text: str | None, user: ConsoleUser) -> Cursor | None:
    """The timeline cursor of an "older" link; a 400 page for one that is not."""
    keys = ("at", "kind", "key")
    cursor = decode_cursor(text, user, keys)
    if not cursor:
        return None
    kind, key = cursor["kind"], cursor["key"]
    try:
        at = datetime.fromisoformat(str(cursor["at"]))
    except ValueError:
        at = None
    numbered = kind in NUMBERED
    if (
        at is None
        or at.tzinfo is None
        or not isinstance(kind, str)
        or kind not in KINDS
        or isinstance(key, bool)
        or not isinstance(key, int if numbered else str)
        or (isinstance(key, int) and not 0 <= key < 2**63)
        or (isinstance(key, str) and len(key) > 512)
    ):
        decode_cursor("-", user, keys)  # the same 400 page as any broken cursor
        raise AssertionError("unreachable")
    return at.astimezone(UTC), kind, key


@router.get("/customers/{customer_id}")
def customer_page(
    request: Request,
    user: User,
    customer_id: str,
    before: str | None = None,
    kind: Annotated[list[str] | None, Query()] = None,
) -> HTMLResponse:
    require(user, "customers:read")
    return _customer_response(request, user, customer_id, before, kinds=kind)


def _customer_response(
    request: Request,
    user: ConsoleUser,
    customer_id: str,
    before: str | None = None,
    *,
    kinds: list[str] | None = None,
    problem: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    """The customer page; with `problem`, an action's refusal shown above it (and its status);
    the timeline of `kinds` only (every kind when none is given)."""
    chosen = tuple(k for k in KINDS if k in (kinds or ()))
    unknown = sorted(set(kinds or ()) - set(KINDS))
    if unknown:
        raise ConsoleError(
            400, user.gettext("Some input is not valid: {fields}.").format(fields="kind")
        )
    older_than = _before(before, user)
    view = customer_view(_service(request), customer_id, older_than, TIMELINE_SIZE, chosen or KINDS)
    here = customer_url(customer_id)
    filters = [("kind", k) for k in chosen]
    older_url = None
    if view.timeline.older is not None:
        at, kind, key = view.timeline.older
        cursor = encode_cursor({"at": at.isoformat(), "kind": kind, "key": key})
        older_url = f"{here}?{urlencode([*filters, ('before', cursor)])}"
    timezone = view.profile.timezone

    def wait_of(entry: Entry) -> tuple[str, str | None] | None:
        return step_wait(user, entry, timezone)

    return render(
        request,
        user,
        "customers/customer.html",
        status_code=status_code,
        active="customers",
        view=view,
        profile=view.profile,
        timezone=timezone,
        self_url=here,
        older_url=older_url,
        newest_url=(f"{here}?{urlencode(filters)}" if filters else here) if before else None,
        chosen=chosen,
        kinds=SHOWN_KINDS,
        problem=problem,
        words=labels(user),
        wait_of=wait_of,
        moments=lambda text: moments_in(user, text, timezone),
        run_url=run_url,
        properties=properties_text,
        value_text=value_text,
        channels=CHANNELS,
        severities=SEVERITIES,
    )


async def _refused(
    request: Request, user: ConsoleUser, customer_id: str, status_code: int, message: str
) -> HTMLResponse:
    """An action's refusal on the customer's own page (the error page when there is none)."""
    return await asyncio.to_thread(
        _customer_response,
        request,
        user,
        customer_id,
        problem=message,
        status_code=status_code,
    )


def run_url(workflow_id: str) -> str:
    return f"{PREFIX}/runs/{quote(workflow_id, safe='/')}"


def value_text(value: Any) -> str:
    """A stored value as text: strings as they are, anything else as JSON (the page escapes
    it)."""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, default=str)


def properties_text(values: dict[str, Any] | None) -> str:
    """Event properties or attributes as `key: value` pairs (plain text: the page escapes it)."""
    if not values:
        return ""
    return ", ".join(f"{key}: {value_text(value)}" for key, value in values.items())


# --- actions ----------------------------------------------------------------------------------


@router.post("/customers/{customer_id}/enroll")
async def enroll(request: Request, user: User, form: Form, customer_id: str) -> Response:
    require(user, "enroll")
    _ = user.gettext
    journey_id = field(form, "journey_id", user)
    request_id = field(form, "request_id", user, required=False) or uuid.uuid4().hex
    try:
        delivery = await _service(request).enroll(journey_id, customer_id, None, request_id[:64])
    except JourneyPaused as exc:
        return await _refused(
            request, user, customer_id, 409, _("The journey is paused: {error}").format(error=exc)
        )
    except CustomerErased:
        return await _refused(request, user, customer_id, 410, _("This customer has been erased."))
    if delivery.action in ("started",):
        notice = _("Enrolled in {journey}: the run has started.").format(journey=journey_id)
    elif delivery.action == "signalled":
        notice = _("{journey}: the customer's running run got the enrollment.").format(
            journey=journey_id
        )
    elif delivery.action == "pending":
        notice = _("{journey}: logged; the run starts as soon as Temporal answers.").format(
            journey=journey_id
        )
    else:
        reason = delivery.reason or delivery.action
        return await _refused(
            request,
            user,
            customer_id,
            409,
            _("Not enrolled in {journey}: {reason}").format(journey=journey_id, reason=reason),
        )
    return redirect(customer_url(customer_id), notice=notice)


@router.post("/customers/{customer_id}/consent")
async def consent(request: Request, user: User, form: Form, customer_id: str) -> Response:
    require(user, "consent:write")
    _ = user.gettext
    wanted: dict[str, bool] = {}
    for channel in CHANNELS:
        value = form.get(channel)
        if value in ("yes", "no"):
            wanted[channel] = value == "yes"
        elif value is not None:
            raise ConsoleError(400, _("Some input is not valid: {fields}.").format(fields=channel))
    if not wanted:
        raise ConsoleError(400, _("Say which channel to change."))
    messaging: MessagingService = request.app.state.messaging
    change = ConsentChange.model_validate(wanted)
    try:
        await messaging.set_consent(customer_id, change, "console", uuid.uuid4().hex)
    except CustomerErased:
        return await _refused(request, user, customer_id, 410, _("This customer has been erased."))
    return redirect(customer_url(customer_id), notice=_("Consent saved."))


@router.post("/customers/{customer_id}/cases")
async def open_case(request: Request, user: User, form: Form, customer_id: str) -> Response:
    require(user, "cases:write")
    _ = user.gettext
    try:
        opening = OpenCase(
            customer_id=customer_id,
            channel=field(form, "channel", user, required=False) or "email",
            category=field(form, "category", user),
            severity=field(form, "severity", user, required=False) or "normal",
            summary=field(form, "summary", user),
        )
    except ValidationError as exc:
        names = ", ".join(str(e["loc"][-1]) for e in exc.errors() if e.get("loc"))
        return await _refused(
            request,
            user,
            customer_id,
            400,
            _("Some input is not valid: {fields}.").format(fields=names),
        )
    cases: CaseService = request.app.state.cases
    request_id = field(form, "request_id", user, required=False) or uuid.uuid4().hex
    try:
        state = await cases.open(opening, request_id[:64])
    except CustomerErased:
        return await _refused(request, user, customer_id, 410, _("This customer has been erased."))
    return redirect(
        customer_url(customer_id), notice=_("Case {case} opened.").format(case=state.case_id)
    )

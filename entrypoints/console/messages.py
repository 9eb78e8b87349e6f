"""Console pages: messages and send decisions (filters, keyset pages), and the preview of a send
step for a customer.

The preview is MessagingService.preview, the one the API's preview endpoint and `journeys
preview` give: what the customer would get and whether it would go now (send, defer until
when, skip or suppress, and the rule that decided), under which category. An email's HTML is
shown only inside a sandboxed iframe whose own response forbids scripts, forms, fetching and
everything else but inline styles and data: images.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import get_args
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import Request
from fastapi.responses import HTMLResponse

from app.messaging import MessagingService, Preview
from domain.journey import SendStep
from domain.messages import Channel, MessageStatus
from entrypoints.console.cases import choice, cursor_at, page_links, reads_of, text_filter
from entrypoints.console.web import (
    PREFIX,
    SECURITY_HEADERS,
    ConsoleError,
    ConsoleUser,
    User,
    console_router,
    encode_cursor,
    render,
    require,
)
from store.console_support import SendFilter
from store.errors import UnknownJourney

router = console_router()
PAGE_SIZE = 50
CHANNELS: tuple[str, ...] = get_args(Channel)
STATUSES: tuple[str, ...] = get_args(MessageStatus)
# What the send ledger records (store/send_ledger.py, and provider feedback's decisions).
DECISIONS: tuple[str, ...] = (
    "sent",
    "uncertain",
    "deferred",
    "skipped",
    "suppressed",
    "failed",
    "bounced",
    "soft_bounced",
    "complained",
)
SHOWS: tuple[str, ...] = ("messages", "decisions")
# The email preview's own document: nothing runs, loads or submits; inline styles and
# data: images only, and sandboxed even if opened outside its iframe.
PREVIEW_CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; sandbox"


def messaging_of(request: Request) -> MessagingService:
    messaging: MessagingService = request.app.state.messaging
    return messaging


def day_range(text: str, user: ConsoleUser) -> tuple[datetime | None, datetime | None]:
    """A day (YYYY-MM-DD) in the workspace timezone as [start, end) in UTC; 400 when not one."""
    if not text:
        return None, None
    try:
        day = datetime.strptime(text, "%Y-%m-%d")
    except ValueError:
        raise ConsoleError(
            400, user.gettext("“{value}” is not a date; pick one as YYYY-MM-DD.").format(value=text)
        ) from None
    start = day.replace(tzinfo=ZoneInfo(user.formats.timezone))
    return start, start + timedelta(days=1)


@router.get("/messages")
def message_list(request: Request, user: User) -> HTMLResponse:
    require(user, "messages:read")
    reads = reads_of(request)
    show = choice(request, "show", SHOWS, user) or "messages"
    filters = {
        "show": show,
        "channel": choice(request, "channel", CHANNELS, user),
        "journey": text_filter(request, "journey"),
        "customer": text_filter(request, "customer"),
        "day": text_filter(request, "day"),
    }
    since, before = day_range(filters["day"], user)
    common = SendFilter(
        channel=filters["channel"] or None,
        journey_id=filters["journey"] or None,
        customer_id=filters["customer"] or None,
        since=since,
        before=before,
    )
    cursor = None
    messages: list[object] = []
    decisions: list[object] = []
    if show == "messages":
        filters["status"] = choice(request, "status", STATUSES, user)
        after = cursor_at(request.query_params.get("cursor"), user, str)
        page = reads.message_page(
            common, status=filters["status"] or None, after=after, limit=PAGE_SIZE
        )
        messages = list(page.rows)
        if page.more and page.rows:
            last = page.rows[-1]
            cursor = encode_cursor(
                {"at": last.requested_at.isoformat(), "id": last.idempotency_key}
            )
    else:
        filters["decision"] = choice(request, "decision", DECISIONS, user)
        after = cursor_at(request.query_params.get("cursor"), user, int)
        found = reads.decision_page(
            common, decision=filters["decision"] or None, after=after, limit=PAGE_SIZE
        )
        decisions = list(found.rows)
        if found.more and found.rows:
            end = found.rows[-1]
            cursor = encode_cursor({"at": end.at.isoformat(), "id": end.id})
    next_url, first_url = page_links(f"{PREFIX}/messages", filters, cursor)
    return render(
        request,
        user,
        "messages/list.html",
        active="messages",
        show=show,
        filters=filters,
        messages=messages,
        decisions=decisions,
        channels=CHANNELS,
        statuses=STATUSES,
        decision_values=DECISIONS,
        journeys=messaging_of(request).journeys.journeys(),
        next_url=next_url,
        first_url=first_url if after else "",
        other_url=f"{PREFIX}/messages?"
        + urlencode({"show": "decisions" if show == "messages" else "messages"}),
    )


def _preview_of(request: Request, user: ConsoleUser) -> tuple[Preview | None, dict[str, str]]:
    asked = {name: text_filter(request, name) for name in ("journey", "step", "customer", "locale")}
    if not (asked["journey"] and asked["step"] and asked["customer"]):
        return None, asked
    preview = messaging_of(request).preview(
        asked["journey"], asked["step"], asked["customer"], asked["locale"] or None
    )
    return preview, asked


@router.get("/messages/preview")
def preview_page(request: Request, user: User) -> HTMLResponse:
    require(user, "messages:read")
    preview, asked = _preview_of(request, user)
    messaging = messaging_of(request)
    steps: list[str] = []
    if asked["journey"]:
        try:
            journey = messaging.journeys.journey(asked["journey"])
        except UnknownJourney:
            journey = None
        if journey is not None:
            steps = [step.id for step in journey.steps if isinstance(step, SendStep)]
    query = urlencode({k: v for k, v in asked.items() if v})
    return render(
        request,
        user,
        "messages/preview.html",
        active="messages",
        preview=preview,
        asked=asked,
        journeys=messaging.journeys.journeys(),
        steps=steps,
        frame_url=f"{PREFIX}/messages/preview/html?{query}",
    )


@router.get("/messages/preview/html")
def preview_html(request: Request, user: User) -> HTMLResponse:
    """The rendered HTML of an email step, for the preview page's sandboxed iframe only."""
    require(user, "messages:read")
    preview, _ = _preview_of(request, user)
    if preview is None or preview.html is None:
        raise ConsoleError(404, user.gettext("This step has no HTML to preview."))
    headers = SECURITY_HEADERS | {
        "Content-Security-Policy": PREVIEW_CSP,
        "X-Frame-Options": "SAMEORIGIN",
    }
    return HTMLResponse(preview.html, headers=headers)

"""Console page: the overview — today per journey, messages, cases by SLA, callbacks, surveys.

Reads only, in a fixed number of queries whatever the data (app/overview.py over
store/overview_counts.py); "today" is the workspace timezone's day.
"""

from __future__ import annotations

from datetime import date

from babel.dates import format_skeleton
from fastapi import Request
from fastapi.responses import HTMLResponse

from app.overview import overview as read_overview
from entrypoints.console.web import ConsoleUser, User, console_router, render, workspace_timezone

router = console_router()


def outcome_labels(user: ConsoleUser) -> dict[str, str]:
    """Message outcomes and send decisions as the page names them."""
    _ = user.gettext
    return {
        "pending": _("pending"),
        "sending": _("sending"),
        "sent": _("sent"),
        "uncertain": _("uncertain"),
        "skipped": _("skipped"),
        "failed": _("failed"),
        "deferred": _("deferred"),
        "bounced": _("bounced"),
        "soft_bounced": _("soft bounce"),
        "complained": _("complained"),
    }


def channel_labels(user: ConsoleUser) -> dict[str, str]:
    _ = user.gettext
    return {"email": _("Email"), "sms": _("SMS"), "webhook": _("Webhook")}


def journey_status_labels(user: ConsoleUser) -> dict[str, str]:
    _ = user.gettext
    return {"active": _("Live"), "paused": _("Paused")}


def survey_labels(user: ConsoleUser) -> dict[str, str]:
    _ = user.gettext
    return {"nps": _("NPS"), "csat": _("CSAT")}


def period_label(period: str, by: str, user: ConsoleUser) -> str:
    """A store period ("2026-W48", "2026-12") as the user's language writes it."""
    try:
        if by == "month":
            year, month = period.split("-")
            first = date(int(year), int(month), 1)
            return format_skeleton("yMMM", first, locale=user.formats.babel)
        year, week = period.split("-W")
        return user.gettext("%(year)s week %(week)s") % {"year": year, "week": int(week)}
    except ValueError:
        return period


@router.get("/")
def overview(request: Request, user: User) -> HTMLResponse:
    service = request.app.state.service
    now = service.clock()
    data = read_overview(service.store, workspace_timezone(request), now)
    return render(
        request,
        user,
        "overview/index.html",
        active="overview",
        data=data,
        timezone=workspace_timezone(request),
        outcomes=outcome_labels(user),
        channels=channel_labels(user),
        statuses=journey_status_labels(user),
        kinds=survey_labels(user),
        names={row.journey_id: row.name for row in data.journeys},
        this_week=period_label(data.this_week, "week", user),
        last_week=period_label(data.last_week, "week", user),
    )

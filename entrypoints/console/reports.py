"""Console pages: reports — NPS and CSAT by week or month (charts and the table), and the
segments summary (value tier x lifecycle stage) as of the date the projections were built.

The survey numbers are `journeys report surveys --by week|month` exactly (the same store call).
The segments summary is read from the stored projections, never rebuilt by a page view: a
rebuild rewrites every customer's row (a write, seconds on the CDNOW base), so it is an
explicit POST that needs `segments:write` (ops), as `journeys segments summary --as-of` is a
command an operator runs on purpose.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse

from app.overview import rebuild_projections, segments_summary, survey_report, survey_series
from domain.projections import STAGES, TIERS
from entrypoints.console.charts import line_chart
from entrypoints.console.overview import period_label, survey_labels
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
from store.surveys import SurveyScores

router = console_router()

PERIODS = ("week", "month")
# Periods shown in the charts and the full table (the newest ones); the CLI lists them all.
SHOWN_PERIODS = 12
# Periods in the table beside each chart (the newest ones).
BESIDE_PERIODS = 3


def stage_labels(user: ConsoleUser) -> dict[str, str]:
    _ = user.gettext
    return {
        "prospect": _("prospect"),
        "new": _("new"),
        "active": _("active"),
        "reactivated": _("reactivated"),
        "at_risk": _("at risk"),
        "lapsed": _("lapsed"),
        "churned": _("churned"),
    }


def tier_labels(user: ConsoleUser) -> dict[str, str]:
    _ = user.gettext
    return {
        "high": _("high value"),
        "mid": _("mid value"),
        "low": _("low value"),
        "none": _("no orders"),
    }


def parse_day(text: str, user: ConsoleUser) -> date | None:
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ConsoleError(
            400,
            user.gettext("“{value}” is not a date; pick one as YYYY-MM-DD.").format(value=text),
        ) from None


@dataclass(frozen=True)
class PivotRow:
    """One journey's scores of one survey kind in the newest periods (None: no row)."""

    journey_id: str | None
    scores: list[SurveyScores | None]


def pivot(rows: list[SurveyScores], kind: str, periods: list[str]) -> list[PivotRow]:
    """Journeys down, `periods` across, for the table beside a chart."""
    found: dict[str | None, dict[str, SurveyScores]] = {}
    for row in rows:
        if row.kind == kind:
            found.setdefault(row.journey_id, {})[row.period] = row
    return [
        PivotRow(journey_id, [by_period.get(period) for period in periods])
        for journey_id, by_period in sorted(found.items(), key=lambda item: item[0] or "")
    ]


def _recent(rows: list[SurveyScores]) -> list[SurveyScores]:
    periods = sorted({row.period for row in rows})[-SHOWN_PERIODS:]
    return [row for row in rows if row.period in periods]


@router.get("/reports")
def reports(
    request: Request, user: User, by: str = "week", journey: str = "", as_of: str = ""
) -> HTMLResponse:
    require(user, "reports:read")
    _ = user.gettext
    if by not in PERIODS:
        raise ConsoleError(400, _("Show scores by week or by month."))
    store = request.app.state.service.store
    journeys = {j.journey_id: j.name for j in store.journeys.list()}
    if journey and journey not in journeys:
        raise ConsoleError(404, _("There is no such journey or version.") + f" ({journey})")
    wanted = parse_day(as_of, user)
    rows = _recent(survey_report(store, by, journey or None))
    names: dict[str | None, str] = {None: _("(no journey)"), **journeys}
    labels = {row.period: period_label(row.period, by, user) for row in rows}
    localized = [row.model_copy(update={"period": labels[row.period]}) for row in rows]
    nps = line_chart(
        survey_series(localized, "nps", names),
        title=_("NPS by %(period)s") % {"period": _("week") if by == "week" else _("month")},
        y_min=-100,
        y_max=100,
        value_format=lambda v: f"{v:+.0f}" if v else "0",
        empty_text=_("No NPS answers yet."),
    )
    csat = line_chart(
        survey_series(localized, "csat", names),
        title=_("CSAT by %(period)s") % {"period": _("week") if by == "week" else _("month")},
        y_min=1,
        y_max=5,
        value_format=lambda v: f"{v:.1f}",
        empty_text=_("No CSAT answers yet."),
    )
    beside = sorted({row.period for row in rows}, reverse=True)[:BESIDE_PERIODS]
    view = segments_summary(store, wanted)
    tiers = [*TIERS, "none"]
    summary = view.summary
    return render(
        request,
        user,
        "reports/index.html",
        active="reports",
        by=by,
        journey=journey,
        journeys=journeys,
        names=names,
        rows=sorted(rows, key=lambda r: (r.period, r.journey_id or "", r.kind), reverse=True),
        labels=labels,
        kinds=survey_labels(user),
        nps_chart=nps,
        csat_chart=csat,
        beside=beside,
        pivots={kind: pivot(rows, kind, beside) for kind in ("nps", "csat")},
        shown_periods=SHOWN_PERIODS,
        segments=view,
        wanted=wanted,
        stages=STAGES,
        tiers=tiers,
        stage_totals={s: sum(summary.count(t, s) for t in tiers) for s in STAGES},
        tier_totals={t: sum(summary.counts.get(t, {}).values()) for t in tiers},
        stage_names=stage_labels(user),
        tier_names=tier_labels(user),
        today=user_today(request),
    )


def user_today(request: Request) -> date:
    from datetime import UTC, datetime
    from zoneinfo import ZoneInfo

    from entrypoints.console.web import workspace_timezone

    return datetime.now(UTC).astimezone(ZoneInfo(workspace_timezone(request))).date()


@router.post("/reports/segments/rebuild")
def rebuild(request: Request, user: User, form: Form) -> RedirectResponse:
    """Rebuild the customer projections as of the date given (ops), then show the summary."""
    require(user, "segments:write")
    day = parse_day(field(form, "as_of", user), user)
    assert day is not None
    store = request.app.state.service.store
    projected = rebuild_projections(store, day)
    notice = user.gettext("Customer projections rebuilt as of {day}: {count} customers.").format(
        day=user.formats.day(day), count=user.formats.number(projected)
    )
    query: dict[str, Any] = {"as_of": day.isoformat()}
    return redirect(f"{PREFIX}/reports?{urlencode(query)}", notice=notice)

"""What the console's overview and reports pages read: today's counts in the workspace's
timezone, survey scores this week against last, and the stored segments summary.

Reads only, except `rebuild_projections` (the console's explicit POST for ops). The survey
numbers come from the same store call as `journeys report surveys` (store/surveys.py), so
the console and the CLI agree to the digit; survey periods are UTC weeks and months there,
so they are here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from app.console_journeys import converting_goals
from domain.journey import JourneyDefinition
from store.console_support import ConsoleSupportReads
from store.overview_counts import (
    CallbacksDue,
    CaseSla,
    JourneyRow,
    MessagesToday,
    OverviewCounts,
    RunsToday,
)
from store.projections import ProjectionSummary
from store.store import Store
from store.surveys import SurveyScores

Periods = str  # "week" or "month"


@dataclass(frozen=True)
class Today:
    """The workspace's current day as a UTC interval [start, end), and the moment asked."""

    day: date
    start: datetime
    end: datetime
    now: datetime


def today_in(timezone: str, now: datetime) -> Today:
    zone = ZoneInfo(timezone)
    day = now.astimezone(zone).date()
    start = datetime.combine(day, time(), zone)
    end = datetime.combine(day + timedelta(days=1), time(), zone)
    return Today(day, start.astimezone(UTC), end.astimezone(UTC), now)


def period_of(moment: datetime, by: Periods, dialect: str) -> str:
    """The period label store/surveys.py's `scores` gives `moment` (UTC), on this database."""
    moment = moment.astimezone(UTC)
    if by == "month":
        return moment.strftime("%Y-%m")
    if dialect == "postgresql":
        iso = moment.isocalendar()
        return f"{iso.year}-W{iso.week:02d}"
    return moment.strftime("%Y-W%W")


@dataclass(frozen=True)
class SurveyWeeks:
    """One journey's survey of one kind: this week's scores and last week's (None: none)."""

    journey_id: str | None
    kind: str
    this_week: SurveyScores | None
    last_week: SurveyScores | None


@dataclass
class Overview:
    today: Today
    journeys: list[JourneyRow]
    runs: dict[str, RunsToday]
    messages: list[MessagesToday]
    cases: CaseSla
    callbacks: dict[str, CallbacksDue]
    surveys: list[SurveyWeeks]
    this_week: str
    last_week: str
    channels: list[str] = field(default_factory=list)
    outcomes: list[str] = field(default_factory=list)

    def message_count(self, channel: str, outcome: str) -> int:
        return sum(m.count for m in self.messages if m.channel == channel and m.outcome == outcome)


_GOALS: dict[str, tuple[str, ...]] = {}


def goals_of(row: JourneyRow) -> tuple[str, ...]:
    """The journey's converting goal events, as `journeys report funnel` counts them (kept by
    the definition's checksum: a published version never changes)."""
    found = _GOALS.get(row.checksum)
    if found is None:
        found = tuple(converting_goals(JourneyDefinition.model_validate(row.definition)))
        if len(_GOALS) > 1000:
            _GOALS.clear()
        _GOALS[row.checksum] = found
    return found


def overview(store: Store, timezone: str, now: datetime) -> Overview:
    """Everything the overview shows, in a fixed number of queries (whatever the data). Open
    cases by SLA state are the case queue's own counts (store/console_support.py, over
    domain/cases.py's rule), so the two pages agree."""
    today = today_in(timezone, now)
    dialect = store.engine.dialect.name
    this_week = period_of(now, "week", dialect)
    last_week = period_of(now - timedelta(days=7), "week", dialect)
    with OverviewCounts(store.engine).snapshot() as counts:
        journeys = counts.journeys()
        goals = {row.journey_id: list(goals_of(row)) for row in journeys}
        runs = counts.runs_today(today.start, today.end, goals)
        messages = counts.messages_today(today.start, today.end)
        callbacks = counts.callbacks_due(now, today.end)
    return Overview(
        today=today,
        journeys=journeys,
        runs=runs,
        messages=messages,
        cases=CaseSla.model_validate(ConsoleSupportReads(store.engine).sla_counts(now)),
        callbacks=callbacks,
        surveys=survey_weeks(store.surveys.scores(None, "week"), this_week, last_week),
        this_week=this_week,
        last_week=last_week,
        channels=sorted({m.channel for m in messages}),
        outcomes=sorted({m.outcome for m in messages}),
    )


def survey_weeks(rows: Sequence[SurveyScores], this_week: str, last_week: str) -> list[SurveyWeeks]:
    """Per journey and kind with scores in either week: the two weeks side by side."""
    by_key: dict[tuple[str | None, str], dict[str, SurveyScores]] = {}
    for row in rows:
        if row.period in (this_week, last_week):
            by_key.setdefault((row.journey_id, row.kind), {})[row.period] = row
    return [
        SurveyWeeks(journey_id, kind, weeks.get(this_week), weeks.get(last_week))
        for (journey_id, kind), weeks in sorted(
            by_key.items(), key=lambda item: (item[0][0] or "", item[0][1])
        )
    ]


# --- reports ----------------------------------------------------------------------------------


def survey_report(store: Store, by: Periods, journey_id: str | None = None) -> list[SurveyScores]:
    """NPS and CSAT per journey, kind and period: `journeys report surveys --by` exactly."""
    return store.surveys.scores(journey_id, by)


def survey_series(
    rows: Sequence[SurveyScores], kind: str, label: Mapping[str | None, str]
) -> dict[str, list[tuple[str, float | None]]]:
    """For a line chart: per journey, (period, NPS or CSAT mean) in period order."""
    periods = sorted({row.period for row in rows if row.kind == kind})
    series: dict[str, list[tuple[str, float | None]]] = {}
    for row in rows:
        if row.kind != kind:
            continue
        name = label.get(row.journey_id, row.journey_id or "—")
        series.setdefault(name, [(period, None) for period in periods])
        value = row.nps if kind == "nps" else row.csat
        series[name][periods.index(row.period)] = (row.period, value)
    return series


@dataclass(frozen=True)
class SegmentsView:
    """The stored segments summary; `wanted` is the as-of date asked for, when it differs
    from the date the stored projections were built as of (rebuilding is a separate POST)."""

    summary: ProjectionSummary
    wanted: date | None

    @property
    def stale(self) -> bool:
        return self.wanted is not None and self.wanted != self.summary.as_of


def segments_summary(store: Store, wanted: date | None) -> SegmentsView:
    """The tier x stage counts of the stored projections, as of when they were built (no
    rebuild: a page view never writes)."""
    return SegmentsView(store.projections.summary(None), wanted)


def rebuild_projections(store: Store, as_of: date) -> int:
    """Rebuild the customer projections as of `as_of` (what `journeys segments summary
    --as-of` does first); returns the customers projected."""
    return store.projections.rebuild(as_of)

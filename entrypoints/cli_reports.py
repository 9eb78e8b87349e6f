"""`journeys report`: funnels and experiment results of a journey, as tables and a chart."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from app.funnels import ordered_steps, with_unreached_steps
from domain.experiments import Arm, judge
from domain.journey import JourneyDefinition
from entrypoints.cli_common import Wide, console, fail, print_tables, service, table
from store.errors import StoreError
from store.reports import RunCounts, StepCounts
from store.store import Store

report_app = typer.Typer(help="Funnels and experiment results.", no_args_is_help=True)


def _journey(journey_id: str) -> tuple[JourneyDefinition, Store]:
    svc = service()
    try:
        return svc.journey(journey_id), svc.store
    except StoreError as exc:
        raise fail(str(exc)) from exc


def converting_goals(journey: JourneyDefinition) -> list[str]:
    return [goal.event for goal in journey.exit_when if goal.converted]


def _percent(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f}%" if whole else "-"


def no_runs_note(journey: JourneyDefinition) -> str:
    """Why a funnel is empty, in words, with what would fill it."""
    entry = f"a {journey.trigger.event} event"
    if journey.audience is not None:
        entry += f" or its audience ({journey.audience.segment})"
    return (
        f"{journey.id} has no runs yet: no customer has entered it ({entry} starts a run). "
        "`journeys simulate` runs are not counted here: simulate does not write to the store."
    )


@report_app.command("funnel")
def funnel(
    journey_id: str,
    chart: Annotated[Path | None, typer.Option(help="Also write the funnel as a PNG.")] = None,
    wide: Wide = False,
) -> None:
    """Per version and step: entered, completed, skipped, exited, converted; messages."""
    journey, store = _journey(journey_id)
    goals = converting_goals(journey)
    runs = store.reports.run_counts(journey_id, goals)
    steps: list[StepCounts] = []
    if not runs:
        console.print(no_runs_note(journey), highlight=False, markup=False)
    else:
        latest = store.journeys.get(journey_id)
        counts = store.reports.step_counts(journey_id, goals)
        if latest is not None and any(r.version == latest.latest_version for r in runs):
            steps = with_unreached_steps(journey, latest.latest_version, counts)
        else:
            steps = ordered_steps(journey, counts)
        print_funnel(runs, steps, goals, store, journey_id, wide)
    if chart is not None:
        from entrypoints.funnel_chart import draw_funnel

        draw_funnel(journey, steps, chart, empty_note=None if runs else no_runs_note(journey))
        console.print(f"chart written to {chart}", highlight=False, markup=False)


def print_funnel(
    runs: list[RunCounts],
    steps: list[StepCounts],
    goals: list[str],
    store: Store,
    journey_id: str,
    wide: bool,
) -> None:
    overview = table(
        "version",
        "entered",
        "running",
        "completed",
        "exited",
        "failed",
        "stopped",
        "converted",
        title="Runs",
        wide=wide,
    )
    for r in runs:
        overview.add_row(
            f"v{r.version}",
            *(str(n) for n in (r.entered, r.running, r.completed, r.exited, r.failed, r.stopped)),
            f"{r.converted} ({_percent(r.converted, r.entered)})",
        )
    print_tables(overview)
    console.print(
        f"converted = a goal event ({', '.join(goals) or 'none'}) after entry; "
        "stopped = ended by an operator",
        highlight=False,
        markup=False,
    )
    several = len({s.version for s in steps}) > 1
    grid = table(
        "step",
        "kind",
        "entered",
        "completed",
        "skipped",
        "exited",
        "failed",
        "stopped",
        "converted",
        title="Steps",
        wide=wide,
        optional=("kind", "stopped", "exited", "failed"),
    )
    for s in steps:
        grid.add_row(
            (f"v{s.version} " if several else "") + s.step_id,
            s.kind,
            *(str(n) for n in (s.entered, s.completed, s.skipped, s.exited, s.failed, s.stopped)),
            f"{s.converted} ({_percent(s.converted, s.entered)})",
        )
    messages = table("step", "channel", "status", "messages", title="Messages", wide=wide)
    for m in store.reports.message_counts(journey_id):
        messages.add_row(m.step_id, m.channel, m.status, str(m.count))
    print_tables(grid, *([messages] if messages.rows else []))


@report_app.command("experiment")
def experiment(journey_id: str, wide: Wide = False) -> None:
    """Per split variant and holdout arm: entered, converted, rate, lift and its p-value."""
    journey, store = _journey(journey_id)
    counts = store.reports.arms(journey_id, converting_goals(journey))
    if not counts:
        raise fail(f"{journey_id} has no split or holdout step that any run has passed")
    results = judge([(c.step_id, c.kind, Arm(c.arm, c.entered, c.converted)) for c in counts])
    grid = table("step", "arm", "entered", "converted", "lift", "p-value", wide=wide)
    for row in results:
        versus = row.versus
        lift = "baseline" if versus is None else "-"
        p_value = ""
        if versus is not None:
            lift = (
                f"{versus.lift:+.1%} vs {versus.baseline.name}" if versus.lift is not None else "-"
            )
            if versus.p_value is not None:
                p_value = f"{versus.p_value:.4f}" + (" *" if versus.p_value < 0.05 else "")
            else:
                p_value = "-"
        grid.add_row(
            row.step_id,
            row.arm.name,
            str(row.arm.entered),
            f"{row.arm.converted} ({row.arm.rate:.1%})",
            lift,
            p_value,
        )
    print_tables(grid)
    console.print(
        "p-value: two-sided two-proportion z-test; * significant at 0.05",
        highlight=False,
        markup=False,
    )

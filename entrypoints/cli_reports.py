"""`journeys report`: funnels and experiment results of a journey, as tables and a chart."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from domain.experiments import Arm, judge
from domain.journey import JourneyDefinition
from entrypoints.cli_common import console, fail, service, table
from store.errors import StoreError
from store.reports import StepCounts
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


def ordered_steps(journey: JourneyDefinition, counts: list[StepCounts]) -> list[StepCounts]:
    """Counts in the order of the newest definition; steps of older versions follow."""
    order = {step.id: i for i, step in enumerate(journey.steps)}
    return sorted(counts, key=lambda c: (c.version, order.get(c.step_id, len(order)), c.step_id))


@report_app.command("funnel")
def funnel(
    journey_id: str,
    chart: Annotated[Path | None, typer.Option(help="Also write the funnel as a PNG.")] = None,
) -> None:
    """Per version and step: entered, completed, skipped, exited, converted; messages."""
    journey, store = _journey(journey_id)
    goals = converting_goals(journey)
    runs = store.reports.run_counts(journey_id, goals)
    overview = table("version", "entered", "running", "completed", "exited", "failed", "converted")
    for r in runs:
        overview.add_row(
            f"v{r.version}",
            *(str(n) for n in (r.entered, r.running, r.completed, r.exited, r.failed)),
            f"{r.converted} ({_percent(r.converted, r.entered)})",
        )
    console.print(overview)
    console.print(f"converted = a goal event ({', '.join(goals) or 'none'}) after entry")
    steps = ordered_steps(journey, store.reports.step_counts(journey_id, goals))
    messages: dict[str, list[str]] = {}
    for m in store.reports.message_counts(journey_id):
        messages.setdefault(m.step_id, []).append(f"{m.channel} {m.status} {m.count}")
    grid = table(
        "version",
        "step",
        "kind",
        "entered",
        "completed",
        "skipped",
        "exited",
        "failed",
        "converted",
    )
    grid.add_column("messages", overflow="fold")
    for s in steps:
        grid.add_row(
            f"v{s.version}",
            s.step_id,
            s.kind,
            *(str(n) for n in (s.entered, s.completed, s.skipped, s.exited, s.failed)),
            f"{s.converted} ({_percent(s.converted, s.entered)})",
            ", ".join(messages.get(s.step_id, [])),
        )
    console.print(grid)
    if chart is not None:
        from entrypoints.funnel_chart import draw_funnel

        draw_funnel(journey, steps, chart)
        console.print(f"chart written to {chart}")


@report_app.command("experiment")
def experiment(journey_id: str) -> None:
    """Per split variant and holdout arm: entered, converted, rate, lift and its p-value."""
    journey, store = _journey(journey_id)
    counts = store.reports.arms(journey_id, converting_goals(journey))
    if not counts:
        raise fail(f"{journey_id} has no split or holdout step that any run has passed")
    results = judge([(c.step_id, c.kind, Arm(c.arm, c.entered, c.converted)) for c in counts])
    grid = table("step", "arm", "entered", "converted", "rate", "lift", "p-value", "significant")
    for row in results:
        versus = row.versus
        lift = "baseline" if versus is None else "-"
        p_value = significant = ""
        if versus is not None:
            lift = (
                f"{versus.lift:+.1%} vs {versus.baseline.name}" if versus.lift is not None else "-"
            )
            p_value = f"{versus.p_value:.4f}" if versus.p_value is not None else "-"
            significant = "yes" if versus.p_value is not None and versus.p_value < 0.05 else "no"
        grid.add_row(
            row.step_id,
            row.arm.name,
            str(row.arm.entered),
            str(row.arm.converted),
            f"{row.arm.rate:.1%}",
            lift,
            p_value,
            significant,
        )
    console.print(grid)
    console.print("p-value: two-sided two-proportion z-test; significant at 0.05")

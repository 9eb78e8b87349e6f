"""`journeys impact FILE` (and `journeys publish FILE --dry-run`): what publishing would do.

Thin: the use case is app/impact.py, the report domain/impact.py. Nothing is published and
nothing is written to the store.
"""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

from app.impact import MAX_DAYS, MAX_SAMPLE, ImpactOptions, preview, simulate_in_processes
from domain.impact import ImpactReport, StepInFlight
from domain.journey import JourneyDefinition
from domain.problems import JourneyError
from domain.send_policy import PolicyError, load_policy_file
from entrypoints.cli_audiences import load_segments
from entrypoints.cli_common import Wide, console, errors, fail, print_tables, service, table
from store.errors import StoreError
from workers.settings import get_settings

Sample = Annotated[
    int,
    typer.Option(
        min=0,
        max=MAX_SAMPLE,
        help="Customers to simulate: a seeded sample of the audience's members (or of the "
        "store's customers); 0: no simulated funnel.",
    ),
]
Days = Annotated[int, typer.Option(min=1, max=MAX_DAYS, help="Simulated days.")]
# Narrower terminals get entered and completed per version; skipped with --wide.
SKIPPED_FROM_WIDTH = 110


def impact_command(
    file: Annotated[Path, typer.Argument(help="A journey file (not yet published).")],
    sample: Sample = 200,
    days: Days = 30,
    seed: Annotated[int, typer.Option(help="Seed of the sample and the behaviour.")] = 7,
    as_of: Annotated[
        datetime | None,
        typer.Option(
            "--as-of",
            formats=["%Y-%m-%d"],
            help="Count the audience as of this day; default: today where its schedule runs.",
        ),
    ] = None,
    processes: Annotated[
        int, typer.Option(min=1, max=64, help="Simulation processes; default: one per core.")
    ] = os.cpu_count() or 1,
    as_json: Annotated[bool, typer.Option("--json", help="The report as JSON.")] = False,
    wide: Wide = False,
) -> None:
    """What publishing FILE would do: runs in flight per version and step and which of those
    steps it removes or changes, whom its audience would enroll now, and its simulated funnel
    next to the newest version's. Nothing is published, nothing is written to the store."""
    journey = checked(file)
    options = ImpactOptions(
        sample=sample, days=days, seed=seed, as_of=as_of.date() if as_of else None
    )
    show_impact(journey, str(file), options, processes=processes, as_json=as_json, wide=wide)


def checked(file: Path) -> JourneyDefinition:
    """The file's journey, or exit 1 with the problems `journeys validate` prints."""
    from entrypoints.cli import load_checked  # the command line registers this module

    try:
        return load_checked(file, set(load_segments(None)))
    except JourneyError as exc:
        for problem in exc.problems:
            errors.print(f"[red]✗[/red] {escape(str(problem))}", highlight=False)
        raise fail(f"{file} is not a valid journey; nothing was published") from exc


def show_impact(
    journey: JourneyDefinition,
    label: str,
    options: ImpactOptions,
    *,
    processes: int = os.cpu_count() or 1,
    as_json: bool = False,
    wide: bool = False,
) -> ImpactReport:
    """Build and print the report for one checked journey."""
    settings = get_settings()
    try:
        policy = load_policy_file(settings.policy_file) if options.sample else None
    except PolicyError as exc:
        raise fail(str(exc)) from exc
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
    # On stderr (stdout holds the report, or its JSON), redrawn by the simulation's own days
    # rather than by a thread: the simulation forks, and a process should not fork while
    # another of its threads runs.
    with Progress(*columns, TimeElapsedColumn(), console=errors, auto_refresh=False) as bar:
        steps: list[tuple[TaskID, int]] = []

        def finish() -> None:
            if steps:
                task, total = steps[-1]
                bar.update(task, total=total, completed=total)

        def phase(text: str, days: int | None) -> None:
            finish()
            steps.append((bar.add_task(text, total=days), days or 1))
            bar.refresh()

        def day(_: int) -> None:
            bar.advance(steps[-1][0])
            bar.refresh()

        try:
            report = preview(
                service(),
                journey,
                label,
                load_segments(None),
                options,
                simulate=simulate_in_processes(processes, on_day=day),
                policy=policy,
                workspace_timezone=settings.timezone,
                on_phase=phase,
            )
        except StoreError as exc:  # the projection moved on meanwhile, among others
            raise fail(str(exc)) from exc
        except RuntimeError as exc:  # the simulator could not run
            raise fail(f"the simulation failed: {exc}") from exc
        finish()
        bar.refresh()
    if as_json:
        console.print_json(report.model_dump_json())
    else:
        print_report(report, wide)
    return report


# --- printing -------------------------------------------------------------------------------


def _say(text: str) -> None:
    console.print(text, highlight=False, markup=False)


def print_report(report: ImpactReport, wide: bool = False) -> None:
    if report.published_version is None:
        _say(f"{report.journey_id}: {report.new_label}: a new journey, never published")
    else:
        _say(
            f"{report.journey_id}: {report.new_label} against v{report.published_version} "
            f"({report.status}): {report.summary}"
        )
    _say("Nothing was published; nothing was written to the store.")
    for note in report.notes:
        if not note.startswith("runs in flight"):
            _say(f"- {note}")
    if report.published_version is not None:
        _print_in_flight(report, wide)
    _print_audience(report)
    _print_funnel(report, wide)


def _fate(step: StepInFlight) -> str:
    if step.fate == "changed" and step.details:
        return "changed: " + "; ".join(step.details)
    return {
        "starting": "(not yet at a step)",
        "unknown": "(not a step of its version)",
    }.get(step.fate, step.fate)


def _print_in_flight(report: ImpactReport, wide: bool) -> None:
    total = report.runs_in_flight
    if not total:
        _say("Runs in flight: none.")
        return
    grid = table(
        "version",
        "step",
        "kind",
        "runs",
        "in the new version",
        title="Runs in flight",
        wide=wide,
        optional=("kind",),
    )
    for version in report.in_flight:
        for step in version.steps:
            grid.add_row(
                f"v{version.version}", step.step_id or "-", step.kind, f"{step.runs:,}", _fate(step)
            )
    print_tables(grid)
    for version in report.in_flight:
        _say(
            f"v{version.version}: {version.runs:,} in flight, {version.on_removed:,} on "
            f"removed steps, {version.on_changed:,} on changed steps"
        )
    affected = report.runs_on_affected_steps
    _say(
        f"{affected:,} of {total:,} runs sit on a removed or changed step. Runs in flight stay "
        "pinned to the version they started with: they go on as it says; only new entrants "
        "take the new version."
    )


def _print_audience(report: ImpactReport) -> None:
    audience = report.audience
    if audience is None:
        _say("Audience: none (customers enter by the trigger event).")
        return
    members = f"{audience.members:,} member{'s' if audience.members != 1 else ''}"
    eligible = (
        f"{audience.would_enroll:,} would be enrolled now"
        if not audience.stopped
        else f"none would be enrolled now ({audience.stopped}), {audience.would_enroll:,} otherwise"
    )
    _say(
        f"Audience: segment {audience.segment} as of {audience.as_of.isoformat()}: "
        f"{members}; {eligible} ({audience.blocked:,} already in the journey or kept out by "
        f"its re-entry policy, {audience.erased:,} erased). Nobody was enrolled."
    )


def _cells(counts: dict[str, int] | None, statuses: tuple[str, ...]) -> list[str]:
    if counts is None:
        return ["-" for _ in statuses]
    return [f"{counts.get(status, 0):,}" for status in statuses]


def _print_funnel(report: ImpactReport, wide: bool) -> None:
    funnel = report.funnel
    if funnel is None:
        return
    new = funnel.new
    title = f"Expected funnel, {new.days} days, simulated"
    labels = ([funnel.current.label] if funnel.current is not None else []) + ["new"]
    # Skipped matters for sends (no address, no consent): shown for both versions or neither.
    statuses: tuple[str, ...] = ("entered", "completed", "skipped")
    if not wide and console.width < SKIPPED_FROM_WIDTH:
        statuses = statuses[:2]
    headers = ["step", "kind"]
    for label in labels:
        headers += [f"{label} {status}" for status in statuses]
    grid = table(*headers, title=title, wide=wide, optional=("kind",))
    for row in funnel.rows:
        cells = [row.step_id, row.kind]
        if funnel.current is not None:
            cells += _cells(row.current, statuses)
        cells += _cells(row.new, statuses)
        grid.add_row(*cells)
    print_tables(grid)
    _say(
        f'Sample: {funnel.sample} (seed {funnel.seed}); "-": not a step of that version; '
        "nothing was written to the store."
    )
    for simulated in (funnel.current, new):
        if simulated is None:
            continue
        name = "new" if simulated is new else simulated.label
        runs = ", ".join(f"{n} {status}" for status, n in sorted(simulated.runs.items()))
        rate = simulated.converted / simulated.customers if simulated.customers else 0.0
        messages = ", ".join(f"{n:,} {status}" for status, n in sorted(simulated.messages.items()))
        _say(
            f"{name}: runs {runs or 'none'}; converted {simulated.converted:,} ({rate:.0%}); "
            f"messages {messages or 'none'} ({simulated.seconds:.1f}s)"
        )


def register(app: typer.Typer) -> None:
    app.command("impact")(impact_command)

"""`journeys import` and `journeys segments`: load a customer base, see who is in it.

Thin: parsing and rules live in domain/ (importing, projections, segments), the SQL in store/.
"""

from __future__ import annotations

import time
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from domain.importing import cdnow_profile, parse_cdnow
from domain.projections import STAGES, TIERS
from domain.segments import Segment, SegmentError, load_segments_file
from entrypoints.cli_common import Wide, console, errors, fail, print_tables, table
from store.errors import StoreError
from store.projections import ProjectionSummary
from store.store import Store
from workers.settings import get_settings

import_app = typer.Typer(help="Import customer histories as events.", no_args_is_help=True)
segments_app = typer.Typer(
    help="Customer projections (tiers, stages) and segments.", no_args_is_help=True
)

SHOWN_PROBLEMS = 20

AsOf = Annotated[
    datetime | None,
    typer.Option(
        "--as-of",
        formats=["%Y-%m-%d"],
        help="Project the base as of the end of this day (UTC), YYYY-MM-DD; default today.",
    ),
]
SegmentsFile = Annotated[
    Path | None,
    typer.Option("--file", help="Segments YAML; default JOURNEYS_SEGMENTS_FILE."),
]


def register(app: typer.Typer) -> None:
    app.add_typer(import_app, name="import")
    app.add_typer(segments_app, name="segments")


def open_store() -> Store:
    return Store.open(get_settings().db_url)


def as_of_day(value: datetime | None) -> date:
    return value.date() if value is not None else datetime.now(UTC).date()


def load_segments(file: Path | None) -> dict[str, Segment]:
    try:
        return load_segments_file(file or get_settings().segments_file)
    except SegmentError as exc:
        for problem in exc.problems:
            errors.print(f"[red]✗[/red] {problem}", highlight=False)
        raise fail(f"{len(exc.problems)} problem(s) in the segments file") from exc


# --- import ----------------------------------------------------------------------------------


@import_app.command("cdnow")
def import_cdnow(
    path: Annotated[Path, typer.Argument(help="CDNOW_master.txt", exists=True, dir_okay=False)],
    batch: Annotated[int, typer.Option(min=1, help="Events per transaction.")] = 5000,
) -> None:
    """Load CDNOW purchases as order_completed events; again is harmless (ids are stable)."""
    try:
        with path.open(encoding="utf-8") as lines:
            parsed = parse_cdnow(lines)
    except (OSError, UnicodeDecodeError) as exc:
        raise fail(f"{path}: cannot read: {exc}") from exc
    now = datetime.now(UTC)
    started = time.perf_counter()
    store = open_store()
    try:
        columns = (TextColumn("orders"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
        with Progress(*columns, console=console) as progress:
            task = progress.add_task("orders", total=len(parsed.events))

            def advance(done: int, total: int) -> None:
                progress.update(task, completed=done, total=total)

            counts = store.events.import_events(
                parsed.events,
                now,
                new_customer=lambda customer_id: cdnow_profile(customer_id, now),
                batch=batch,
                progress=advance,
            )
    except StoreError as exc:
        raise fail(str(exc)) from exc
    finally:
        store.close()
    elapsed = time.perf_counter() - started
    for problem in parsed.problems[:SHOWN_PROBLEMS]:
        errors.print(f"[red]✗[/red] {path}:{problem.line}: {problem.reason}", highlight=False)
    if len(parsed.problems) > SHOWN_PROBLEMS:
        errors.print(f"... and {len(parsed.problems) - SHOWN_PROBLEMS} more bad rows")
    console.print(
        f"{counts.imported} imported, {counts.duplicates} duplicates ignored, "
        f"{counts.customers_created} customers created, {len(parsed.problems)} bad rows "
        f"({len(parsed.events)} orders read in {elapsed:.1f}s)"
    )
    if parsed.problems:
        raise typer.Exit(1)


# --- segments --------------------------------------------------------------------------------


@segments_app.command("summary")
def summary(as_of: AsOf = None, wide: Wide = False) -> None:
    """Rebuild the projections as of a date and show the base by value tier and stage."""
    day = as_of_day(as_of)
    store = open_store()
    try:
        started = time.perf_counter()
        rebuilt = store.projections.rebuild(day)
        elapsed = time.perf_counter() - started
        result = store.projections.summary(day)
    finally:
        store.close()
    console.print(
        f"projections rebuilt as of {day.isoformat()}: {rebuilt} customers in {elapsed:.1f}s"
    )
    print_tables(summary_table(result, wide))
    console.print(f"churn risk flagged: {result.churn_risk}")


def summary_table(result: ProjectionSummary, wide: bool = False) -> Table:
    """Stages down, tiers across (narrow enough for an 80-column terminal)."""
    tiers = [*TIERS, "none"]
    grid = table("stage", *tiers, "total", title=f"Customers as of {result.as_of}", wide=wide)
    for column in grid.columns[1:]:
        column.justify = "right"
    for stage in STAGES:
        cells = [result.count(tier, stage) for tier in tiers]
        grid.add_row(stage, *map(str, cells), str(sum(cells)))
    totals = [sum(result.counts.get(tier, {}).values()) for tier in tiers]
    grid.add_row(
        Text("total", style="bold"), *map(str, totals), Text(str(result.total), style="bold")
    )
    return grid


@segments_app.command("list")
def list_segments(file: SegmentsFile = None, wide: Wide = False) -> None:
    """The segments in the file (checked) with their descriptions."""
    segments = load_segments(file)
    grid = table("segment", "description", "fields", wide=wide, lines=None)
    for name, segment in segments.items():
        grid.add_row(name, segment.description, ", ".join(sorted(segment.fields())) or "events")
    print_tables(grid)


@segments_app.command("preview")
def preview(
    name: str,
    as_of: AsOf = None,
    sample: Annotated[int, typer.Option(min=0, help="How many members to show.")] = 10,
    file: SegmentsFile = None,
    wide: Wide = False,
) -> None:
    """A segment's size and a random sample of its members (rebuilds stale projections)."""
    segments = load_segments(file)
    segment = segments.get(name)
    if segment is None:
        raise fail(f"unknown segment {name!r}; known segments: {', '.join(segments)}")
    day = as_of_day(as_of)
    store = open_store()
    try:
        if segment.uses_projection() and store.projections.built_as_of() != day:
            rebuilt = store.projections.rebuild(day)
            console.print(f"projections rebuilt as of {day.isoformat()} ({rebuilt} customers)")
        size = store.segments.count(segment, day)
        members = store.segments.sample(segment, sample, day) if sample else []
    except StoreError as exc:
        raise fail(str(exc)) from exc
    finally:
        store.close()
    console.print(f"[bold]{name}[/bold]: {size} members as of {day.isoformat()}")
    if segment.description:
        console.print(segment.description)
    if not members:
        return
    grid = table(
        "customer",
        "email",
        "tier",
        "stage",
        "orders",
        "revenue",
        "recency",
        "risk",
        caption="recency: days since the last order; risk: churn risk flagged",
        wide=wide,
    )
    for m in members:
        grid.add_row(
            m.customer_id,
            m.email or "-",
            m.tier or "-",
            m.stage or "-",
            "-" if m.order_count is None else str(m.order_count),
            "-" if m.revenue is None else f"{m.revenue:.2f}",
            "-" if m.recency_days is None else str(m.recency_days),
            "-" if m.churn_risk is None else ("yes" if m.churn_risk else "no"),
        )
    print_tables(grid)

"""`journeys migrate JOURNEY --to N`: move runs in flight to a newer version.

Each run waiting on a timer or an event moves at the step the mapping gives for the step it
waits in (same id and kind by default; `--map OLD=NEW` for the rest), keeping its trigger, its
step outputs and the time it has waited. The report says how many moved, stayed and why;
`--dry-run` only reports. The same command again resumes it.
"""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer

from app.journeys import UnknownJourney
from app.run_migration import MigrationReport, RunMigration
from domain.run_migration import MigrationProblem, parse_maps
from entrypoints.cli_common import (
    Wide,
    console,
    counting,
    fail,
    print_tables,
    service,
    table,
    unreachable,
)
from entrypoints.cli_run_ops import Key, Reason, Where, _step


def migrate(
    journey: Annotated[str, typer.Argument(help="The journey whose runs move.")],
    to: Annotated[int, typer.Option("--to", help="The newer version to move them to.")],
    maps: Annotated[
        list[str] | None,
        typer.Option(
            "--map",
            help="OLD=NEW: runs at step OLD go to step NEW of the newer version (repeatable). "
            "Steps with the same id and kind map by themselves.",
            metavar="OLD=NEW",
        ),
    ] = None,
    where: Where = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Report what would move and stay; change nothing.")
    ] = False,
    reason: Reason = "",
    key: Key = None,
    wide: Wide = False,
) -> None:
    """Move runs in flight to a newer version, at a safe point (while they wait)."""
    step = _step(where)
    if not reason.strip() and not dry_run:
        raise fail("--reason must say why (kept in each run's trace and the audit log)")
    try:
        explicit = parse_maps(maps or [])
        report = asyncio.run(
            _run(
                RunMigration(service()),
                journey,
                to,
                reason or "dry run",
                explicit,
                step,
                dry_run,
                key,
            )
        )
    except MigrationProblem as exc:
        raise fail(f"--{exc.field}: {exc.message}") from exc
    except UnknownJourney as exc:
        raise fail(f"no journey {journey!r}: publish it first") from exc
    except RuntimeError as exc:
        raise unreachable(exc) from exc
    _print(report, wide)
    if report.refused:
        raise typer.Exit(1)


async def _run(
    migration: RunMigration,
    journey: str,
    to: int,
    reason: str,
    explicit: dict[str, str],
    step: str | None,
    dry_run: bool,
    key: str | None,
) -> MigrationReport:
    if dry_run:
        return await migration.migrate(
            journey, to, reason, explicit=explicit, step=step, dry_run=True, key=key
        )
    with counting("migrate") as (on_start, on_done):
        return await migration.migrate(
            journey,
            to,
            reason,
            explicit=explicit,
            step=step,
            key=key,
            on_start=on_start,
            on_done=on_done,
        )


def _print(report: MigrationReport, wide: bool) -> None:
    grid = table("from", "step", "runs", f"to v{report.to_version}", "or stays because", wide=wide)
    for row in report.plan:
        grid.add_row(f"v{row.version}", row.step or "-", str(row.runs), row.target or "-", row.why)
    print_tables(grid)
    if report.dry_run:
        console.print(
            f"dry run: {report.selected} selected, {report.moved} would move, "
            f"{report.stayed} would stay; nothing changed (a run mid-send when the migration "
            "runs refuses, and stays)",
            highlight=False,
        )
        return
    console.print(
        f"{report.selected} selected: {report.moved} moved, {report.already} moved before "
        f"(skipped), {report.stayed} stayed, {report.refused} refused",
        highlight=False,
    )
    refused = {o.detail for o in report.outcomes if o.outcome == "refused"}
    if refused:
        why = table("runs", "refused because", wide=wide)
        for reason, count in report.reasons.items():
            if reason in refused:
                why.add_row(str(count), reason)
        print_tables(why)
    console.print(f"key {report.key}: run the same command again to resume", highlight=False)


def register(app: typer.Typer) -> None:
    app.command("migrate")(migrate)

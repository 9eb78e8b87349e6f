"""The `journeys` command: run the processes, manage journeys. Thin: rules live elsewhere."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Annotated

import typer
import yaml
from rich.markup import escape
from temporalio.service import RPCError

from app import journey_pauses
from app.bootstrap import (
    MissingSecret,
    check_shared_secrets,
    open_store,
    resolve_api_key,
    run_api,
    run_dev,
    until_signal,
)
from app.bootstrap import run_worker as _run_worker
from app.journey_starts import publish_problems
from app.journeys import JourneyPaused, JourneyService
from app.schedules import sync_published
from domain.event_catalog import EventWarning, event_name_warnings
from domain.journey import JourneyDefinition
from domain.journey_graph import start_problems
from domain.loader import load_journey_file
from domain.problems import JourneyError, Problem
from entrypoints import (
    cli_audiences,
    cli_audit,
    cli_broadcasts,
    cli_cases,
    cli_catalog,
    cli_changes,
    cli_customers,
    cli_delivery,
    cli_impact,
    cli_keys,
    cli_messages,
    cli_migrate,
    cli_privacy,
    cli_simulate,
    cli_support,
)
from entrypoints.cli_audiences import load_segments
from entrypoints.cli_common import Wide, console, errors, fail, print_tables, service, table
from entrypoints.cli_enrollment import audiences_app
from entrypoints.cli_reports import report_app
from store.errors import StoreError
from workers.logging_setup import configure
from workers.settings import Settings, get_settings

app = typer.Typer(
    help="journeys: event-sourced customer journeys on Temporal.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


def load_checked(path: Path, segment_names: set[str]) -> JourneyDefinition:
    """Load a journey file and check what the file alone cannot: its audience's segment exists."""
    journey = load_journey_file(path)
    if journey.audience and journey.audience.segment not in segment_names:
        known = ", ".join(sorted(segment_names)) or "none"
        raise JourneyError(
            [
                Problem(
                    f"unknown segment {journey.audience.segment!r} (known: {known})",
                    field="audience.segment",
                    file=str(path),
                )
            ]
        )
    return journey


def journey_files(paths: list[Path]) -> list[Path]:
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files += sorted([*path.glob("*.yaml"), *path.glob("*.yml")])
        else:
            files.append(path)
    return files


# --- processes -----------------------------------------------------------------------------


# Each runs until SIGTERM or Ctrl-C, then stops cleanly (app/bootstrap.py) and exits 0.


@app.command()
def dev() -> None:
    """Run the embedded stack: Temporal dev server (SQLite file), SMTP capture, worker, API."""
    settings = get_settings()
    try:
        asyncio.run(run_dev(settings, console))
    except KeyboardInterrupt:
        pass
    except (RuntimeError, TimeoutError) as exc:
        raise fail(str(exc)) from exc
    console.print("stopped")


def _shared_secrets(settings: Settings) -> None:
    """Exit 2 with one line naming the missing variable (never wrapped: logs grep it)."""
    try:
        check_shared_secrets(settings)
    except MissingSecret as exc:
        errors.print(f"[red]error:[/red] {escape(str(exc))}", highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None


@app.command()
def worker() -> None:
    """Run a worker against JOURNEYS_TEMPORAL_ADDRESS (needs JOURNEYS_SECRET_KEY)."""
    settings = get_settings()
    configure(settings)
    _shared_secrets(settings)
    store = open_store(settings)
    try:
        asyncio.run(until_signal(lambda stop: _run_worker(settings, store, stop)))
    except KeyboardInterrupt:
        pass
    finally:
        store.close()
    console.print("stopped")


@app.command()
def api() -> None:
    """Serve the HTTP API on JOURNEYS_API_HOST:JOURNEYS_API_PORT (needs JOURNEYS_API_KEY and
    JOURNEYS_SECRET_KEY)."""
    settings = get_settings()
    configure(settings)
    try:
        key = resolve_api_key(settings, create=False)
    except RuntimeError as exc:
        raise fail(str(exc)) from exc
    _shared_secrets(settings)
    store = open_store(settings)
    try:
        asyncio.run(until_signal(lambda stop: run_api(settings, store, key, stop)))
    except KeyboardInterrupt:
        pass
    finally:
        store.close()
    console.print("stopped")


# --- journeys ------------------------------------------------------------------------------


@app.command()
def validate(
    paths: Annotated[list[Path], typer.Argument(help="Journey files or folders.")],
) -> None:
    """Check journey files without publishing; every problem names file, step and field.

    An event no one records or sends (not the product's, not a built-in journey's, not one a
    published journey reacts to) is a warning, with the closest known name: exit code 0.
    """
    bad = 0
    segment_names = set(load_segments(None))
    published, unread = cli_catalog.published_if_reachable()
    warnings: list[EventWarning] = []
    loaded: list[tuple[str, JourneyDefinition]] = []
    for path in journey_files(paths):
        try:
            journey = load_checked(path, segment_names)
        except JourneyError as exc:
            bad += 1
            for problem in exc.problems:
                errors.print(f"[red]✗[/red] {escape(str(problem))}", highlight=False)
            continue
        loaded.append((str(path), journey))
    # Start steps across the files (and the published journeys, when the store was read).
    starts = [] if unread else start_problems(loaded, {j.id: j for j in published})
    for source, journey in loaded:
        mine = [problem for problem in starts if problem.file == source]
        for problem in mine:
            errors.print(f"[red]✗[/red] {escape(str(problem))}", highlight=False)
        if mine:
            bad += 1
            continue
        shown = escape(f"{source}: {journey.id} ({len(journey.steps)} steps)")
        console.print(f"[green]✓[/green] {shown}")
        warnings += event_name_warnings(journey, published, source)
    _print_event_warnings(warnings)
    if warnings and unread:
        errors.print(
            f"(published journeys not read, so not counted: {unread})",
            highlight=False,
            markup=False,
        )
    if bad:
        raise typer.Exit(1)


def _print_event_warnings(warnings: list[EventWarning]) -> None:
    for warning in warnings:
        errors.print(f"[yellow]warning:[/yellow] {escape(str(warning))}", highlight=False)
    if any(warning.suggestion is None for warning in warnings):
        errors.print("known events: `journeys events types`", highlight=False, markup=False)


@app.command()
def publish(
    paths: Annotated[list[Path], typer.Argument(help="Journey files or folders.")],
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run", help="Publish nothing: show what it would do (as `journeys impact`)."
        ),
    ] = False,
) -> None:
    """Validate and publish journeys; an unchanged file keeps its current version."""
    svc = service()
    files = journey_files(paths)
    problems: list[str] = []
    journeys = []
    segment_names = set(load_segments(None))
    for path in files:
        try:
            journeys.append(load_checked(path, segment_names))
        except JourneyError as exc:
            problems += [str(p) for p in exc.problems]
    if not problems:  # start steps: their targets exist, no cycle of starts without a wait
        together = [(str(path), journey) for path, journey in zip(files, journeys, strict=True)]
        problems += [str(p) for p in publish_problems(svc.store, together)]
    if problems:  # all or nothing: one bad file publishes none
        for problem in problems:
            errors.print(f"[red]✗[/red] {escape(problem)}", highlight=False)
        raise fail("nothing was published")
    published = cli_catalog.published_journeys(svc)
    _print_event_warnings(
        [
            warning
            for path, journey in zip(files, journeys, strict=True)
            for warning in event_name_warnings(journey, published, str(path))
        ]
    )
    if dry_run:
        for path, journey in zip(files, journeys, strict=True):
            cli_impact.show_impact(journey, str(path), cli_impact.ImpactOptions())
        return
    for journey in journeys:
        record = svc.publish_definition(journey, together=journeys)
        state = "published" if record.created else "unchanged"
        console.print(f"{record.journey_id} v{record.version}: {state}")
    if any(journey.audience for journey in journeys):
        _sync_quietly(svc)


@app.command("list")
def list_journeys(wide: Wide = False) -> None:
    """List published journeys with their newest version and status."""
    grid = table(
        "journey",
        "version",
        "status",
        "category",
        "trigger",
        "name",
        "published (UTC)",
        wide=wide,
        optional=("published (UTC)", "name"),
    )
    for summary in service().journeys():
        grid.add_row(
            summary.journey_id,
            f"v{summary.latest_version}",
            summary.status,
            summary.category,
            summary.trigger_event or "",
            summary.name,
            f"{summary.published_at:%Y-%m-%d %H:%M}",
        )
    print_tables(grid)


@app.command()
def show(
    journey_id: str,
    version: Annotated[int | None, typer.Option(help="A published version.")] = None,
) -> None:
    """Print a published journey (newest version unless --version)."""
    try:
        journey = service().journey(journey_id, version)
    except StoreError as exc:
        raise fail(str(exc)) from exc
    console.print(
        yaml.safe_dump(
            journey.model_dump(mode="json", by_alias=True, exclude_none=True),
            sort_keys=False,
            allow_unicode=True,
        ),
        highlight=False,
        markup=False,
    )


def _set_status(journey_id: str, status: str, *, hold_sends: bool = False) -> None:
    svc = service()
    try:
        if status == "paused":
            summary = journey_pauses.pause(svc, journey_id, hold_sends=hold_sends)
            released = 0
        else:
            resumed = asyncio.run(journey_pauses.resume(svc, journey_id))
            summary, released = resumed.summary, resumed.released
    except StoreError as exc:
        raise fail(str(exc)) from exc
    held = ", sends held until resume" if summary.hold_sends else ""
    console.print(f"{summary.journey_id}: {summary.status}{held}", highlight=False)
    if released:
        console.print(f"released the held sends of {released} running run(s)", highlight=False)
    if svc.journey(journey_id).audience is not None:
        _sync_quietly(svc)


def _sync_quietly(svc: JourneyService) -> None:
    """Bring audience schedules in line; a Temporal that cannot be reached is only a warning."""
    try:
        changes = asyncio.run(asyncio.wait_for(sync_published(svc), timeout=10))
    except (RPCError, RuntimeError, OSError, TimeoutError) as exc:
        errors.print(
            f"[yellow]warning:[/yellow] audience schedules not synced ({exc}); "
            "run `journeys audiences sync` when Temporal is up",
            highlight=False,
        )
        return
    for change in changes:
        console.print(change)


@app.command()
def pause(
    journey_id: str,
    hold_sends: Annotated[
        bool,
        typer.Option(
            "--hold-sends",
            help="Also hold every run of the journey at its next send until `resume`.",
        ),
    ] = False,
) -> None:
    """Stop new entrants; runs already in the journey go on to their end.

    With --hold-sends, every run also waits at its next send (visible in its trace) until the
    journey is resumed; quiet hours and caps then apply at release time.
    """
    _set_status(journey_id, "paused", hold_sends=hold_sends)


@app.command()
def resume(journey_id: str) -> None:
    """Let new entrants in again (and release the sends a --hold-sends pause held)."""
    _set_status(journey_id, "active")


@app.command()
def schema() -> None:
    """Print the JSON Schema of journey files (point your editor's YAML plugin at it)."""
    print(json.dumps(JourneyDefinition.model_json_schema(by_alias=True), indent=2))


@app.command()
def enroll(
    journey_id: str,
    customer_id: str,
    properties: Annotated[str, typer.Option(help="JSON object for the trigger.")] = "{}",
    request_id: Annotated[
        str | None, typer.Option(help="Repeat with the same id and it has one effect.")
    ] = None,
) -> None:
    """Put a customer into a journey now, as if its trigger had fired."""
    try:
        props = json.loads(properties)
    except json.JSONDecodeError as exc:
        raise fail(f"--properties is not JSON: {exc}") from exc
    try:
        delivery = asyncio.run(service().enroll(journey_id, customer_id, props, request_id))
    except (StoreError, JourneyPaused) as exc:
        raise fail(str(exc)) from exc
    console.print(f"{delivery.action}: {delivery.workflow_id} {delivery.reason}".rstrip())


cli_customers.register(app)
cli_delivery.register(cli_customers.events_app, cli_customers.runs_app)
cli_catalog.register(cli_customers.events_app)
cli_audiences.register(app)
cli_simulate.register(app)
cli_messages.register(app)
cli_privacy.register(cli_customers.customers_app)
cli_cases.register(app)
cli_keys.register(app)
cli_changes.register(app)
cli_impact.register(app)
cli_migrate.register(app)
cli_audit.register(app)
cli_broadcasts.register(app)
cli_support.register(app, report_app)
app.add_typer(report_app, name="report")
app.add_typer(audiences_app, name="audiences")


def main() -> None:
    app()


if __name__ == "__main__":
    main()

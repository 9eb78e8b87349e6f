"""`journeys customers`, `journeys events` and `journeys runs`: the support side of the CLI."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from temporalio.service import RPCError

from app.journeys import IngestResult, JourneyService, Timeline
from domain.customers import CustomerUpsert
from domain.events import CustomerEvent
from entrypoints.cli_common import console, errors, fail, service, table
from store.errors import StoreError

customers_app = typer.Typer(help="Create customers and read their timelines.", no_args_is_help=True)
events_app = typer.Typer(help="Send customer events into the log.", no_args_is_help=True)
runs_app = typer.Typer(help="Look inside journey runs.", no_args_is_help=True)


def _key_values(pairs: list[str], option: str) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key:
            raise fail(f"{option} {pair!r}: write it as key=value")
        try:
            values[key] = json.loads(raw)
        except json.JSONDecodeError:
            values[key] = raw
    return values


def _validation_message(exc: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(p) for p in error['loc']) or 'value'}: {error['msg']}"
        for error in exc.errors()
    )


@customers_app.command("upsert")
def upsert(
    customer_id: str,
    email: Annotated[str | None, typer.Option()] = None,
    phone: Annotated[str | None, typer.Option(help="E.164, e.g. +4915112345678")] = None,
    timezone: Annotated[str | None, typer.Option(help="IANA name, e.g. Europe/Berlin")] = None,
    locale: Annotated[str | None, typer.Option(help="e.g. en, zh-CN")] = None,
    attr: Annotated[list[str] | None, typer.Option(help="key=value (JSON values allowed)")] = None,
    tag: Annotated[list[str] | None, typer.Option(help="Replaces the tags when given.")] = None,
) -> None:
    """Create a customer or change the fields you pass; others keep their values."""
    try:
        change = CustomerUpsert(
            customer_id=customer_id,
            email=email,
            phone=phone,
            timezone=timezone,
            locale=locale,
            attributes=_key_values(attr, "--attr") if attr else None,
            tags=tag,
        )
    except ValidationError as exc:
        raise fail(_validation_message(exc)) from exc
    profile = service().upsert_customer(change)
    console.print_json(profile.model_dump_json())


@customers_app.command("show")
def show_customer(customer_id: str) -> None:
    """A customer's timeline: profile, events, messages, and runs with their current step."""
    try:
        timeline = service().timeline(customer_id)
    except StoreError as exc:
        raise fail(str(exc)) from exc
    print_timeline(timeline)


def print_timeline(timeline: Timeline) -> None:
    p = timeline.profile
    console.print(
        f"[bold]{p.customer_id}[/bold]  {p.email or '-'}  {p.phone or '-'}  "
        f"{p.timezone}  {p.locale}  tags={','.join(p.tags) or '-'}"
    )
    if p.attributes:
        console.print(f"attributes: {json.dumps(p.attributes, ensure_ascii=False)}")
    events = table("occurred", "type", "event id", "properties", title="Events")
    for event in timeline.events:
        events.add_row(
            event.occurred_at.isoformat(timespec="seconds"),
            event.type,
            event.event_id,
            json.dumps(event.properties, ensure_ascii=False)[:80],
        )
    messages = table(
        "requested", "journey", "step", "channel", "status", "subject", title="Messages"
    )
    for message in timeline.messages:
        messages.add_row(
            message.requested_at.isoformat(timespec="seconds"),
            message.journey_id or "",
            message.step_id or "",
            message.channel,
            message.status + (f" ({message.detail})" if message.detail else ""),
            message.subject,
        )
    runs = table(
        "journey", "version", "status", "current step", "entered", "workflow id", title="Runs"
    )
    for view in timeline.runs:
        run = view.run
        runs.add_row(
            run.journey_id,
            str(run.version),
            run.status + (f" ({run.end_reason})" if run.end_reason else ""),
            run.current_step or "-",
            run.entered_at.isoformat(timespec="seconds"),
            run.workflow_id,
        )
    for grid in (events, messages, runs):
        console.print(grid)


def _print_results(results: list[IngestResult]) -> None:
    for result in results:
        state = "duplicate (ignored)" if result.duplicate else "appended"
        console.print(f"{result.event_id}: {state}")
        for d in result.deliveries:
            console.print(f"  {d.journey_id}: {d.action} {d.workflow_id or ''} {d.reason}".rstrip())


@events_app.command("send")
def send(
    customer: Annotated[str | None, typer.Option(help="Customer id.")] = None,
    type_: Annotated[str | None, typer.Option("--type", help="Event type.")] = None,
    prop: Annotated[list[str] | None, typer.Option(help="key=value property.")] = None,
    event_id: Annotated[str | None, typer.Option(help="Defaults to a new uuid.")] = None,
    occurred_at: Annotated[
        str | None, typer.Option(help="ISO 8601 with a timezone; defaults to now.")
    ] = None,
    file: Annotated[
        Path | None, typer.Option(help="A JSONL file, one event per line.", exists=True)
    ] = None,
    batch: Annotated[int, typer.Option(help="Events per request when sending a file.")] = 100,
) -> None:
    """Send one event (--customer --type), or every line of a JSONL file with a progress bar."""
    svc = service()
    if file is not None:
        raise typer.Exit(asyncio.run(_send_file(svc, file, batch)))
    if not customer or not type_:
        raise fail("give --customer and --type, or --file")
    try:
        event = CustomerEvent(
            event_id=event_id or uuid.uuid4().hex,
            customer_id=customer,
            type=type_,
            occurred_at=occurred_at or datetime.now(UTC),
            properties=_key_values(prop or [], "--prop"),
        )
    except ValidationError as exc:
        raise fail(_validation_message(exc)) from exc
    try:
        _print_results(asyncio.run(svc.ingest([event])))
    except StoreError as exc:
        raise fail(str(exc)) from exc


def read_events(file: Path) -> tuple[list[CustomerEvent], list[str]]:
    """The file's valid events, and one problem per bad line naming its number."""
    events: list[CustomerEvent] = []
    problems: list[str] = []
    with file.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                events.append(CustomerEvent.model_validate_json(line))
            except ValidationError as exc:
                problems.append(f"{file}:{number}: {_validation_message(exc)}")
    return events, problems


async def _send_file(svc: JourneyService, file: Path, batch: int) -> int:
    events, problems = read_events(file)
    for problem in problems:
        errors.print(f"[red]✗[/red] {problem}", highlight=False)
    appended = duplicates = started = 0
    rejected: list[str] = []
    columns = (TextColumn("events"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console) as progress:
        task = progress.add_task("events", total=len(events))
        for start in range(0, len(events), batch):
            chunk = events[start : start + batch]
            try:
                results = await svc.ingest(chunk)
            except StoreError:  # one unknown customer refuses its batch: send one by one
                results = []
                for event in chunk:
                    try:
                        results += await svc.ingest([event])
                    except StoreError as exc:
                        rejected.append(f"{event.event_id}: {exc}")
            for result in results:
                duplicates += result.duplicate
                appended += not result.duplicate
                started += sum(d.action == "started" for d in result.deliveries)
            progress.advance(task, len(chunk))
    for reason in rejected:
        errors.print(f"[red]✗[/red] {reason}", highlight=False)
    console.print(
        f"{appended} appended, {duplicates} duplicates ignored, {started} runs started, "
        f"{len(problems)} bad lines, {len(rejected)} rejected"
    )
    return 1 if problems or rejected else 0


@runs_app.command("show")
def show_run(workflow_id: str) -> None:
    """Ask a run where it is and what it did (a query to the running workflow)."""
    try:
        snapshot = asyncio.run(service().run_status(workflow_id))
    except RPCError as exc:
        raise fail(f"{workflow_id}: {exc.message}") from exc
    console.print(
        f"[bold]{snapshot.journey_id}[/bold] v{snapshot.version} for {snapshot.customer_id}: "
        f"at {snapshot.position or '-'}, waiting for {snapshot.waiting or 'nothing'}"
    )
    if snapshot.goal:
        console.print(f"goal reached: {snapshot.goal.model_dump_json()}")
    grid = table("step", "kind", "status", "detail", "at")
    for record in snapshot.history:
        data = record.model_dump(mode="json")
        grid.add_row(*(str(data.get(k, "")) for k in ("step_id", "kind", "status", "detail", "at")))
    console.print(grid)


def register(app: typer.Typer) -> None:
    app.add_typer(customers_app, name="customers")
    app.add_typer(events_app, name="events")
    app.add_typer(runs_app, name="runs")

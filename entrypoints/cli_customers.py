"""`journeys customers`, `journeys events` and `journeys runs`: the support side of the CLI."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from temporalio.client import WorkflowQueryFailedError, WorkflowQueryRejectedError
from temporalio.service import RPCError, RPCStatusCode

from app.journeys import IngestResult, JourneyService, Timeline
from domain.customers import CustomerUpsert
from domain.events import CustomerEvent
from domain.privacy import CustomerErased
from domain.projections import CustomerMetrics
from entrypoints import cli_run_ops
from entrypoints.cli_common import (
    Wide,
    console,
    errors,
    fail,
    print_tables,
    service,
    table,
    unreachable,
)
from store.errors import StoreError
from store.store import Store

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
    try:
        profile = service().upsert_customer(change)
    except CustomerErased as exc:
        raise fail(str(exc)) from exc
    new = profile.created_at == profile.updated_at
    fields = [
        profile.email or "no email",
        profile.phone or "no phone",
        profile.timezone or "UTC (no timezone)",
        profile.locale,
    ]
    if profile.attributes:
        fields.append(f"attributes {json.dumps(profile.attributes, ensure_ascii=False)}")
    console.print(
        f"{profile.customer_id} {'created' if new else 'updated'}: {', '.join(fields)}",
        highlight=False,
        markup=False,
    )


@customers_app.command("show")
def show_customer(customer_id: str, wide: Wide = False) -> None:
    """A customer's timeline: profile, value tier, stage and churn risk, events, messages, and
    runs with their current step."""
    svc = service()
    try:
        timeline = svc.timeline(customer_id)
    except StoreError as exc:
        raise fail(str(exc)) from exc
    metrics, built = customer_metrics(svc.store, customer_id)
    print_timeline(timeline, metrics, built, wide)


def print_timeline(
    timeline: Timeline, metrics: CustomerMetrics | None, built: date | None, wide: bool = False
) -> None:
    p = timeline.profile
    console.print(
        f"[bold]{escape(p.customer_id)}[/bold]  "
        + escape(
            f"{p.email or '-'}  {p.phone or '-'}  {p.timezone}  {p.locale}  "
            f"tags={','.join(p.tags) or '-'}"
        ),
        highlight=False,
    )
    if p.attributes:
        console.print(
            f"attributes: {json.dumps(p.attributes, ensure_ascii=False)}",
            highlight=False,
            markup=False,
        )
    print_metrics(metrics, built)
    events = table("occurred", "type", "event id", "properties", title="Events (UTC)", wide=wide)
    for event in timeline.events:
        events.add_row(
            f"{event.occurred_at.astimezone(UTC):%Y-%m-%d %H:%M}",
            event.type,
            event.event_id,
            json.dumps(event.properties, ensure_ascii=False) if event.properties else "",
        )
    messages = table(
        "requested",
        "journey/step",
        "channel",
        "status",
        "subject",
        title="Messages (UTC)",
        wide=wide,
        optional=("channel",),
    )
    for message in timeline.messages:
        messages.add_row(
            f"{message.requested_at.astimezone(UTC):%Y-%m-%d %H:%M}",
            f"{message.journey_id or '-'}/{message.step_id or '-'}",
            message.channel,
            message.status + (f" ({message.detail})" if message.detail else ""),
            message.subject,
        )
    runs = table(
        "workflow id", "version", "status", "current step", "entered", title="Runs (UTC)", wide=wide
    )
    for view in timeline.runs:
        run = view.run
        runs.add_row(
            run.workflow_id,
            f"v{run.version}",
            run.status + (f" ({run.end_reason})" if run.end_reason else ""),
            run.current_step or "-",
            f"{run.entered_at.astimezone(UTC):%Y-%m-%d %H:%M}",
        )
    print_tables(events, messages, runs)


def customer_metrics(store: Store, customer_id: str) -> tuple[CustomerMetrics | None, date | None]:
    """The customer's row of the projections `journeys segments summary` builds (the one runs
    read as `profile.metrics`), and the date they were built as of. Never built: built now,
    as of today, as `segments preview` does; built as of another day: left as they are."""
    built = store.projections.built_as_of()
    if built is None:
        built = datetime.now(UTC).date()
        store.projections.rebuild(built)
    return store.projections.get(customer_id), built


def print_metrics(metrics: CustomerMetrics | None, built: date | None) -> None:
    if metrics is None:
        console.print(
            f"value tier, stage, churn risk: not projected yet (projections are as of {built}; "
            "`journeys segments summary` rebuilds them)",
            highlight=False,
        )
        return
    rfm = metrics.rfm_total
    tier = metrics.tier or "none (no order yet)"
    scores = f" (RFM {metrics.r_score}+{metrics.f_score}+{metrics.m_score}={rfm})" if rfm else ""
    risk = "yes" if metrics.churn_risk else "no"
    console.print(
        f"value tier: {tier}{scores} · stage: {metrics.stage} · churn risk: {risk} "
        f"(as of {metrics.as_of.isoformat()})",
        highlight=False,
    )
    for reason in metrics.churn_reasons:
        console.print(f"  {reason.code.replace('_', ' ')}: {reason.detail}", highlight=False)


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


# What else a workflow id can name, by its first part, and where to look at it instead.
OTHER_WORKFLOWS = {
    "case": "a complaint case: see `journeys cases show {rest}`",
    "audience": "an audience enrollment: its progress is in the Temporal UI",
}


@runs_app.command("show")
def show_run(workflow_id: str, wide: Wide = False) -> None:
    """Ask a run where it is and what it did (a query to the running workflow).

    WORKFLOW_ID is a run's id as `customers show` lists it: journey/<journey>/<customer>[/...].
    """
    kind, _, rest = workflow_id.partition("/")
    if kind != "journey" or not rest:
        other = OTHER_WORKFLOWS.get(kind, "").format(rest=rest)
        raise fail(
            f"{workflow_id} is not a journey run"
            + (f" but {other}" if other else "")
            + "; run ids look like journey/<journey>/<customer>"
        )
    try:
        snapshot = asyncio.run(service().run_status(workflow_id))
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            raise fail(
                f"no run {workflow_id} in Temporal; `journeys customers show CUSTOMER` lists "
                "a customer's runs"
            ) from exc
        raise fail(f"{workflow_id}: {exc.message}") from exc
    except (WorkflowQueryFailedError, WorkflowQueryRejectedError) as exc:
        raise fail(f"{workflow_id} did not answer: {exc}") from exc
    except RuntimeError as exc:
        raise unreachable(exc) from exc
    console.print(
        f"[bold]{escape(snapshot.journey_id)}[/bold] "
        + escape(
            f"v{snapshot.version} for {snapshot.customer_id}: at {snapshot.position or '-'}, "
            f"waiting for {snapshot.waiting or 'nothing'}"
        ),
        highlight=False,
    )
    if snapshot.goal:
        goal = snapshot.goal
        console.print(
            f"goal reached: {goal.goal} (event {goal.event_id}"
            + (", converted)" if goal.converted else ")"),
            highlight=False,
            markup=False,
        )
    grid = table("step", "kind", "status", "detail", "at (UTC)", wide=wide)
    for record in snapshot.history:
        grid.add_row(
            record.step_id,
            record.kind,
            record.status,
            record.detail,
            f"{record.at.astimezone(UTC):%Y-%m-%d %H:%M:%S}",
        )
    print_tables(grid)


def register(app: typer.Typer) -> None:
    app.add_typer(customers_app, name="customers")
    app.add_typer(events_app, name="events")
    app.add_typer(runs_app, name="runs")
    cli_run_ops.register(runs_app)

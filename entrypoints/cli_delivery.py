"""CLI for delivery and reconciliation: parked events, retrying them, runs against Temporal."""

from __future__ import annotations

import asyncio

import typer

from app.reconcile import reconcile
from entrypoints.cli_common import Wide, console, fail, print_tables, service, table


def failed_events(
    customer: str | None = typer.Option(None, "--customer", help="Only this customer's."),
    limit: int = typer.Option(50, min=1, max=1000),
    wide: Wide = False,
) -> None:
    """Events whose delivery failed for a reason that will not heal by itself (parked)."""
    parked = service().store.deliveries.parked(limit, customer)
    if not parked:
        console.print("no parked deliveries")
        return
    grid = table("event", "customer", "attempts", "parked at (UTC)", "reason", wide=wide)
    for record in parked:
        at = record.done_at.strftime("%Y-%m-%d %H:%M") if record.done_at else "-"
        grid.add_row(
            record.event_id, record.customer_id, str(record.attempts), at, record.last_error or ""
        )
    print_tables(grid)
    console.print("retry one with: journeys events retry EVENT_ID")


def retry_event(event_id: str) -> None:
    """Deliver a parked event again (after fixing what parked it), now."""
    svc = service()
    record = svc.store.deliveries.retry(event_id, svc.clock())
    if record is None:
        raise fail(f"no parked delivery for event {event_id!r}")
    asyncio.run(svc.deliverer.deliver_customer(record.customer_id))
    found = svc.store.deliveries.for_events([event_id])[event_id]
    console.print(f"{event_id}: {found.status} {found.last_error or ''}".rstrip())


def deliver_now() -> None:
    """Deliver every pending event that is due (workers do this continuously)."""
    svc = service()
    drained = asyncio.run(svc.deliver_pending())
    console.print(f"{drained} customers delivered; {svc.store.deliveries.backlog()} still pending")


def reconcile_runs(
    journey: str | None = typer.Option(None, "--journey", help="Only this journey's runs."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Report drift, change nothing."),
    wide: Wide = False,
) -> None:
    """Check runs the store has as running against Temporal, and repair what differs."""
    changes = asyncio.run(reconcile(service(), journey, repair=not dry_run))
    if not changes:
        console.print("store and Temporal agree")
        return
    grid = table("run", "store", "Temporal", "action", "detail", wide=wide)
    for change in changes:
        grid.add_row(
            change.workflow_id,
            change.store_status,
            change.temporal_status,
            change.action,
            change.detail,
        )
    print_tables(grid)
    console.print(f"{len(changes)} runs {'differ' if dry_run else 'changed'}")


def register(events_app: typer.Typer, runs_app: typer.Typer) -> None:
    events_app.command("failed")(failed_events)
    events_app.command("retry")(retry_event)
    events_app.command("deliver")(deliver_now)
    runs_app.command("reconcile")(reconcile_runs)

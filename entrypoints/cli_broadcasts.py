"""`journeys broadcast create|start|list|show`: one-off sends to a segment (app/broadcasts.py)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from app.broadcasts import (
    BroadcastDetail,
    BroadcastNotStarted,
    BroadcastService,
    CreateBroadcast,
    broadcast_service,
)
from domain.broadcasts import (
    Broadcast,
    BroadcastRefused,
    Category,
    UnknownBroadcast,
    parse_template,
    parse_time,
)
from domain.segments import SegmentError
from entrypoints.cli_common import Wide, console, fail, print_tables, service, table
from entrypoints.cli_reports import print_funnel
from store.errors import StoreError
from workers.settings import get_settings

broadcast_app = typer.Typer(
    help="One-off sends of a template to a segment, now or at a time.", no_args_is_help=True
)

# How each field of a refusal is spelled on this command line.
OPTION = {
    "name": "NAME",
    "segment": "--segment",
    "template": "--template",
    "channel": "--channel",
    "at": "--at",
    "category": "--category",
}


def register(app: typer.Typer) -> None:
    app.add_typer(broadcast_app, name="broadcast")


def _service() -> BroadcastService:
    journeys = service()
    try:
        return broadcast_service(get_settings(), journeys)
    except SegmentError as exc:
        raise fail(f"--segment: the segments file does not load: {exc}") from exc


def refused(exc: BroadcastRefused) -> typer.Exit:
    return fail(f"{OPTION.get(exc.field, exc.field)}: {exc.args[0]}")


def when(broadcast: Broadcast) -> str:
    at = broadcast.scheduled_at or broadcast.created_at
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


@broadcast_app.command("create")
def create(
    name: Annotated[str, typer.Argument(help="A new name: lowercase letters, digits and '_'.")],
    segment: Annotated[str, typer.Option(help="The segment whose members get it.")],
    template: Annotated[
        Path,
        typer.Option(
            help="A template file (YAML): subject, text, optional html and locales, "
            "as a journey's `templates:` entry."
        ),
    ],
    channel: Annotated[str, typer.Option(help="email, sms or webhook.")] = "email",
    at: Annotated[
        str | None,
        typer.Option(help="When to send, ISO 8601 with a timezone (default: now)."),
    ] = None,
    category: Annotated[
        str, typer.Option(help="marketing (consent, quiet hours, caps) or transactional.")
    ] = "marketing",
) -> None:
    """Send a template to every member of a segment once, now or at a time."""
    try:
        text = template.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise fail(f"--template: {template}: cannot read: {exc}") from exc
    if category not in ("marketing", "transactional"):
        raise fail(f"--category: {category!r} is not marketing or transactional")
    try:
        request = CreateBroadcast(
            name=name,
            segment=segment,
            channel=channel,
            template=parse_template(text, str(template)),
            template_source=str(template),
            at=parse_time(at) if at is not None else None,
            category=category_of(category),
        )
        broadcasts = _service()
        broadcast = asyncio.run(broadcasts.create(request))
    except BroadcastRefused as exc:
        raise refused(exc) from exc
    except BroadcastNotStarted as exc:
        raise fail(str(exc)) from exc
    except StoreError as exc:
        raise fail(str(exc)) from exc
    sends = "now" if broadcast.scheduled_at is None else f"at {when(broadcast)}"
    console.print(
        f"{broadcast.name}: {broadcast.channel} to segment {broadcast.segment} {sends} "
        f"(journey {broadcast.journey_id}, run {broadcast.workflow_id})",
        highlight=False,
        markup=False,
    )


def category_of(text: str) -> Category:
    return "transactional" if text == "transactional" else "marketing"


@broadcast_app.command("start")
def start(name: str) -> None:
    """Start a broadcast that was saved while Temporal was unreachable (harmless to repeat)."""
    broadcasts = _service()
    try:
        broadcast = asyncio.run(broadcasts.start(name))
    except UnknownBroadcast as exc:
        raise fail(str(exc)) from exc
    console.print(f"{broadcast.name}: {broadcast.status}", highlight=False, markup=False)


@broadcast_app.command("list")
def list_broadcasts(wide: Wide = False) -> None:
    """Every broadcast, newest first: what, to whom, when, and how far it got."""
    broadcasts = _service()
    rows = broadcasts.listing()
    if not rows:
        console.print("no broadcasts yet (`journeys broadcast create`)", highlight=False)
        return
    now = datetime.now(UTC)
    grid = table(
        "name",
        "segment",
        "channel",
        "sends",
        "status",
        "enrolled",
        "sent",
        "created by",
        wide=wide,
        optional=("created by", "channel"),
    )
    for b, tally in rows:
        status = (
            "not started"
            if b.status == "created"
            else "scheduled"
            if b.scheduled_at is not None and b.scheduled_at > now
            else "started"
        )
        grid.add_row(
            b.name,
            b.segment,
            b.channel,
            when(b),
            status,
            str(tally.enrolled),
            str(tally.by_status.get("sent", 0)),
            b.created_by,
        )
    print_tables(grid)


@broadcast_app.command("show")
def show(name: str, wide: Wide = False) -> None:
    """A broadcast's progress (sent, deferred, skipped and why, failed) and its funnel."""
    broadcasts = _service()
    try:
        detail = asyncio.run(broadcasts.show(name))
    except UnknownBroadcast as exc:
        raise fail(str(exc)) from exc
    print_detail(detail, broadcasts, wide)


def print_detail(detail: BroadcastDetail, broadcasts: BroadcastService, wide: bool) -> None:
    b, p = detail.broadcast, detail.progress
    lines = [
        f"{b.name}: {b.category} {b.channel} to segment {b.segment}, template {b.template}",
        f"sends {'at creation, ' if b.scheduled_at is None else 'at '}{when(b)}; "
        f"created by {b.created_by}; journey {b.journey_id}",
        f"state: {p.state}" + (f" ({p.stopped})" if p.stopped else ""),
    ]
    if p.state == "unknown":
        lines.append("(Temporal could not be asked; the counts below are the store's)")
    for line in lines:
        console.print(line, highlight=False, markup=False)
    grid = table(
        "members", "enrolled", "sent", "deferred", "skipped", "failed", "running", wide=wide
    )
    grid.add_row(
        "-" if p.members is None else str(p.members),
        *(str(n) for n in (p.enrolled, p.sent, p.deferred, p.skipped, p.failed, p.running)),
    )
    print_tables(grid)
    if p.uncertain:
        console.print(f"sent unconfirmed: {p.uncertain}", highlight=False, markup=False)
    for reason in p.deferred_reasons:
        console.print(
            f"deferred {reason.count}: {reason.reason.replace('_', ' ')}",
            highlight=False,
            markup=False,
        )
    for reason in p.skipped_reasons:
        console.print(f"skipped {reason.count}: {reason.reason}", highlight=False, markup=False)
    if detail.funnel.runs:
        print_funnel(
            detail.funnel.runs,
            detail.funnel.steps,
            [],
            broadcasts.journeys.store,
            b.journey_id,
            wide,
        )

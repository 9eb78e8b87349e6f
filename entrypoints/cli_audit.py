"""`journeys audit`: who did what, to what, when and from where, oldest first."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated

import typer

from app.audit import Auditor
from domain.audit import AUDIT_ACTIONS
from entrypoints.cli_common import Wide, fail, print_tables, service, table


def audit(
    since: Annotated[
        str | None, typer.Option("--since", help="ISO date or time (UTC unless it says).")
    ] = None,
    actor: Annotated[str | None, typer.Option("--actor", help="A key's name, or cli:USER.")] = None,
    action: Annotated[
        str | None, typer.Option("--action", help=f"One of {', '.join(AUDIT_ACTIONS)}.")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=10_000)] = 100,
    after: Annotated[int | None, typer.Option("--after", help="Entries after this seq.")] = None,
    wide: Wide = False,
) -> None:
    """The audit log: keys, publishes, pauses, consent, cases, callbacks, enrollments, runs."""
    when: datetime | None = None
    if since is not None:
        try:
            when = datetime.fromisoformat(since)
        except ValueError as exc:
            raise fail(f"--since {since!r} is not an ISO date or time") from exc
        when = when if when.tzinfo else when.replace(tzinfo=UTC)
    if action is not None and action not in AUDIT_ACTIONS:
        raise fail(f"unknown action {action!r}: choose one of {', '.join(AUDIT_ACTIONS)}")
    journeys = service()
    page = Auditor(journeys.store, journeys.clock).page(
        after=after, limit=limit, since=when, actor=actor, action=action
    )
    grid = table(
        "seq", "at (UTC)", "actor", "role", "action", "target", "from", "details", wide=wide
    )
    for entry in page.entries:
        grid.add_row(
            str(entry.seq),
            f"{entry.at:%Y-%m-%d %H:%M:%S}",
            entry.actor,
            entry.role,
            entry.action,
            entry.target,
            entry.address or "-",
            json.dumps(entry.details, ensure_ascii=False) if entry.details else "",
        )
    print_tables(grid)
    if page.next is not None:
        typer.echo(f"more: journeys audit --after {page.next}", err=True)


def register(app: typer.Typer) -> None:
    app.command("audit")(audit)

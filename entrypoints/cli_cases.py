"""`journeys cases`: open complaint cases, work them, read their history."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer
from pydantic import BaseModel, ValidationError
from rich.markup import escape
from temporalio.service import RPCError

from app.cases import CaseRefused, CaseService, UnknownCase
from domain.cases import Assign, CaseState, Note, OpenCase, Reopen, Resolve, Respond
from entrypoints.cli_common import Wide, console, fail, print_tables, service, table
from store.errors import StoreError

cases_app = typer.Typer(
    help="Complaint cases: open, assign, respond, resolve.", no_args_is_help=True
)
Agent = Annotated[str, typer.Option("--agent", help="Who does it.")]


def _cases() -> CaseService:
    return CaseService(service())


def _show(state: CaseState, wide: bool = False) -> None:
    console.print(
        f"[bold]{escape(state.case_id)}[/bold] "
        + escape(
            f"{state.status} · {state.severity} {state.category} · customer "
            f"{state.customer_id} · queue {state.queue} · assignee {state.assignee or '-'}"
        ),
        highlight=False,
    )
    console.print(
        f"first response due {state.first_response_due:%Y-%m-%d %H:%M} UTC"
        f"{' (answered)' if state.first_response_at else ''}; resolution due "
        f"{state.resolution_due:%Y-%m-%d %H:%M} UTC"
        + (f"; escalated: {', '.join(state.escalations)}" if state.escalations else ""),
        highlight=False,
        markup=False,
    )
    # The history is the case itself: every word of it is shown, however many lines it takes.
    grid = table("at (UTC)", "action", "by", "text", wide=wide, lines=None)
    for entry in state.history:
        grid.add_row(f"{entry.at:%Y-%m-%d %H:%M}", entry.action, entry.by, entry.text)
    print_tables(grid)


def _run_change(case_id: str, update: str, build: type[BaseModel], **fields: str) -> None:
    try:
        payload = build.model_validate(fields)
        state = asyncio.run(_cases().change(case_id, update, payload))
    except ValidationError as exc:
        raise fail(f"{update}: {exc.errors()[0]['msg']}") from exc
    except (CaseRefused, UnknownCase, RPCError) as exc:
        raise fail(str(exc)) from exc
    _show(state)


@cases_app.command("open")
def open_case(
    customer: str,
    category: Annotated[str, typer.Option(help="e.g. delivery, billing, product")],
    summary: Annotated[str, typer.Option(help="What the customer said.")],
    severity: Annotated[str, typer.Option(help="low, normal, high or urgent")] = "normal",
    channel: Annotated[str, typer.Option(help="How to acknowledge: email, sms")] = "email",
    request_id: Annotated[str | None, typer.Option(help="Makes a retry open one case.")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print only the case id.")] = False,
) -> None:
    """Open a case: the customer is acknowledged and the SLA clocks start."""
    try:
        request = OpenCase.model_validate(
            {
                "customer_id": customer,
                "category": category,
                "summary": summary,
                "severity": severity,
                "channel": channel,
            }
        )
        state = asyncio.run(_cases().open(request, request_id))
    except ValidationError as exc:
        problems = "; ".join(f"{e['loc'][0]}: {e['msg']}" for e in exc.errors())
        raise fail(problems) from exc
    except (StoreError, RPCError) as exc:
        raise fail(str(exc)) from exc
    if quiet:
        print(state.case_id)
        return
    _show(state)


@cases_app.command("list")
def list_cases(
    status: Annotated[str | None, typer.Option(help="open, resolved or closed")] = None,
    queue: Annotated[str | None, typer.Option(help="e.g. support, supervisors")] = None,
    customer: str | None = None,
    wide: Wide = False,
) -> None:
    """Cases, newest first; due is the first response until there is one, then resolution."""
    grid = table(
        "case",
        "status",
        "category",
        "customer",
        "queue",
        "assignee",
        "due (UTC)",
        wide=wide,
        optional=("category",),
    )
    for c in _cases().store.cases.list(status, queue, customer):
        answered = c.first_response_at is not None
        due = c.resolution_due if answered else c.first_response_due
        grid.add_row(
            c.case_id,
            f"{c.status}, {c.severity}",
            c.category,
            c.customer_id,
            c.queue + (" (escalated)" if c.escalations else ""),
            c.assignee or "-",
            f"{due:%Y-%m-%d %H:%M} {'resolution' if answered else 'response'}",
        )
    print_tables(grid)


@cases_app.command("show")
def show(case_id: str, wide: Wide = False) -> None:
    """A case's state and its whole history."""
    try:
        _show(asyncio.run(_cases().state(case_id)), wide)
    except (UnknownCase, RPCError) as exc:
        raise fail(str(exc)) from exc


@cases_app.command("assign")
def assign(case_id: str, agent: str) -> None:
    _run_change(case_id, "assign", Assign, agent=agent)


@cases_app.command("note")
def note(case_id: str, text: str, agent: Agent) -> None:
    _run_change(case_id, "add_note", Note, text=text, by=agent)


@cases_app.command("respond")
def respond(case_id: str, text: str, agent: Agent) -> None:
    _run_change(case_id, "respond", Respond, text=text, by=agent)


@cases_app.command("resolve")
def resolve(
    case_id: str,
    agent: Agent,
    resolution: Annotated[str, typer.Option(help="What was done.")],
) -> None:
    _run_change(case_id, "resolve", Resolve, resolution=resolution, by=agent)


@cases_app.command("reopen")
def reopen(case_id: str, agent: Agent, reason: Annotated[str, typer.Option()]) -> None:
    _run_change(case_id, "reopen", Reopen, reason=reason, by=agent)


def register(app: typer.Typer) -> None:
    app.add_typer(cases_app, name="cases")

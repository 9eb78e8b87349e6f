"""`journeys callbacks list/claim/complete` and `journeys report surveys`."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Annotated

import typer
from pydantic import ValidationError

from app.bootstrap import survey_links
from app.support import SupportService
from domain.callbacks import Completion
from entrypoints.cli_common import Wide, console, fail, print_tables, service, table
from store.callbacks import CallbackRefused, UnknownCallback
from workers.settings import get_settings

callbacks_app = typer.Typer(
    help="The callback queue: agents phone customers back.", no_args_is_help=True
)


def _support() -> SupportService:
    return SupportService(service(), survey_links(get_settings()))


@callbacks_app.command("list")
def list_callbacks(
    queue: Annotated[str | None, typer.Option(help="e.g. retention, managers, supervisors")] = None,
    agent: Annotated[str | None, typer.Option(help="Only tasks this agent holds.")] = None,
    wide: Wide = False,
) -> None:
    """Open and claimed tasks, soonest due first; overdue ones flagged."""
    support = _support()
    now = support.now()
    grid = table(
        "task",
        "due (UTC)",
        "queue",
        "customer",
        "reason",
        "status",
        "agent",
        wide=wide,
        optional=("queue",),
    )
    for task in support.store.callbacks.list(queue, agent):
        due = f"{task.due_at:%Y-%m-%d %H:%M}" + (" OVERDUE" if task.overdue(now) else "")
        queue_name = task.queue + (" (escalated)" if task.escalated else "")
        grid.add_row(
            task.task_id,
            due,
            queue_name,
            task.customer_id,
            task.reason,
            task.status,
            task.claimed_by or "-",
        )
    print_tables(grid)


@callbacks_app.command("claim")
def claim(task_id: str, agent: Annotated[str, typer.Option(help="Who takes the call.")]) -> None:
    try:
        task = _support().claim(task_id, agent)
    except (UnknownCallback, CallbackRefused, ValueError) as exc:
        raise fail(str(exc)) from exc
    console.print(f"{task.task_id} claimed by {task.claimed_by}: call {task.customer_id}")


@callbacks_app.command("next")
def claim_next(
    agent: Annotated[str, typer.Option(help="Who takes the call.")],
    queue: Annotated[str | None, typer.Option(help="Only this queue.")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print only the task id.")] = False,
) -> None:
    """Claim the open task due soonest (most overdue first) and say whom to call."""
    try:
        task = _support().claim_next(agent, queue)
    except ValueError as exc:
        raise fail(str(exc)) from exc
    if task is None:
        raise fail("no open callback task" + (f" in {queue}" if queue else ""))
    if quiet:
        print(task.task_id)
        return
    console.print(
        f"{task.task_id} claimed by {task.claimed_by}: call {task.customer_id} "
        f"({task.reason}; due {task.due_at:%Y-%m-%d %H:%M} UTC)",
        highlight=False,
        markup=False,
    )


@callbacks_app.command("complete")
def complete(
    task_id: str,
    agent: Annotated[str, typer.Option(help="The agent who claimed it.")],
    outcome: Annotated[
        str, typer.Option(help="reached, no_answer, call_back_later or do_not_contact")
    ],
    notes: str = "",
    call_back_at: Annotated[
        datetime | None, typer.Option(help="With call_back_later: ISO time with a timezone.")
    ] = None,
) -> None:
    """Record the outcome; the journey waiting on the call goes on."""
    try:
        completion = Completion.model_validate(
            {"agent": agent, "outcome": outcome, "notes": notes, "call_back_at": call_back_at}
        )
        task = asyncio.run(_support().complete(task_id, completion))
    except ValidationError as exc:
        raise fail("; ".join(str(e["msg"]) for e in exc.errors())) from exc
    except (UnknownCallback, CallbackRefused) as exc:
        raise fail(str(exc)) from exc
    console.print(f"{task.task_id} done: {task.outcome}")


def surveys_report(
    journey: Annotated[str | None, typer.Option(help="Only this journey.")] = None,
    by: Annotated[str, typer.Option(help="week, month or all")] = "month",
    wide: Wide = False,
) -> None:
    """NPS and CSAT per journey and over time."""
    if by not in ("week", "month", "all"):
        raise fail("--by is week, month or all")
    grid = table(
        "journey", "survey", "period", "sent", "answers", "NPS", "CSAT", "satisfied", wide=wide
    )
    for row in _support().store.surveys.scores(journey, by):
        grid.add_row(
            row.journey_id or "-",
            row.kind.upper(),
            row.period,
            str(row.sent),
            str(row.answers),
            "-" if row.nps is None else f"{row.nps:+.1f}",
            "-" if row.csat is None else f"{row.csat:.2f}",
            "-" if row.satisfied is None else f"{row.satisfied:.1f}%",
        )
    print_tables(grid)
    console.print(
        "NPS = % promoters (9-10) - % detractors (0-6); CSAT = mean of 1-5, satisfied = 4-5"
    )


def register(app: typer.Typer, report_app: typer.Typer) -> None:
    app.add_typer(callbacks_app, name="callbacks")
    report_app.command("surveys")(surveys_report)

"""`journeys runs end|skip-wait|retry|move`: run operations, on one run or in bulk.

One run by its workflow id, or every running run a selection from the store matches
(`--journey J [--version N] [--where step=S]`), with a progress bar and a report of what was
done, done before (a resumed command) and refused, and why. Running the same bulk command
again resumes it: the runs it already did are skipped.
"""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer

from app.run_operations import (
    BulkReport,
    NothingSelected,
    OperationOutcome,
    OperationRefused,
    RunOperations,
    UnknownRun,
)
from domain.contracts import RunOperationKind
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

Run = Annotated[
    str | None,
    typer.Argument(help="The run's workflow id, as `customers show` lists it; or select runs."),
]
Reason = Annotated[
    str, typer.Option("--reason", help="Why: kept in the run's trace and the audit log.")
]
Journey = Annotated[str | None, typer.Option("--journey", help="Bulk: the journey's running runs.")]
Version = Annotated[int | None, typer.Option("--version", help="Bulk: only this version's.")]
Where = Annotated[
    str | None, typer.Option("--where", help="Bulk: step=S, only runs at step S.", metavar="step=S")
]
Key = Annotated[
    str | None,
    typer.Option(
        "--key",
        help="The operation's idempotency key (bulk default: one derived from the command, so "
        "running it again resumes it).",
    ),
]


def _step(where: str | None) -> str | None:
    if where is None:
        return None
    field, sep, value = where.partition("=")
    if field.strip() != "step" or not sep or not value.strip():
        raise fail(f"--where {where!r}: write it as step=STEP")
    return value.strip()


def _done_line(outcome: OperationOutcome) -> str:
    where = f"; now at {outcome.position}" if outcome.position else ""
    return f"{outcome.workflow_id}: {outcome.detail}{where} ({outcome.status})"


def _operate(
    kind: RunOperationKind,
    run: str | None,
    reason: str,
    journey: str | None,
    version: int | None,
    where: str | None,
    key: str | None,
    wide: bool,
    to: str | None = None,
) -> None:
    step = _step(where)
    if (run is None) == (journey is None):
        raise fail("name one run (RUN) or select runs with --journey [--version] [--where]")
    if run is not None and (version is not None or step is not None):
        raise fail("--version and --where select runs with --journey, not with RUN")
    if not reason.strip():
        raise fail("--reason must say why")
    ops = RunOperations(service())
    try:
        if run is not None:
            outcome = asyncio.run(ops.operate(run, kind, reason, to=to, key=key))
            if outcome.outcome == "refused":
                raise fail(f"{run}: refused: {outcome.detail}")
            prefix = "already done: " if outcome.outcome == "already" else ""
            console.print(prefix + _done_line(outcome), highlight=False, markup=False)
            return
        assert journey is not None
        report = asyncio.run(_bulk(ops, kind, reason, journey, version, step, to, key))
    except (UnknownRun, NothingSelected) as exc:
        raise fail(str(exc)) from exc
    except OperationRefused as exc:
        raise fail(f"{run}: refused: {exc}") from exc
    except RuntimeError as exc:
        raise unreachable(exc) from exc
    _print_report(report, wide)
    if report.refused:
        raise typer.Exit(1)


async def _bulk(
    ops: RunOperations,
    kind: RunOperationKind,
    reason: str,
    journey: str,
    version: int | None,
    step: str | None,
    to: str | None,
    key: str | None,
) -> BulkReport:
    runs = await asyncio.to_thread(ops.select, journey, version, step)
    with counting(kind.replace("_", "-")) as (on_start, on_done):
        return await ops.bulk(
            kind,
            reason,
            journey_id=journey,
            version=version,
            step=step,
            to=to,
            key=key,
            runs=runs,
            on_start=on_start,
            on_done=on_done,
        )


def _print_report(report: BulkReport, wide: bool) -> None:
    console.print(
        f"{report.selected} selected: {report.done} done, {report.already} done before "
        f"(skipped), {report.refused} refused",
        highlight=False,
    )
    if report.reasons:
        grid = table("runs", "refused because", wide=wide)
        for reason, count in report.reasons.items():
            grid.add_row(str(count), reason)
        print_tables(grid)
    console.print(f"key {report.key}: run the same command again to resume", highlight=False)


def end(
    run: Run = None,
    reason: Reason = "",
    journey: Journey = None,
    version: Version = None,
    where: Where = None,
    key: Key = None,
    wide: Wide = False,
) -> None:
    """Stop a run (goals and funnels count it as `stopped`: ended by an operator).

    A waiting run stops at once; one in the middle of a send stops when the send is done.
    """
    _operate("end", run, reason, journey, version, where, key, wide)


def skip_wait(
    run: Run = None,
    reason: Reason = "",
    journey: Journey = None,
    version: Version = None,
    where: Where = None,
    key: Key = None,
    wide: Wide = False,
) -> None:
    """Wake a waiting run now, as if its wait had run out.

    A `wait`, a `wait_for` (its on_timeout path), a survey's or a callback's timeout. A message
    held for quiet hours, a cap or an open case cannot be skipped.
    """
    _operate("skip_wait", run, reason, journey, version, where, key, wide)


def retry(
    run: Run = None,
    reason: Reason = "",
    journey: Journey = None,
    version: Version = None,
    where: Where = None,
    key: Key = None,
    wide: Wide = False,
) -> None:
    """Take the run's failed step again, then go on from it.

    The failed step: a send that failed for good and that the run went on past by its
    on_failure, or an update step that failed. The run must be waiting. A run that failed or
    ended is closed in Temporal: it is refused (enroll the customer again instead).
    """
    _operate("retry", run, reason, journey, version, where, key, wide)


def move(
    run: Run = None,
    to: Annotated[str, typer.Option("--to", help="A step of the run's own journey version.")] = "",
    reason: Reason = "",
    journey: Journey = None,
    version: Version = None,
    where: Where = None,
    key: Key = None,
    wide: Wide = False,
) -> None:
    """Move a waiting run to another step of the same journey version (never mid-send)."""
    if not to:
        raise fail("--to STEP is required")
    _operate("move", run, reason, journey, version, where, key, wide, to=to)


def register(runs_app: typer.Typer) -> None:
    runs_app.command("end")(end)
    runs_app.command("skip-wait")(skip_wait)
    runs_app.command("retry")(retry)
    runs_app.command("move")(move)

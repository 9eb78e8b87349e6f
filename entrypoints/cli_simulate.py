"""`journeys simulate`: what a journey would do to a cohort, before anyone publishes it."""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from domain.customers import CustomerProfile
from domain.journey import JourneyDefinition, step_kind
from domain.loader import load_journey_file
from domain.problems import JourneyError
from domain.send_policy import PolicyError, load_policy_file
from domain.simulation import Behaviour, cohort
from domain.surveys import nps_of
from entrypoints.cli_audiences import AsOf, SegmentsFile, as_of_day, load_segments, open_store
from entrypoints.cli_common import Wide, console, fail, print_tables, service, table
from store.errors import StoreError
from workers.settings import get_settings
from workers.simulation_shards import simulate_in_processes
from workers.simulator import SimulationResult


def _journey(journey: str) -> JourneyDefinition:
    """A journey file (not yet published) or the id of a published journey."""
    path = Path(journey)
    try:
        if path.suffix in (".yaml", ".yml") or path.exists():
            return load_journey_file(path)
        return service().journey(journey)
    except (JourneyError, StoreError) as exc:
        raise fail(str(exc)) from exc


def store_cohort(
    segment_name: str, as_of: date, size: int, segments_file: Path | None
) -> list[CustomerProfile]:
    """Up to `size` members of a segment from the store (e.g. imported CDNOW buyers)."""
    segment = load_segments(segments_file).get(segment_name)
    if segment is None:
        raise fail(f"unknown segment {segment_name!r}; see `journeys segments list`")
    store = open_store()
    try:
        if segment.uses_projection() and store.projections.built_as_of() != as_of:
            store.projections.rebuild(as_of)
        members = store.segments.members(segment, as_of, limit=size)
        profiles = [store.customers.get(customer_id) for customer_id in members]
    except StoreError as exc:
        raise fail(str(exc)) from exc
    finally:
        store.close()
    if not members:
        raise fail(f"segment {segment_name!r} has no members as of {as_of.isoformat()}")
    return [profile for profile in profiles if profile is not None]


def simulate_command(
    journey: Annotated[str, typer.Argument(help="A journey file or a published journey id.")],
    customers: Annotated[int, typer.Option(min=1, max=100_000)] = 1000,
    days: Annotated[int, typer.Option(min=1, max=3650)] = 90,
    open_rate: Annotated[
        float, typer.Option(min=0, max=1, help="Chance to open a message.")
    ] = 0.35,
    click_rate: Annotated[float, typer.Option(min=0, max=1, help="Chance to click an open.")] = 0.2,
    order_rate: Annotated[
        float, typer.Option(min=0, max=1, help="Chance to order per day.")
    ] = 0.01,
    answer_rate: Annotated[
        float, typer.Option(min=0, max=1, help="Chance to answer a survey.")
    ] = 0.25,
    reach_rate: Annotated[
        float, typer.Option(min=0, max=1, help="Chance per day an agent reaches a callback.")
    ] = 0.5,
    seed: int = 7,
    segment: Annotated[
        str | None,
        typer.Option(
            help="Take the cohort from the store: up to --customers members of this segment "
            "(e.g. imported CDNOW buyers) instead of synthetic customers."
        ),
    ] = None,
    as_of: AsOf = None,
    segments_file: SegmentsFile = None,
    processes: Annotated[
        int,
        typer.Option(
            min=1,
            max=64,
            help="Worker processes, each with its own time-skipping server and a slice of "
            "the cohort; default: one per core.",
        ),
    ] = os.cpu_count() or 1,
    policy_file: Annotated[
        Path | None,
        typer.Option("--policy", help="Send policy YAML; default JOURNEYS_POLICY_FILE."),
    ] = None,
    wide: Wide = False,
) -> None:
    """Run the real journey workflow for a cohort on the time-skipping server.

    Nothing is written to the store: no customers, runs or messages, and `report funnel`
    does not count a simulation.
    """
    definition = _journey(journey)
    behaviour = Behaviour(
        open_per_message=open_rate,
        click_per_open=click_rate,
        order_per_day=order_rate,
        answer_per_survey=answer_rate,
        reach_per_callback=reach_rate,
        seed=seed,
    )
    if segment is None:
        profiles = cohort(customers, seed)
    else:
        profiles = store_cohort(segment, as_of_day(as_of), customers, segments_file)
    try:
        policy = load_policy_file(policy_file or get_settings().policy_file)
    except PolicyError as exc:
        raise fail(str(exc)) from exc
    columns = (TextColumn("simulated days"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    # Redrawn on each simulated day rather than by a thread of its own: the simulation forks
    # its processes, and a process should not fork while another of its threads runs.
    with Progress(*columns, console=console, auto_refresh=False) as bar:
        task = bar.add_task("days", total=days)

        def advance(_: int) -> None:
            bar.advance(task)
            bar.refresh()

        result = simulate_in_processes(
            definition, profiles, days, behaviour, processes, on_day=advance, policy=policy
        )
    print_result(definition, result, wide)


def print_result(journey: JourneyDefinition, result: SimulationResult, wide: bool = False) -> None:
    console.print(
        f"[bold]{journey.id}[/bold]: {result.customers} customers over {result.days} days "
        f"simulated in {result.seconds:.1f}s on a throwaway time-skipping server; nothing was "
        "written to the store (`report funnel` does not count these runs)",
        highlight=False,
    )
    runs = ", ".join(f"{n} {status}" for status, n in sorted(result.runs.items()))
    goals = ", ".join(f"{n} {goal}" for goal, n in sorted(result.goals.items())) or "none"
    console.print(f"runs: {runs}; goals reached: {goals}; converted: {result.converted}")
    console.print(
        "customer actions: " + ", ".join(f"{n} {a}" for a, n in sorted(result.actions.items()))
    )
    funnel = table("step", "kind", "entered", "completed", "skipped", "exited", "failed", wide=wide)
    for step in journey.steps:
        counts = result.steps.get(step.id)
        if counts:
            funnel.add_row(
                step.id,
                step_kind(step) or "",
                *(str(counts[s]) for s in ("entered", "completed", "skipped", "exited", "failed")),
            )
    print_tables(funnel)
    volume = table("day", "channel", "status", "messages", title="Messages per day", wide=wide)
    for (day, channel, status), n in sorted(result.messages.items()):
        volume.add_row(str(day), channel, status, str(n))
    print_tables(volume)
    deferred = table(
        "day", "channel", "deferred by", "messages", title="Deferrals per day", wide=wide
    )
    for (day, channel, kind), n in sorted(result.deferrals.items()):
        deferred.add_row(str(day), channel, kind.replace("_", " "), str(n))
    total = sum(result.deferrals.values())
    if total:
        print_tables(deferred)
    console.print(f"deferrals: {total} (quiet hours and frequency caps of the send policy)")
    nps, csat = result.scores["nps"], result.scores["csat"]
    score = nps_of(nps)
    if score is not None:
        console.print(f"NPS answers: {len(nps)}, NPS {score:+.1f}")
    if csat:
        console.print(f"CSAT answers: {len(csat)}, mean {sum(csat) / len(csat):.2f}")


def register(app: typer.Typer) -> None:
    app.command("simulate")(simulate_command)

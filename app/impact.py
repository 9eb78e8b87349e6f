"""The impact preview of a journey definition before it is published: runs in flight per version
and step, which of those steps it removes or changes, whom its audience would enroll now, and
its simulated funnel next to the newest published version's, over the same sample of real
members. Nothing is published and nothing is written to the store (the simulator runs on a
throwaway time-skipping server).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from datetime import date
from typing import Any

from pydantic import BaseModel, Field

from app.journeys import JourneyService
from domain.audiences import run_date
from domain.customers import CustomerProfile
from domain.impact import (
    AudienceImpact,
    FunnelComparison,
    ImpactReport,
    SimulatedFunnel,
    compare_funnels,
    impact_report,
)
from domain.journey import JourneyDefinition
from domain.segments import Segment
from domain.send_policy import SendPolicy
from domain.simulation import Behaviour, cohort
from store.impact import count_audience, customer_sample, runs_in_flight, stored_metrics

MAX_SAMPLE = 5000
MAX_DAYS = 365


class ImpactOptions(BaseModel):
    sample: int = Field(default=200, ge=0, le=MAX_SAMPLE)  # 0: no simulated funnel
    days: int = Field(default=30, ge=1, le=MAX_DAYS)
    seed: int = 7
    as_of: date | None = None  # the audience's date; default: today where its schedule runs


class SimulationRun(BaseModel):
    """What the simulator port returns, reduced to what the report needs."""

    runs: dict[str, int]
    goals: dict[str, int]
    converted: int
    steps: dict[str, dict[str, int]]
    messages: dict[str, int]  # by outcome: sent, skipped, failed, ...
    seconds: float


# (journey, profiles, days, behaviour, policy) -> counts; `journeys simulate`'s simulator.
Simulate = Callable[
    [JourneyDefinition, list[CustomerProfile], int, Behaviour, SendPolicy | None], SimulationRun
]


def simulate_in_processes(processes: int, on_day: Callable[[int], None] | None = None) -> Simulate:
    """The simulator of `journeys simulate`, over `processes` processes (imported late: it
    brings the worker with it); `on_day` follows the simulated days."""

    def run(
        journey: JourneyDefinition,
        profiles: list[CustomerProfile],
        days: int,
        behaviour: Behaviour,
        policy: SendPolicy | None,
    ) -> SimulationRun:
        from workers.simulation_shards import simulate_in_processes as shards

        result = shards(journey, profiles, days, behaviour, processes, on_day=on_day, policy=policy)
        messages: Counter[str] = Counter()
        for (_, _, status), n in result.messages.items():
            messages[status] += n
        return SimulationRun(
            runs=dict(result.runs),
            goals=dict(result.goals),
            converted=result.converted,
            steps={step: dict(counts) for step, counts in result.steps.items()},
            messages=dict(messages),
            seconds=result.seconds,
        )

    return run


def preview(
    service: JourneyService,
    new: JourneyDefinition,
    new_label: str,
    segments: Mapping[str, Segment],
    options: ImpactOptions,
    *,
    simulate: Simulate | None = None,
    policy: SendPolicy | None = None,
    workspace_timezone: str | None = None,
    on_phase: Callable[[str, int | None], None] = lambda _phase, _days: None,
) -> ImpactReport:
    """The report for `new` (a checked definition: its audience's segment is in `segments`);
    `on_phase` hears what it does next (and over how many simulated days)."""
    store = service.store
    now = service.clock()
    summary = store.journeys.get(new.id)
    versions: dict[int, JourneyDefinition] = {}
    counts: list[tuple[int, str | None, int]] = []
    if summary is not None:
        versions[summary.latest_version] = service.journey(new.id, summary.latest_version)
        counts = [(c.version, c.step_id, c.runs) for c in runs_in_flight(store.engine, new.id)]
        for version, _, _ in counts:
            if version not in versions:
                versions[version] = service.journey(new.id, version)

    audience: AudienceImpact | None = None
    sample_ids: list[str] = []
    metrics: dict[str, dict[str, Any]] = {}
    source = ""
    if new.audience is not None:
        on_phase("counting the audience", None)
        segment = segments[new.audience.segment]
        as_of = options.as_of or run_date(now, new.audience.timezone or workspace_timezone)
        counted = count_audience(
            store.engine, new, segment, as_of, now, sample=options.sample, seed=options.seed
        )
        audience = AudienceImpact(
            segment=counted.segment,
            as_of=counted.as_of,
            members=counted.members,
            would_enroll=counted.would_enroll,
            blocked=counted.blocked,
            erased=counted.erased,
            stopped=_stopped(new, summary.status if summary is not None else None),
        )
        sample_ids, metrics = counted.sample, counted.metrics
        source = f"members of segment {segment.name} as of {as_of.isoformat()}"
    elif options.sample > 0:
        sample_ids = customer_sample(store.engine, options.sample, options.seed)
        metrics = stored_metrics(store.engine, sample_ids)
        source = "customers in the store"

    funnel: FunnelComparison | None = None
    if options.sample > 0:
        # With their projection row, as a run's profile activity hands it over.
        profiles = [
            p.model_copy(update={"metrics": metrics.get(p.customer_id)})
            for p in map(store.customers.get, sample_ids)
            if p is not None
        ]
        if profiles:
            described = f"{len(profiles)} {source}, seeded sample"
        else:
            profiles = cohort(options.sample, options.seed)
            why = "the segment has no members" if new.audience is not None else "no customers"
            described = f"{len(profiles)} synthetic customers ({why} in the store)"
        funnel = _funnels(
            new,
            new_label,
            versions.get(summary.latest_version) if summary is not None else None,
            f"v{summary.latest_version}" if summary is not None else "",
            profiles,
            described,
            options,
            simulate or simulate_in_processes(1),
            policy,
            on_phase,
        )
    return impact_report(
        new,
        new_label,
        published_version=summary.latest_version if summary is not None else None,
        status=summary.status if summary is not None else None,
        versions=versions,
        in_flight=counts,
        audience=audience,
        funnel=funnel,
    )


def _stopped(journey: JourneyDefinition, status: str | None) -> str:
    """Why an enrollment run would stop at once (JourneyService.enroll_audience_page)."""
    if status is not None and status != "active":
        return f"the journey is {status}"
    if journey.trigger.correlate_on is not None:
        return f"the journey correlates on {journey.trigger.correlate_on!r}"
    return ""


def _funnels(
    new: JourneyDefinition,
    new_label: str,
    current: JourneyDefinition | None,
    current_label: str,
    profiles: list[CustomerProfile],
    described: str,
    options: ImpactOptions,
    simulate: Simulate,
    policy: SendPolicy | None,
    on_phase: Callable[[str, int | None], None],
) -> FunnelComparison:
    behaviour = Behaviour(seed=options.seed)

    def funnel(definition: JourneyDefinition, label: str) -> SimulatedFunnel:
        on_phase(f"simulating {label}", options.days)
        run = simulate(definition, profiles, options.days, behaviour, policy)
        return SimulatedFunnel(
            label=label, customers=len(profiles), days=options.days, **run.model_dump()
        )

    current_funnel = funnel(current, current_label) if current is not None else None
    return compare_funnels(
        current,
        new,
        current_funnel,
        funnel(new, new_label),
        sample=described,
        seed=options.seed,
    )

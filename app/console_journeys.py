"""What the console's journey pages read and do, over JourneyService and the store.

The list with runs in flight, a journey's versions, its funnel and experiment numbers (the same
store queries and the same `judge` the `journeys report` commands use), checking an uploaded
journey file exactly as `journeys validate` / `publish` do, publishing it, and simulating a draft
with the simulator `journeys simulate` runs.
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from app.funnels import with_unreached_steps
from app.journey_starts import publish_problems
from app.journeys import JourneyService
from domain.event_catalog import EventWarning, event_name_warnings
from domain.experiments import Arm, ArmResult, judge
from domain.journey import JourneyDefinition
from domain.journey_diff import JourneyDiff, diff_journeys
from domain.loader import load_journey_text
from domain.problems import JourneyError, Problem
from domain.send_policy import PolicyError, load_policy_file
from domain.simulation import Behaviour, cohort
from store.console_journeys import ConsoleJourneys, JourneyRow, VersionRow
from store.errors import StoreError
from store.journeys import JourneyVersionRecord
from store.reports import RunCounts, StepCounts

# An uploaded journey file larger than this is refused before it is read.
MAX_UPLOAD_BYTES = 256 * 1024
# A simulation started from the console: small enough to answer within a request.
MAX_SIMULATED_CUSTOMERS = 500
MAX_SIMULATED_DAYS = 120
SIMULATION_TIMEOUT_SECONDS = 90.0
# One simulation at a time per process: each starts a test server and a worker.
_SIMULATING = threading.Lock()


def reads(service: JourneyService) -> ConsoleJourneys:
    return ConsoleJourneys(service.store.engine)


def journey_page(
    service: JourneyService, *, status: str | None, after: str | None, limit: int
) -> list[JourneyRow]:
    return reads(service).page(status=status, after=after, limit=limit)


def versions(service: JourneyService, journey_id: str) -> list[VersionRow]:
    return reads(service).versions(journey_id)


def running(service: JourneyService, journey_id: str) -> dict[int, int]:
    return reads(service).running(journey_id)


def converting_goals(journey: JourneyDefinition) -> list[str]:
    """The goal events that count as a conversion (as `journeys report` counts them)."""
    return [goal.event for goal in journey.exit_when if goal.converted]


@dataclass(frozen=True)
class Funnel:
    runs: RunCounts | None  # the selected version's runs; None when it has none
    steps: list[StepCounts]  # the selected version's steps (every step, reached or not)
    goals: list[str]


def funnel(
    service: JourneyService, journey_id: str, version: int, journey: JourneyDefinition
) -> Funnel:
    """The funnel of one version: its runs and, per step, the counts `report funnel` prints."""
    goals = converting_goals(journey)
    runs = service.store.reports.run_counts(journey_id, goals)
    counts = service.store.reports.step_counts(journey_id, goals)

    steps = [c for c in with_unreached_steps(journey, version, counts) if c.version == version]
    return Funnel(
        runs=next((r for r in runs if r.version == version), None), steps=steps, goals=goals
    )


def experiment(
    service: JourneyService, journey_id: str, journey: JourneyDefinition
) -> list[ArmResult]:
    """Every arm of the journey's splits and holdouts (all versions) judged as
    `journeys report experiment` judges them."""
    counts = service.store.reports.arms(journey_id, converting_goals(journey))
    return judge([(c.step_id, c.kind, Arm(c.arm, c.entered, c.converted)) for c in counts])


def changes(
    journey_id: str, old: JourneyVersionRecord, new: JourneyVersionRecord
) -> JourneyDiff | None:
    """What changed from one published version to another (as `journeys diff` says it);
    None when either no longer loads."""
    try:
        before = JourneyDefinition.model_validate(old.definition)
        after = JourneyDefinition.model_validate(new.definition)
    except ValidationError:
        return None
    return diff_journeys(
        before,
        after,
        old_label=f"{journey_id} v{old.version}",
        new_label=f"{journey_id} v{new.version}",
    )


# --- an uploaded journey file -------------------------------------------------------------


@dataclass
class Checked:
    """An uploaded journey file as the loader saw it."""

    text: str
    journey: JourneyDefinition | None = None
    problems: list[Problem] = field(default_factory=list)
    warnings: list[EventWarning] = field(default_factory=list)


def published_definitions(service: JourneyService) -> list[JourneyDefinition]:
    found: list[JourneyDefinition] = []
    for summary in service.journeys():
        try:
            found.append(service.journey(summary.journey_id))
        except (StoreError, ValidationError):
            continue
    return found


def _segment_problem(journey: JourneyDefinition, source: str) -> Problem | None:
    """The audience names a segment the segments file lacks (as `journeys publish` checks)."""
    if journey.audience is None:
        return None
    from domain.segments import SegmentError, load_segments_file
    from workers.settings import get_settings

    try:
        names = set(load_segments_file(get_settings().segments_file))
    except (SegmentError, OSError):
        return None
    if journey.audience.segment in names:
        return None
    known = ", ".join(sorted(names)) or "none"
    return Problem(
        f"unknown segment {journey.audience.segment!r} (known: {known})",
        field="audience.segment",
        file=source,
    )


def check_text(service: JourneyService, text: str, source: str) -> Checked:
    """Load `text` as `journeys validate` loads a file: problems, or the journey and warnings."""
    checked = Checked(text=text)
    try:
        journey = load_journey_text(text, source=source)
    except JourneyError as exc:
        checked.problems = list(exc.problems)
        return checked
    segment = _segment_problem(journey, source)
    if segment is not None:
        checked.problems = [segment]
        return checked
    starts = publish_problems(service.store, [(source, journey)])
    if starts:
        checked.problems = starts
        return checked
    checked.journey = journey
    checked.warnings = event_name_warnings(journey, published_definitions(service), source)
    return checked


def publish(service: JourneyService, journey: JourneyDefinition) -> JourneyVersionRecord:
    """Publish a checked journey (an unchanged one keeps its version), audited."""
    return service.publish_definition(journey)


async def sync_schedules(service: JourneyService, workspace_timezone: str) -> str | None:
    """Bring audience schedules in line after a publish; why not, when Temporal cannot."""
    from temporalio.service import RPCError

    from app.schedules import sync_published

    try:
        await asyncio.wait_for(sync_published(service, workspace_timezone), timeout=10)
    except (RPCError, RuntimeError, OSError, TimeoutError) as exc:
        return str(exc) or type(exc).__name__
    return None


# --- simulating a draft ---------------------------------------------------------------------


class SimulationFailed(Exception):
    """The simulation could not run: `kind` is busy (another one runs), timeout or error."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


def simulate(journey: JourneyDefinition, customers: int, days: int) -> Any:
    """Run `journeys simulate`'s simulator for a synthetic cohort (nothing is stored).

    Blocking: call it in a thread of its own (asyncio.to_thread); it runs on its own event
    loop there (it starts a time-skipping server and a worker), with a timeout;
    SimulationFailed when it cannot.
    """
    from workers.settings import get_settings
    from workers.simulator import simulate as run_simulation

    if not 1 <= customers <= MAX_SIMULATED_CUSTOMERS or not 1 <= days <= MAX_SIMULATED_DAYS:
        raise ValueError("customers or days out of range")
    try:
        policy = load_policy_file(get_settings().policy_file)
    except PolicyError as exc:
        raise SimulationFailed("error", str(exc)) from exc
    if not _SIMULATING.acquire(blocking=False):
        raise SimulationFailed("busy", "another simulation is running")
    try:
        return asyncio.run(
            asyncio.wait_for(
                run_simulation(journey, cohort(customers, 7), days, Behaviour(), None, policy),
                timeout=SIMULATION_TIMEOUT_SECONDS,
            )
        )
    except TimeoutError as exc:
        raise SimulationFailed(
            "timeout", f"it did not end within {SIMULATION_TIMEOUT_SECONDS:.0f} seconds"
        ) from exc
    except (RuntimeError, OSError) as exc:
        raise SimulationFailed("error", str(exc) or type(exc).__name__) from exc
    finally:
        _SIMULATING.release()

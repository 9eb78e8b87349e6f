"""What publishing a new version of a journey would do, before anyone publishes it.

Pure: given the runs in flight per version and step, the definitions of those versions, the
audience the journey would enroll now and two simulated funnels (the newest published version
and the new one, over the same sample, seed and days), build the report `journeys impact`,
`journeys publish --dry-run` and `POST /journeys/impact` show. Runs in flight stay on the
version they started with whatever is published (the definition travels in the run), so a step
the new version removes or changes only says how many runs would not see the change.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from typing import Literal

from pydantic import BaseModel, Field

from domain.journey import JourneyDefinition
from domain.journey_diff import Change, diff_journeys, step_kind

Fate = Literal["removed", "changed", "unchanged", "starting", "unknown"]
STEP_STATUSES = ("entered", "completed", "skipped", "exited", "failed")
PINNED = "runs in flight stay on the version they started with; only new entrants take the new one"


class StepInFlight(BaseModel):
    """Runs of one version at one step, and what the new version does to that step."""

    step_id: str | None  # None: started, not yet at a step
    kind: str
    runs: int
    fate: Fate
    details: list[str] = Field(default_factory=list)


class VersionInFlight(BaseModel):
    version: int
    runs: int
    on_removed: int
    on_changed: int
    steps: list[StepInFlight]
    changes: list[Change] = Field(default_factory=list)  # this version -> the new one


class AudienceImpact(BaseModel):
    """Whom the journey's audience would enroll now (nobody is enrolled to find out)."""

    segment: str
    as_of: date
    members: int
    would_enroll: int
    blocked: int  # already in the journey, or kept out by its re-entry policy
    erased: int
    # Why an enrollment run would enroll no one now whoever is a member (as it stops):
    # the journey is paused, or it correlates its runs on a trigger property.
    stopped: str = ""


class SimulatedFunnel(BaseModel):
    """One simulation's counts: runs by how they ended, goals, steps by status."""

    label: str  # "v3" or the file
    customers: int
    days: int
    runs: dict[str, int] = Field(default_factory=dict)
    goals: dict[str, int] = Field(default_factory=dict)
    converted: int = 0
    steps: dict[str, dict[str, int]] = Field(default_factory=dict)
    messages: dict[str, int] = Field(default_factory=dict)  # by outcome: sent, skipped, ...
    seconds: float = 0.0


class FunnelRow(BaseModel):
    step_id: str
    kind: str
    current: dict[str, int] | None = None  # None: the step is not in the current version
    new: dict[str, int] | None = None  # None: the step is not in the new version


class FunnelComparison(BaseModel):
    sample: str  # where the simulated customers came from
    seed: int
    current: SimulatedFunnel | None = None  # None: a journey never published
    new: SimulatedFunnel
    rows: list[FunnelRow]


class ImpactReport(BaseModel):
    journey_id: str
    new_label: str
    published_version: int | None  # the newest; None: never published
    status: str | None = None
    unchanged: bool = False  # the new definition is the newest version: publish keeps it
    summary: str = ""  # the diff from the newest version, in one line
    changes: list[Change] = Field(default_factory=list)  # newest version -> new
    in_flight: list[VersionInFlight] = Field(default_factory=list)
    audience: AudienceImpact | None = None
    funnel: FunnelComparison | None = None
    notes: list[str] = Field(default_factory=list)

    @property
    def runs_in_flight(self) -> int:
        return sum(v.runs for v in self.in_flight)

    @property
    def runs_on_affected_steps(self) -> int:
        return sum(v.on_removed + v.on_changed for v in self.in_flight)


def _fates(changes: Sequence[Change]) -> dict[str, Change]:
    return {c.subject: c for c in changes if c.area == "step" and c.kind != "added"}


def versions_in_flight(
    new: JourneyDefinition,
    new_label: str,
    versions: Mapping[int, JourneyDefinition],
    counts: Sequence[tuple[int, str | None, int]],
) -> list[VersionInFlight]:
    """Per version with runs in flight (`counts`: version, current step, runs), each step's
    runs and whether `new` removes or changes that step (compared with that version)."""
    by_version: dict[int, list[tuple[str | None, int]]] = {}
    for version, step_id, runs in counts:
        if runs > 0:
            by_version.setdefault(version, []).append((step_id, runs))
    found = []
    for version in sorted(by_version):
        definition = versions.get(version)
        if definition is None:
            raise KeyError(f"version {version} of {new.id!r} was not given")
        diff = diff_journeys(definition, new, old_label=f"{new.id} v{version}", new_label=new_label)
        fates = _fates(diff.changes)
        order = {step.id: index for index, step in enumerate(definition.steps)}
        kinds = {step.id: step_kind(step) for step in definition.steps}
        rows = []
        for step_id, runs in sorted(
            by_version[version],
            key=lambda item: -1 if item[0] is None else order.get(item[0], 10**6),
        ):
            fate: Fate
            details: list[str] = []
            if step_id is None:
                fate = "starting"
            elif step_id not in kinds:
                fate = "unknown"
            elif step_id in fates:
                change = fates[step_id]
                fate = "removed" if change.kind == "removed" else "changed"
                details = [] if change.kind == "removed" else change.details
            else:
                fate = "unchanged"
            rows.append(
                StepInFlight(
                    step_id=step_id,
                    kind=kinds.get(step_id or "", ""),
                    runs=runs,
                    fate=fate,
                    details=details,
                )
            )
        found.append(
            VersionInFlight(
                version=version,
                runs=sum(r.runs for r in rows),
                on_removed=sum(r.runs for r in rows if r.fate == "removed"),
                on_changed=sum(r.runs for r in rows if r.fate == "changed"),
                steps=rows,
                changes=diff.changes,
            )
        )
    return found


def compare_funnels(
    current_definition: JourneyDefinition | None,
    new_definition: JourneyDefinition,
    current: SimulatedFunnel | None,
    new: SimulatedFunnel,
    *,
    sample: str,
    seed: int,
) -> FunnelComparison:
    """Step by step: the new version's steps in its order, then the current version's steps
    it no longer has. A step no simulated run reached shows zeros."""
    zero = dict.fromkeys(STEP_STATUSES, 0)
    rows: list[FunnelRow] = []
    current_steps = (
        {step.id: step for step in current_definition.steps} if current_definition else {}
    )
    for step in new_definition.steps:
        rows.append(
            FunnelRow(
                step_id=step.id,
                kind=step_kind(step),
                current=(
                    {**zero, **current.steps.get(step.id, {})}
                    if current is not None and step.id in current_steps
                    else None
                ),
                new={**zero, **new.steps.get(step.id, {})},
            )
        )
    new_ids = {step.id for step in new_definition.steps}
    for step_id, step in current_steps.items():
        if step_id not in new_ids and current is not None:
            rows.append(
                FunnelRow(
                    step_id=step_id,
                    kind=step_kind(step),
                    current={**zero, **current.steps.get(step_id, {})},
                    new=None,
                )
            )
    return FunnelComparison(sample=sample, seed=seed, current=current, new=new, rows=rows)


def impact_report(
    new: JourneyDefinition,
    new_label: str,
    *,
    published_version: int | None,
    status: str | None = None,
    versions: Mapping[int, JourneyDefinition] | None = None,
    in_flight: Sequence[tuple[int, str | None, int]] = (),
    audience: AudienceImpact | None = None,
    funnel: FunnelComparison | None = None,
) -> ImpactReport:
    """The whole preview. `versions` holds the definition of every version in `in_flight`
    and of `published_version`."""
    versions = versions or {}
    report = ImpactReport(
        journey_id=new.id,
        new_label=new_label,
        published_version=published_version,
        status=status,
        audience=audience,
        funnel=funnel,
    )
    if published_version is None:
        report.summary = "a new journey: never published, so no run is in flight"
        report.notes.append(f"publishing would create {new.id} v1")
    else:
        newest = versions[published_version]
        diff = diff_journeys(
            newest, new, old_label=f"{new.id} v{published_version}", new_label=new_label
        )
        report.unchanged = diff.empty
        report.summary = diff.summary()
        report.changes = diff.changes
        report.in_flight = versions_in_flight(new, new_label, versions, in_flight)
        if diff.empty:
            report.notes.append(
                f"no differences from v{published_version}: publishing would keep "
                f"v{published_version} and change nothing"
            )
        else:
            report.notes.append(f"publishing would create {new.id} v{published_version + 1}")
        if report.runs_in_flight:
            report.notes.append(PINNED)
    if audience is not None and audience.stopped:
        report.notes.append(f"its audience enrolls no one now: {audience.stopped}")
    return report

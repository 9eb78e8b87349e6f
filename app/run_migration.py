"""Migrate runs in flight to a newer version of their journey (`journeys migrate`).

The plan (domain/run_migration.py) says, per older version, which step goes to which step of
the newer one and why the others stay. Each run whose step has a mapping gets the `migrate_to`
update (its validator refuses a run that is not waiting on a timer or an event: mid-send, held,
at a callback), under an id derived from the command, so the same command again resumes it.
A dry run reads the store and changes nothing. Every move is audited as `run.migrate`.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from typing import Literal

from pydantic import BaseModel, Field

from app.journeys import JourneyService, UnknownJourney
from app.run_operations import (
    CONCURRENT_OPERATIONS,
    OperationRefused,
    RunOperations,
    bulk_key,
)
from domain.contracts import RunOperation
from domain.journey import JourneyDefinition
from domain.run_migration import (
    MigrationProblem,
    VersionPlan,
    check_target,
    plan,
    versions_behind,
)
from domain.runs import Enrollment


class MigrationOutcome(BaseModel):
    workflow_id: str
    entry_id: str
    from_version: int
    step: str | None
    outcome: Literal["moved", "already", "stayed", "refused", "would move"]
    target: str | None = None
    detail: str


class StepPlan(BaseModel):
    """One row of the report: the runs of a version at a step, and where they go."""

    version: int
    step: str | None
    runs: int
    target: str | None = Field(description="The step of the newer version; None: they stay.")
    why: str = ""


class MigrationReport(BaseModel):
    journey_id: str
    to_version: int
    dry_run: bool
    key: str
    selected: int
    moved: int = 0
    already: int = 0
    stayed: int = 0
    refused: int = 0
    plan: list[StepPlan] = Field(default_factory=list)
    reasons: dict[str, int] = Field(default_factory=dict, description="stays and refusals")
    outcomes: list[MigrationOutcome] = Field(default_factory=list)


class RunMigration:
    def __init__(self, service: JourneyService) -> None:
        self.service = service
        self.operations = RunOperations(service)

    def prepare(
        self, journey_id: str, to_version: int, explicit: dict[str, str], step: str | None
    ) -> tuple[JourneyDefinition, dict[int, VersionPlan], list[Enrollment]]:
        """The newer version, the plan for each older one, and the runs selected; nothing
        changes. MigrationProblem (naming the field) or UnknownJourney when it cannot be."""
        store = self.service.store
        if store.journeys.get(journey_id) is None:
            raise UnknownJourney(journey_id)
        published = {record.version for record in store.journeys.versions(journey_id)}
        running = store.runs.select_running(journey_id)
        behind = versions_behind(
            journey_id, to_version, published, {run.version for run in running}
        )
        olds = {v: self.service.journey(journey_id, v) for v in behind}
        check_target(journey_id, to_version, olds, step)
        new = self.service.journey(journey_id, to_version)
        plans = plan(olds, new, to_version, explicit)
        selected = [
            run
            for run in running
            if run.version < to_version and (step is None or run.current_step == step)
        ]
        if not selected:
            raise MigrationProblem("where", f"no running run of {journey_id!r} at step {step!r}")
        return new, plans, selected

    async def migrate(
        self,
        journey_id: str,
        to_version: int,
        reason: str,
        *,
        explicit: dict[str, str] | None = None,
        step: str | None = None,
        dry_run: bool = False,
        key: str | None = None,
        on_start: Callable[[int], None] = lambda _total: None,
        on_done: Callable[[MigrationOutcome], None] = lambda _outcome: None,
    ) -> MigrationReport:
        explicit = explicit or {}
        new, plans, runs = await asyncio.to_thread(
            self.prepare, journey_id, to_version, explicit, step
        )
        mapping = repr(sorted(explicit.items()))
        key = key or bulk_key("migrate", journey_id, to_version, step, mapping, reason)
        report = MigrationReport(
            journey_id=journey_id,
            to_version=to_version,
            dry_run=dry_run,
            key=key,
            selected=len(runs),
            plan=_rows(plans, runs),
        )
        on_start(len(runs))
        actor = self.operations.actor()
        gate = asyncio.Semaphore(CONCURRENT_OPERATIONS)

        async def one(run: Enrollment) -> MigrationOutcome:
            version_plan = plans[run.version]
            where = run.current_step
            target = version_plan.mapping.get(where or "")
            base = {
                "workflow_id": run.workflow_id,
                "entry_id": run.entry_id,
                "from_version": run.version,
                "step": where,
            }
            if target is None:
                why = version_plan.stays.get(where or "", f"step {where} has no mapping")
                outcome = MigrationOutcome(**base, outcome="stayed", detail=why)
            elif dry_run:
                outcome = MigrationOutcome(
                    **base, outcome="would move", target=target, detail=f"to {target}"
                )
            else:
                op = RunOperation(
                    actor=actor,
                    reason=reason,
                    to=target,
                    to_version=to_version,
                    journey=new,
                    mapping=version_plan.mapping,
                )
                async with gate:
                    try:
                        done = await self.operations.apply(run, "migrate", reason, target, key, op)
                        kind = {"done": "moved", "already": "already"}.get(done.outcome, "refused")
                        outcome = MigrationOutcome(
                            **base,
                            outcome=kind,
                            target=done.position,
                            detail=done.detail,
                        )
                    except OperationRefused as exc:
                        outcome = MigrationOutcome(**base, outcome="refused", detail=str(exc))
            on_done(outcome)
            return outcome

        report.outcomes = list(await asyncio.gather(*(one(run) for run in runs)))
        counts = Counter(o.outcome for o in report.outcomes)
        report.moved = counts["moved"] + counts["would move"]
        report.already, report.stayed, report.refused = (
            counts["already"],
            counts["stayed"],
            counts["refused"],
        )
        report.reasons = dict(
            Counter(
                o.detail for o in report.outcomes if o.outcome in ("stayed", "refused")
            ).most_common()
        )
        return report


def _rows(plans: dict[int, VersionPlan], runs: list[Enrollment]) -> list[StepPlan]:
    counts = Counter((run.version, run.current_step) for run in runs)
    rows = []
    for (version, step), count in sorted(
        counts.items(), key=lambda item: (item[0][0], str(item[0][1]))
    ):
        version_plan = plans[version]
        target = version_plan.mapping.get(step or "")
        why = "" if target else version_plan.stays.get(step or "", "no mapping")
        rows.append(StepPlan(version=version, step=step, runs=count, target=target, why=why))
    return rows

"""A funnel's step rows in the order of the definition, with the steps no run reached."""

from __future__ import annotations

from domain.journey import JourneyDefinition, step_kind
from store.reports import StepCounts


def ordered_steps(journey: JourneyDefinition, counts: list[StepCounts]) -> list[StepCounts]:
    """Counts in the order of the newest definition; steps of older versions follow."""
    order = {step.id: i for i, step in enumerate(journey.steps)}
    return sorted(counts, key=lambda c: (c.version, order.get(c.step_id, len(order)), c.step_id))


def with_unreached_steps(
    journey: JourneyDefinition, version: int, counts: list[StepCounts]
) -> list[StepCounts]:
    """`counts` and a zero row for every step of `journey` (version `version`) no run reached:
    a funnel shows where runs stop, so a step nobody got to is part of it."""
    reached = {c.step_id for c in counts if c.version == version}
    unreached = [
        StepCounts(version=version, step_id=step.id, kind=step_kind(step) or "")
        for step in journey.steps
        if step.id not in reached
    ]
    return ordered_steps(journey, [*counts, *unreached])

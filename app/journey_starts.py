"""What publishing checks across journeys: the targets of `start` steps exist, and journeys do
not start each other in a cycle without a wait (the rules are domain/journey_graph.py; this
reads the published journeys they are checked against)."""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import ValidationError

from domain.journey import JourneyDefinition
from domain.journey_graph import start_problems, start_steps
from domain.problems import Problem
from store.errors import StoreError
from store.store import Store


def published_definitions(store: Store) -> dict[str, JourneyDefinition | None]:
    """Every published journey's newest version by id (None for one that no longer loads)."""
    found: dict[str, JourneyDefinition | None] = {}
    for summary in store.journeys.list():
        record = store.journeys.get_version(summary.journey_id)
        try:
            found[summary.journey_id] = (
                None if record is None else JourneyDefinition.model_validate(record.definition)
            )
        except (StoreError, ValidationError):
            found[summary.journey_id] = None
    return found


def publish_problems(
    store: Store, together: Sequence[tuple[str, JourneyDefinition]]
) -> list[Problem]:
    """The start-step problems of journeys published together, as (file, journey); nothing is
    read when none of them has a start step (nothing else can make a cycle or a bad target)."""
    if not any(start_steps(journey) for _, journey in together):
        return []
    return start_problems(together, published_definitions(store))

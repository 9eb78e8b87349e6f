"""Rules across journeys: what a `start` step names must exist (and get the property its runs
are keyed by, when it correlates on one), and journeys must not start each other in a cycle
that passes no wait.

A run of a started journey begins at once, at its first step. If a journey reaches a `start`
step from its first step without passing a wait, and the journey it starts does the same back
(directly or through others, or a journey starts itself), each run starts the next with nothing
between them: publishing refuses it. Waits are the steps that hold a run: `wait`, `wait_for`,
`callback` and `survey`.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping, Sequence

from domain.checks import successors
from domain.journey import (
    END,
    CallbackStep,
    JourneyDefinition,
    StartStep,
    SurveyStep,
    WaitForStep,
    WaitStep,
)
from domain.problems import Problem

WAIT_STEPS = (WaitStep, WaitForStep, CallbackStep, SurveyStep)
# How many known journeys a problem lists before it stops.
LISTED = 12


def start_steps(journey: JourneyDefinition) -> list[StartStep]:
    return [step for step in journey.steps if isinstance(step, StartStep)]


def starts_without_wait(journey: JourneyDefinition) -> list[StartStep]:
    """The start steps some path from the first step reaches without passing a wait."""
    if not journey.steps:
        return []
    index = {step.id: i for i, step in enumerate(journey.steps)}
    reached: set[str] = set()
    todo = [journey.steps[0].id]
    while todo:
        step_id = todo.pop()
        if step_id == END or step_id in reached or step_id not in index:
            continue
        step = journey.steps[index[step_id]]
        if isinstance(step, WAIT_STEPS):
            continue  # past a wait the run is held: whatever follows is not immediate
        reached.add(step_id)
        todo.extend(successors(journey, index[step_id]))
    return [step for step in start_steps(journey) if step.id in reached]


def _immediate_edges(journeys: Mapping[str, JourneyDefinition]) -> dict[str, list[str]]:
    return {
        journey_id: list(dict.fromkeys(s.start.journey for s in starts_without_wait(journey)))
        for journey_id, journey in journeys.items()
    }


def _path(edges: Mapping[str, list[str]], source: str, goal: str) -> list[str] | None:
    """The shortest chain of immediate starts from `source` to `goal` (both included)."""
    before: dict[str, str | None] = {source: None}
    queue = deque([source])
    while queue:
        node = queue.popleft()
        if node == goal:
            chain = [node]
            while (previous := before[chain[-1]]) is not None:
                chain.append(previous)
            return chain[::-1]
        for nxt in edges.get(node, []):
            if nxt not in before:
                before[nxt] = node
                queue.append(nxt)
    return None


def start_problems(
    together: Sequence[tuple[str, JourneyDefinition]],
    published: Mapping[str, JourneyDefinition | None],
) -> list[Problem]:
    """Problems of the start steps of journeys published together (as (file, journey)).

    `published`: every published journey's newest version by id (None for one that no longer
    loads: it exists, but starts nothing). A journey of `together` replaces its published
    version. Each problem names the file, the step and `start.journey`.
    """
    world: dict[str, JourneyDefinition | None] = dict(published)
    world.update({journey.id: journey for _, journey in together})
    loaded = {journey_id: j for journey_id, j in world.items() if j is not None}
    edges = _immediate_edges(loaded)
    problems: list[Problem] = []
    for source, journey in together:
        immediate = {step.id for step in starts_without_wait(journey)}
        for step in start_steps(journey):
            target = step.start.journey
            if target not in world:
                problems.append(
                    Problem(
                        f"starts unknown journey {target!r} (known: {_known(world)})",
                        field="start.journey",
                        step=step.id,
                        file=source,
                    )
                )
                continue
            started = world[target]
            key = started.trigger.correlate_on if started is not None else None
            if key is not None and key not in step.start.properties:
                problems.append(
                    Problem(
                        f"journey {target!r} correlates on {key!r}: its runs are keyed by it, "
                        f"so give start.properties.{key}",
                        field="start.properties",
                        step=step.id,
                        file=source,
                    )
                )
            if step.id not in immediate:
                continue
            back = _path(edges, target, journey.id)
            if back is not None:
                cycle = " -> ".join([journey.id, *back])
                problems.append(
                    Problem(
                        f"journeys start each other with no wait between: {cycle} "
                        "(add a wait before one of these start steps)",
                        field="start.journey",
                        step=step.id,
                        file=source,
                    )
                )
    return problems


def _known(ids: Iterable[str]) -> str:
    names = sorted(ids)
    if not names:
        return "none published"
    listed = ", ".join(names[:LISTED])
    return listed + (f", ... ({len(names) - LISTED} more)" if len(names) > LISTED else "")

"""Static checks of a parsed journey: ids, targets, reachability, busy loops, expressions."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from itertools import pairwise

from pydantic import BaseModel

from domain.durations import MAX_DURATION
from domain.expressions import syntax_error
from domain.journey import (
    CONTINUE,
    END,
    BranchStep,
    CallbackStep,
    EndStep,
    GotoStep,
    JourneyDefinition,
    SendStep,
    SplitStep,
    StartStep,
    Step,
    SurveyStep,
    UpdateStep,
    WaitForStep,
    WaitStep,
)
from domain.limits import MAX_COOLDOWN_DAYS, MAX_DURATION_DAYS, MAX_SPLIT_WEIGHT, MAX_STEPS
from domain.problems import Problem
from domain.template_check import render_problems, value_problems


def successors(journey: JourneyDefinition, index: int) -> list[str]:
    """Where a step can go next: step ids, or 'end'."""
    step = journey.steps[index]
    following = journey.steps[index + 1].id if index + 1 < len(journey.steps) else END
    match step:
        case GotoStep():
            return [step.goto]
        case EndStep():
            return []
        case BranchStep():
            targets = [case.target for case in step.branch]
            if step.branch[-1].else_ is None:
                targets.append(following)
            return targets
        case WaitForStep():
            return [following, step.on_timeout or following]
        case SplitStep():
            return [variant.goto for variant in step.split]
        case CallbackStep():
            return [following, *step.on_outcome.values(), step.on_timeout or following]
        case SurveyStep():
            return [following, step.on_timeout or following]
        case SendStep():
            return [following, step.send.failure_target(following)]
        case _:
            return [following]


def check(journey: JourneyDefinition) -> list[Problem]:
    """Every problem a journey has that its schema alone cannot see."""
    if len(journey.steps) > MAX_STEPS:  # the graph walks below are bounded by the step count
        return [Problem(field="steps", message=f"more than {MAX_STEPS} steps")]
    problems = list(_duplicates(journey))
    problems += _long_durations(journey)
    problems += _heavy_weights(journey)
    duplicated = bool(problems)
    targets = list(_targets(journey))
    problems += targets
    problems += _templates(journey)
    expressions = list(_expressions(journey))
    problems += expressions
    if not expressions:
        problems += value_problems(journey)
    if not duplicated and not targets:  # the graph walks below need every target to exist
        problems += _unreachable(journey)
        problems += _busy_loops(journey)
    return problems


def _long_durations(journey: JourneyDefinition) -> Iterator[Problem]:
    """Durations beyond the longest: a wait or cooldown that long is a mistake, and past the
    calendar it could not even be scheduled."""
    cooldown = journey.trigger.cooldown
    if cooldown is not None and cooldown > timedelta(days=MAX_COOLDOWN_DAYS):
        yield Problem(
            field="trigger.cooldown",
            message=f"longer than the largest cooldown, {MAX_COOLDOWN_DAYS}d",
        )
    for step in journey.steps:
        for field, value in _timedeltas(step, ""):
            if value > MAX_DURATION:
                yield _too_long(step.id, field)


def _heavy_weights(journey: JourneyDefinition) -> Iterator[Problem]:
    """Split weights beyond the largest: their sum could overflow and send everyone one way."""
    for step in journey.steps:
        if not isinstance(step, SplitStep):
            continue
        for index, variant in enumerate(step.split):
            if variant.weight > MAX_SPLIT_WEIGHT:
                yield Problem(
                    step=step.id,
                    field=f"split.{index}.weight",
                    message=f"larger than the largest weight, {MAX_SPLIT_WEIGHT:g}",
                )


def _timedeltas(model: BaseModel, path: str) -> Iterator[tuple[str, timedelta]]:
    for name in type(model).model_fields:
        value = getattr(model, name)
        field = f"{path}.{name.rstrip('_')}" if path else name
        if isinstance(value, timedelta):
            yield field, value
        elif isinstance(value, BaseModel):
            yield from _timedeltas(value, field)


def _too_long(step: str | None, field: str) -> Problem:
    return Problem(
        step=step, field=field, message=f"longer than the longest duration, {MAX_DURATION_DAYS}d"
    )


def _duplicates(journey: JourneyDefinition) -> Iterator[Problem]:
    seen: set[str] = set()
    for step in journey.steps:
        if step.id in seen:
            yield Problem(step=step.id, field="id", message=f"duplicate step id {step.id!r}")
        seen.add(step.id)


def _targets(journey: JourneyDefinition) -> Iterator[Problem]:
    ids = {step.id for step in journey.steps} | {END}
    for step in journey.steps:
        if (
            isinstance(step, SendStep)
            and "on_failure" in step.send.model_fields_set
            and step.send.on_failure == CONTINUE
            and CONTINUE in ids
        ):
            yield Problem(
                step=step.id,
                field="send.on_failure",
                message="'continue' means the next step here, but a step is named 'continue' "
                "too: rename that step",
            )
        for field, target in _named_targets(step):
            if target not in ids:
                yield Problem(
                    step=step.id,
                    field=field,
                    message=f"goes to unknown step {target!r} (known: {', '.join(sorted(ids))})",
                )


def _named_targets(step: Step) -> list[tuple[str, str]]:
    match step:
        case GotoStep():
            return [("goto", step.goto)]
        case BranchStep():
            return [
                (f"branch[{i}].{'else' if case.else_ is not None else 'goto'}", case.target)
                for i, case in enumerate(step.branch)
            ]
        case WaitForStep() if step.on_timeout:
            return [("on_timeout", step.on_timeout)]
        case SplitStep():
            return [(f"split[{i}].goto", variant.goto) for i, variant in enumerate(step.split)]
        case CallbackStep():
            named = [(f"on_outcome.{o}", target) for o, target in step.on_outcome.items()]
            return named + ([("on_timeout", step.on_timeout)] if step.on_timeout else [])
        case SurveyStep() if step.on_timeout:
            return [("on_timeout", step.on_timeout)]
        case SendStep() if step.send.on_failure != CONTINUE:
            return [("send.on_failure", step.send.on_failure)]
    return []


def _templates(journey: JourneyDefinition) -> Iterator[Problem]:
    for step in journey.steps:
        used = (
            ("send.template", step.send.template)
            if isinstance(step, SendStep)
            else ("survey.template", step.survey.template)
            if isinstance(step, SurveyStep)
            else None
        )
        if used is not None and used[1] not in journey.templates:
            known = ", ".join(sorted(journey.templates)) or "none defined"
            yield Problem(
                step=step.id,
                field=used[0],
                message=f"unknown template {used[1]!r} (known: {known})",
            )
    parse_errors = False
    for name, template in journey.templates.items():
        variants = [("", template), *((f".locales.{k}", v) for k, v in template.locales.items())]
        for where, variant in variants:
            for part in ("subject", "text", "html"):
                source = getattr(variant, part)
                if source and (error := syntax_error(source, expression=False)):
                    parse_errors = True
                    yield Problem(
                        field=f"templates.{name}{where}.{part}", message=f"does not parse: {error}"
                    )
    if not parse_errors:
        yield from render_problems(journey)


def _expressions(journey: JourneyDefinition) -> Iterator[Problem]:
    for step in journey.steps:
        for field, source, is_expression in _step_expressions(step):
            if error := syntax_error(source, expression=is_expression):
                yield Problem(step=step.id, field=field, message=f"does not parse: {error}")
    for i, goal in enumerate(journey.exit_when):
        for key, value in goal.match.items():
            if isinstance(value, str) and (error := syntax_error(value, expression=False)):
                yield Problem(
                    field=f"exit_when[{i}].match.{key}", message=f"does not parse: {error}"
                )


def _step_expressions(step: Step) -> list[tuple[str, str, bool]]:
    match step:
        case BranchStep():
            return [
                (f"branch[{i}].when", case.when, True)
                for i, case in enumerate(step.branch)
                if case.when is not None
            ]
        case WaitForStep():
            return [
                (f"wait_for.match.{key}", value, False)
                for key, value in step.wait_for.match.items()
                if isinstance(value, str)
            ]
        case UpdateStep():
            return [
                (f"update.set.{key}", value, False)
                for key, value in step.update.set.items()
                if isinstance(value, str)
            ]
        case StartStep():
            return [
                (f"start.properties.{key}", value, False)
                for key, value in step.start.properties.items()
                if isinstance(value, str)
            ]
    return []


def _unreachable(journey: JourneyDefinition) -> Iterator[Problem]:
    index = {step.id: i for i, step in enumerate(journey.steps)}
    reached: set[str] = set()
    todo = [journey.steps[0].id]
    while todo:
        step_id = todo.pop()
        if step_id in reached or step_id == END:
            continue
        reached.add(step_id)
        todo.extend(successors(journey, index[step_id]))
    for step in journey.steps:
        if step.id not in reached:
            yield Problem(step=step.id, field="id", message="unreachable: no step leads here")


def _busy_loops(journey: JourneyDefinition) -> Iterator[Problem]:
    """A cycle that passes no wait would spin without pause: refuse it."""
    waits = {
        s.id
        for s in journey.steps
        if isinstance(s, WaitStep | WaitForStep | CallbackStep | SurveyStep)
    }
    index = {step.id: i for i, step in enumerate(journey.steps)}
    graph = {
        step.id: [t for t in successors(journey, i) if t != END and t not in waits]
        for i, step in enumerate(journey.steps)
        if step.id not in waits
    }
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done

    def visit(node: str, path: list[str]) -> list[str] | None:
        state[node] = 1
        for nxt in graph[node]:
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt] if nxt in path else [node, nxt]
            if nxt not in state and (cycle := visit(nxt, [*path, nxt])):
                return cycle
        state[node] = 2
        return None

    for node in sorted(graph, key=index.__getitem__):
        if node not in state and (cycle := visit(node, [node])):
            step_id, field = _jump_back(journey, index, cycle)
            yield Problem(
                step=step_id,
                field=field,
                message="loop without a wait: " + " -> ".join(cycle) + " (add a wait step)",
            )
            return


def _jump_back(
    journey: JourneyDefinition, index: dict[str, int], cycle: list[str]
) -> tuple[str, str]:
    """The step and field that close a loop: the last jump in it that names its target."""
    for source, target in reversed(list(pairwise(cycle))):
        fields = [f for f, t in _named_targets(journey.steps[index[source]]) if t == target]
        if fields:
            return source, fields[0]
    return cycle[0], "goto"

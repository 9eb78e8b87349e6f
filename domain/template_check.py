"""Render every template of a journey, in every locale, strictly, before anyone is sent one.

The sample customer has every profile field, the attributes and trigger properties the
journey's `sample` names, the trigger's correlation key and match properties, and a plausible
output for every step. A template that names anything else (a typo such as
`profile.frist_name`, a trigger property no trigger carries) or that tries to leave the
sandbox fails here, naming the template, the locale and the reason, so a publish fails
instead of a send at night.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from jinja2.exceptions import SecurityError, UndefinedError

from domain.customers import CustomerProfile
from domain.events import CustomerEvent
from domain.expressions import (
    BudgetError,
    ExpressionError,
    describe,
    evaluate_condition,
    render_value,
)
from domain.journey import (
    BranchStep,
    CallbackStep,
    HoldoutStep,
    JourneyDefinition,
    SendStep,
    SplitStep,
    StartStep,
    Step,
    SurveyStep,
    TemplateVariant,
    UpdateStep,
    WaitForStep,
)
from domain.problems import Problem
from domain.rendering import render_template

SAMPLE_TIME = datetime(2026, 1, 1, 9, 0, tzinfo=UTC)


def sample_context(journey: JourneyDefinition) -> dict[str, Any]:
    properties: dict[str, Any] = {**journey.trigger.match, **journey.sample.trigger}
    if journey.trigger.correlate_on:
        properties.setdefault(journey.trigger.correlate_on, "sample-1")
    trigger = CustomerEvent(
        event_id="sample-event",
        customer_id="sample",
        type=journey.trigger.event,
        occurred_at=SAMPLE_TIME,
        properties=properties,
    )
    profile = CustomerProfile(
        customer_id="sample",
        email="sample@example.com",
        phone="+15555550100",
        attributes=dict(journey.sample.profile),
        created_at=SAMPLE_TIME,
        updated_at=SAMPLE_TIME,
    )
    return {
        "profile": profile.template_context(),
        "trigger": trigger.template_context(),
        "steps": {step.id: _sample_output(step) for step in journey.steps},
        "journey": {"id": journey.id, "version": 1, "name": journey.name},
        "unsubscribe_url": "https://example.com/unsubscribe?token=sample",
        "survey": {"url": "https://example.com/s/sample", "kind": "csat", "survey_id": "sv-1"},
    }


def _sample_output(step: Step) -> dict[str, Any]:
    match step:
        case SendStep():
            return {"status": "sent", "detail": ""}
        case WaitForStep():
            return {"received": True, "event": {"type": step.wait_for.event, "properties": {}}}
        case SplitStep():
            return {"variant": step.split[0].name}
        case HoldoutStep():
            return {"group": "treatment"}
        case CallbackStep():
            return {"task_id": "cb-sample", "outcome": "reached", "notes": "", "timed_out": False}
        case SurveyStep():
            return {"survey_id": "sv-sample", "answered": True, "score": 5, "comment": ""}
        case StartStep():
            return {
                "status": "started",
                "detail": "first entry",
                "workflow_id": f"journey/{step.start.journey}/sample",
                "version": 1,
            }
    return {}


def _users(journey: JourneyDefinition) -> dict[str, list[str]]:
    """Which steps send each template (send and survey steps)."""
    users: dict[str, list[str]] = {}
    for step in journey.steps:
        match step:
            case SendStep():
                users.setdefault(step.send.template, []).append(step.id)
            case SurveyStep():
                users.setdefault(step.survey.template, []).append(step.id)
    return users


def render_problems(journey: JourneyDefinition) -> Iterator[Problem]:
    context = sample_context(journey)
    users = _users(journey)
    for name, template in journey.templates.items():
        variants: list[tuple[str, TemplateVariant]] = [("", template)]
        variants += [(f".locales.{locale}", v) for locale, v in template.locales.items()]
        steps = ", ".join(repr(step) for step in users.get(name, []))
        used_by = f" (sent by step {steps})" if steps else ""
        for where, variant in variants:
            try:
                render_template(variant, context)
            except ExpressionError as exc:
                reason = describe(exc.__cause__) if exc.__cause__ else str(exc)
                locale = where.removeprefix(".locales.") or "default"
                yield Problem(
                    field=f"templates.{name}{where}",
                    message=(
                        f"does not render for a sample customer ({locale} locale): "
                        f"{reason}{used_by}"
                    ),
                )


def value_problems(journey: JourneyDefinition) -> Iterator[Problem]:
    """Render every other template position and evaluate every condition against the sample.

    `update.set`, `wait_for.match` and `exit_when.match` values are rendered strictly, as the
    run renders them (`wait_for` and goals without the profile, as the run has none there).
    The sample may lack a value one names (a trigger property only some events carry), so a
    missing value is no problem here; anything else that fails (the sandbox refuses it, it
    runs over its budget, `1/0`) would fail for every customer: that is a problem. A branch
    condition is a problem only when refused or over its budget, as the sample cannot say
    whether a comparison holds.
    """
    context = sample_context(journey)
    without_profile = {**context, "profile": {}}
    for step in journey.steps:
        for field, value, is_condition in _positions(step):
            if is_condition:
                try:
                    evaluate_condition(value, context)
                except ExpressionError as exc:
                    if _refused(exc):
                        yield Problem(step=step.id, field=field, message=_reason(exc))
                continue
            # A run renders `wait_for` and `start` values without the profile, as it has none.
            use = without_profile if field.startswith(("wait_for.", "start.")) else context
            try:
                render_value(value, use)
            except ExpressionError as exc:
                if not isinstance(exc.__cause__, UndefinedError):
                    yield Problem(step=step.id, field=field, message=_reason(exc))
    for i, goal in enumerate(journey.exit_when):
        for key, expected in goal.match.items():
            try:
                render_value(expected, without_profile)
            except ExpressionError as exc:
                if not isinstance(exc.__cause__, UndefinedError):
                    yield Problem(field=f"exit_when[{i}].match.{key}", message=_reason(exc))


def _positions(step: Step) -> list[tuple[str, str, bool]]:
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


def _refused(exc: ExpressionError) -> bool:
    return isinstance(exc, BudgetError) or isinstance(exc.__cause__, SecurityError)


def _reason(exc: ExpressionError) -> str:
    reason = describe(exc.__cause__) if exc.__cause__ else str(exc)
    return f"does not render for a sample customer: {reason}"

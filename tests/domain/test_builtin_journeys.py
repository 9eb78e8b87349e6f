"""The built-in journeys in journeys/ load, validate against the published schema and render."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from domain.customers import CustomerProfile
from domain.expressions import evaluate_condition
from domain.journey import (
    STEP_KINDS,
    BranchStep,
    JourneyDefinition,
    SendStep,
    SurveyStep,
    UpdateStep,
    WaitStep,
)
from domain.loader import load_journey_file
from domain.rendering import render_template
from domain.segments import load_segments_file
from domain.template_check import sample_context

JOURNEYS_DIR = Path(__file__).resolve().parents[2] / "journeys"
BUILT_IN = sorted(JOURNEYS_DIR.glob("*.yaml"))
EXPECTED = {
    "onboarding",
    "nurture",
    "post_purchase",
    "win_back",
    "vip_care",
    "birthday",
    "signup_anniversary",
}
SEGMENTS_FILE = JOURNEYS_DIR / "segments" / "segments.yaml"
AUDIENCES = {
    "win_back": "at_risk_buyers",
    "nurture": "never_ordered",
    "vip_care": "vip",
    "birthday": "birthday_today",
    "signup_anniversary": "signup_anniversary",
}


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    return JourneyDefinition.model_json_schema(by_alias=True)


def minimal_context(journey: JourneyDefinition) -> dict[str, Any]:
    """What a send sees for a customer with nothing but an email address (and the trigger
    properties and step outputs the journey's sample says every run has)."""
    profile = CustomerProfile(customer_id="ada", email="ada@example.com")
    return sample_context(journey) | {"profile": profile.template_context()}


def test_every_expected_journey_is_built_in() -> None:
    assert {path.stem for path in BUILT_IN} >= EXPECTED


def test_segment_fed_journeys_name_built_in_segments() -> None:
    segments = load_segments_file(SEGMENTS_FILE)
    fed = {}
    for path in BUILT_IN:
        journey = load_journey_file(path)
        if journey.audience is not None:
            assert journey.audience.segment in segments, f"{path.name}: unknown segment"
            fed[journey.id] = journey.audience.segment
    assert fed == AUDIENCES


@pytest.mark.parametrize("path", BUILT_IN, ids=lambda p: p.stem)
def test_a_built_in_journey_loads_under_its_file_name(path: Path) -> None:
    journey = load_journey_file(path)
    assert journey.id == path.stem
    assert journey.name and journey.description


@pytest.mark.parametrize("path", BUILT_IN, ids=lambda p: p.stem)
def test_every_template_of_a_built_in_journey_renders_for_a_bare_profile(path: Path) -> None:
    journey = load_journey_file(path)
    context = minimal_context(journey)
    used = {step.send.template for step in journey.steps if isinstance(step, SendStep)}
    used |= {step.survey.template for step in journey.steps if isinstance(step, SurveyStep)}
    assert used == set(journey.templates), "every template is used, every used one defined"
    for template in journey.templates.values():
        parts = render_template(template, context)
        assert parts.subject and parts.text


@pytest.mark.parametrize("path", BUILT_IN, ids=lambda p: p.stem)
def test_every_condition_of_a_built_in_journey_evaluates_for_a_bare_profile(path: Path) -> None:
    journey = load_journey_file(path)
    context = minimal_context(journey)
    for step in journey.steps:
        if isinstance(step, BranchStep):
            for case in step.branch:
                if case.when is not None:
                    assert evaluate_condition(case.when, context) in (True, False)


@pytest.mark.parametrize("path", BUILT_IN, ids=lambda p: p.stem)
def test_every_timed_message_of_a_built_in_journey_waits_for_a_local_time(path: Path) -> None:
    journey = load_journey_file(path)
    for step in journey.steps:
        if isinstance(step, WaitStep) and step.wait.until is not None:
            assert "08:00" <= step.wait.until <= "20:00", f"{step.id} sends at night"


def test_onboarding_starts_on_sign_up_and_tags_the_customer() -> None:
    journey = load_journey_file(JOURNEYS_DIR / "onboarding.yaml")
    assert journey.trigger.event == "signed_up"
    assert {goal.event for goal in journey.exit_when} == {"order_completed", "onboarding_completed"}
    assert any(isinstance(s, UpdateStep) and s.update.add_tags for s in journey.steps)
    assert any(isinstance(s, BranchStep) for s in journey.steps)


def test_nurture_is_marketing_until_the_first_order() -> None:
    journey = load_journey_file(JOURNEYS_DIR / "nurture.yaml")
    assert (journey.category, journey.trigger.event) == ("marketing", "lead_created")
    assert [goal.event for goal in journey.exit_when] == ["order_completed"]


def test_post_purchase_runs_once_per_order_and_exits_on_that_orders_refund() -> None:
    journey = load_journey_file(JOURNEYS_DIR / "post_purchase.yaml")
    assert journey.category == "transactional"
    assert (journey.trigger.correlate_on, journey.trigger.re_entry) == ("order_id", "always")
    [refund] = journey.exit_when
    assert (refund.event, refund.match, refund.converted) == (
        "order_refunded",
        {"order_id": "{{ trigger.order_id }}"},
        False,
    )


def test_win_back_may_be_entered_again_after_ninety_days() -> None:
    journey = load_journey_file(JOURNEYS_DIR / "win_back.yaml")
    assert journey.trigger.event == "customer_lapsed"
    assert (journey.trigger.re_entry, journey.trigger.cooldown) == ("cooldown", timedelta(days=90))
    assert [goal.event for goal in journey.exit_when] == ["order_completed"]


def test_the_json_schema_describes_the_yaml_spelling(schema: dict[str, Any]) -> None:
    json.dumps(schema)  # serialisable as published
    defs = schema["$defs"]
    assert "for" in defs["WaitSpec"]["properties"]
    assert "else" in defs["BranchCase"]["properties"]
    assert set(schema["required"]) >= {"id", "name", "trigger", "steps"}
    assert len(schema["properties"]["steps"]["items"]["oneOf"]) == len(STEP_KINDS)
    end_forms = {json.dumps(form) for form in defs["EndStep"]["properties"]["end"]["anyOf"]}
    assert '{"type": "string"}' in end_forms  # `end: reason`, as the built-ins write it


@pytest.mark.parametrize("path", BUILT_IN, ids=lambda p: p.stem)
def test_a_built_in_journey_validates_against_the_json_schema(
    path: Path, schema: dict[str, Any]
) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    jsonschema.validate(raw, schema)


def test_the_json_schema_refuses_what_the_loader_refuses(schema: dict[str, Any]) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    bad_steps = [
        {"id": "x", "sned": {"channel": "email", "template": "t"}},
        {"id": "x"},
        {"id": "x", "wait": {"until": "25:00"}},
        {"id": "x", "wait": {"for": "2 days"}},
    ]
    for step in bad_steps:
        raw = {"id": "j", "name": "J", "trigger": {"event": "a"}, "steps": [step]}
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(raw, schema)

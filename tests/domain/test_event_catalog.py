"""The event catalog: it lists every event the product appends (read from the source, so it
cannot drift), the built-in journeys' business events, and who listens; and validate's rule
that warns of an event name no one records or sends, suggesting the closest known one."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path
from typing import Any

import pytest

from domain.event_catalog import (
    BUSINESS_EVENTS,
    LISTENED_ONLY,
    PRODUCT_EVENTS,
    event_catalog,
    event_name_warnings,
    journey_events,
    known_event_types,
)
from domain.journey import JourneyDefinition
from domain.loader import load_journey_file

ROOT = Path(__file__).resolve().parents[2]
JOURNEYS = ROOT / "journeys"
# Where the product appends events to a customer's log.
PRODUCT_CODE = ("activities", "app", "workflows", "domain", "store")
# A CustomerEvent built here is never appended: the sample trigger templates are checked with.
NOT_APPENDED = {"domain/template_check.py"}

PRODUCT_TYPES = {known.type for known in PRODUCT_EVENTS}
BUSINESS_TYPES = {known.type for known in BUSINESS_EVENTS}


def built_in() -> list[JourneyDefinition]:
    return [load_journey_file(path) for path in sorted(JOURNEYS.glob("*.yaml"))]


def journey(**changes: Any) -> JourneyDefinition:
    raw: dict[str, Any] = {
        "id": "first",
        "name": "First",
        "category": "marketing",
        "trigger": {"event": "signed_up"},
        "templates": {},
        "steps": [{"id": "pause", "wait": {"for": "1d"}}],
    }
    return JourneyDefinition.model_validate({**raw, **changes})


# --- the catalog against the code ----------------------------------------------------------


def _module(path: Path) -> Any:
    return importlib.import_module(".".join(path.relative_to(ROOT).with_suffix("").parts))


def _case_events() -> set[str]:
    """The events the case workflow hands to its record activity: `self._record("...")`."""
    tree = ast.parse((ROOT / "workflows" / "case.py").read_text())
    return {
        node.args[0].value
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "_record"
        and node.args
        and isinstance(node.args[0], ast.Constant)
        and isinstance(node.args[0].value, str)
    }


# Types given as an expression the scan cannot read on its own, and where their values come
# from. A new way of naming a type fails the test until it is added here.
INDIRECT = {("activities/cases.py", "record.event"): _case_events}


def _types_of(expr: ast.expr, path: Path) -> set[str]:
    where = path.relative_to(ROOT).as_posix()
    if isinstance(expr, ast.Constant) and isinstance(expr.value, str):
        return {expr.value}
    if isinstance(expr, ast.IfExp):
        return _types_of(expr.body, path) | _types_of(expr.orelse, path)
    if isinstance(expr, ast.Name):
        value = getattr(_module(path), expr.id)
        assert isinstance(value, str), f"{where}: {expr.id} is not a string"
        return {value}
    if isinstance(expr, ast.Subscript) and isinstance(expr.value, ast.Name):
        mapping = getattr(_module(path), expr.value.id)
        assert isinstance(mapping, dict), f"{where}: {expr.value.id} is not a dict"
        return set(mapping.values())
    source = ast.unparse(expr)
    reader = INDIRECT.get((where, source))
    assert reader is not None, (
        f"{where}: a CustomerEvent of type {source!r} the test cannot read; "
        "add it to INDIRECT and its type to domain/event_catalog.py"
    )
    return reader()


def appended_types() -> dict[str, set[str]]:
    """Every event type a `CustomerEvent(type=...)` in product code names, with its files."""
    found: dict[str, set[str]] = {}
    for folder in PRODUCT_CODE:
        for path in sorted((ROOT / folder).rglob("*.py")):
            where = path.relative_to(ROOT).as_posix()
            if where in NOT_APPENDED or "migrations" in path.parts:
                continue
            for node in ast.walk(ast.parse(path.read_text())):
                if not isinstance(node, ast.Call):
                    continue
                name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
                if name != "CustomerEvent":
                    continue
                for keyword in node.keywords:
                    if keyword.arg == "type":
                        for event_type in _types_of(keyword.value, path):
                            found.setdefault(event_type, set()).add(where)
    return found


def test_every_event_type_the_product_appends_is_in_the_catalog() -> None:
    appended = appended_types()
    # The scan sees what the code really does: these come from four different layers.
    assert {"case_resolved", "message_opened", "survey_answered", "journey_enrolled"} <= set(
        appended
    )
    missing = {t: sorted(files) for t, files in appended.items() if t not in PRODUCT_TYPES}
    # The CDNOW importer appends order_completed for the producer: a business event.
    assert missing == {"order_completed": ["domain/importing.py"]}
    assert "order_completed" in BUSINESS_TYPES


def test_every_product_event_in_the_catalog_is_appended_somewhere() -> None:
    assert sorted(PRODUCT_TYPES - set(appended_types())) == []


def test_the_catalog_names_each_event_once() -> None:
    types = [known.type for known in (*PRODUCT_EVENTS, *BUSINESS_EVENTS)]
    assert len(types) == len(set(types))


def test_the_business_events_are_those_the_built_in_journeys_expect_producers_to_send() -> None:
    used = {event for j in built_in() for event in journey_events(j)}
    assert used - PRODUCT_TYPES == BUSINESS_TYPES


# --- the catalog's rows --------------------------------------------------------------------


def test_the_catalog_lists_product_events_then_producers_with_their_listeners() -> None:
    rows = event_catalog(built_in()).events
    by_type = {row.type: row for row in rows}
    kinds = [row.recorded_by for row in rows]
    assert kinds == sorted(kinds, key=["product", "producers"].index)
    resolved = by_type["case_resolved"]
    assert resolved.recorded_by == "product"
    assert resolved.journeys == ["complaint_recovery"]  # not every journey that sends
    assert {"case_id", "category"} <= set(resolved.properties)
    assert set(by_type["survey_answered"].journeys) >= {"detractor_recovery", "post_purchase"}
    delivered = by_type["order_delivered"]
    assert (delivered.recorded_by, delivered.journeys) == ("producers", ["post_purchase"])
    assert delivered.properties == ["order_id"]
    assert by_type["message_clicked"].journeys == []
    assert "url" in by_type["message_clicked"].properties


def test_a_published_journeys_own_event_is_listed_with_its_match_and_correlation_keys() -> None:
    custom = journey(
        id="trial",
        trigger={"event": "trial_started", "match": {"plan": "pro"}, "correlate_on": "trial_id"},
        exit_when=[{"event": "trial_converted", "match": {"trial_id": "{{ trigger.trial_id }}"}}],
        steps=[
            {
                "id": "wait_use",
                "wait_for": {"event": "feature_used", "match": {"feature": "x"}, "timeout": "3d"},
            },
            {"id": "done", "update": {"add_tags": ["trial"]}},
        ],
    )
    rows = {row.type: row for row in event_catalog([custom]).events}
    assert rows["trial_started"].properties == ["plan", "trial_id"]
    assert rows["trial_started"].description == LISTENED_ONLY
    assert rows["trial_converted"].properties == ["trial_id"]
    assert (rows["feature_used"].recorded_by, rows["feature_used"].journeys) == (
        "producers",
        ["trial"],
    )
    # Without published journeys, the built-in catalog still lists every known event.
    assert {row.type for row in event_catalog([]).events} == PRODUCT_TYPES | BUSINESS_TYPES


# --- the validate rule ---------------------------------------------------------------------


def test_a_typo_in_a_trigger_is_a_warning_that_suggests_the_closest_known_name() -> None:
    [warning] = event_name_warnings(journey(trigger={"event": "signed_upp"}), file="first.yaml")
    assert (warning.event, warning.suggestion, warning.field) == (
        "signed_upp",
        "signed_up",
        "trigger.event",
    )
    assert str(warning) == (
        'first.yaml: trigger.event: no one records or sends "signed_upp"; did you mean "signed_up"?'
    )


def test_wait_for_and_goal_typos_name_their_step_and_field() -> None:
    typo = journey(
        exit_when=[{"event": "order_completed"}, {"event": "order_complted"}],
        steps=[
            {"id": "wait_answer", "wait_for": {"event": "survey_answerd", "timeout": "3d"}},
            {"id": "done", "update": {"add_tags": ["x"]}},
        ],
    )
    warnings = event_name_warnings(typo, file="f.yaml")
    assert [(w.step, w.field, w.suggestion) for w in warnings] == [
        (None, "exit_when[1].event", "order_completed"),
        ("wait_answer", "wait_for.event", "survey_answered"),
    ]
    assert str(warnings[1]).startswith("f.yaml: step 'wait_answer': wait_for.event: ")


def test_a_name_like_nothing_known_gets_no_suggestion() -> None:
    [warning] = event_name_warnings(journey(trigger={"event": "zqxj"}))
    assert warning.suggestion is None
    assert str(warning) == '<journey>: trigger.event: no one records or sends "zqxj"'


def test_an_event_another_published_journey_reacts_to_is_known_but_not_the_journeys_own() -> None:
    sender = journey(id="other", trigger={"event": "trial_started"})
    mine = journey(trigger={"event": "trial_started"})
    assert event_name_warnings(mine, [sender]) == []
    # Its own published version does not vouch for the name.
    [warning] = event_name_warnings(mine, [journey(trigger={"event": "trial_started"})])
    assert warning.event == "trial_started"
    assert "trial_started" in known_event_types([sender])
    assert "trial_started" not in known_event_types([sender], besides="other")


def test_an_audience_journeys_trigger_is_not_checked_its_segment_enrolls() -> None:
    fed = journey(trigger={"event": "anything_at_all"}, audience={"segment": "vip"})
    assert event_name_warnings(fed) == []


@pytest.mark.parametrize("path", sorted(JOURNEYS.glob("*.yaml")), ids=lambda p: p.stem)
def test_the_built_in_journeys_name_only_known_events(path: Path) -> None:
    assert event_name_warnings(load_journey_file(path)) == []

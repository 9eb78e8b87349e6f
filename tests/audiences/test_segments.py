"""Segments: checked at load with precise errors, evaluated in SQL on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date, timedelta
from textwrap import dedent
from typing import Any

import pytest

from domain.customers import CustomerUpsert
from domain.segments import (
    Segment,
    SegmentError,
    load_segments_file,
    load_segments_text,
    parse_segment,
    parse_segments,
)
from store.projections import ProjectionOutOfDate
from store.store import Store
from tests.audiences.conftest import AS_OF, NOW, SEGMENTS_FILE, load_small_base

EVERYONE = ["active-1", "back-1", "churned-1", "lapsed-1", "new-1", "prospect-1", "risk-1"]


def segment(where: Any, name: str = "test") -> Segment:
    return parse_segment({"name": name, "where": where})


def problems(raw: Any) -> list[str]:
    with pytest.raises(SegmentError) as caught:
        parse_segments(raw, source="s.yaml")
    return [str(p) for p in caught.value.problems]


# --- checked at load -------------------------------------------------------------------------


def test_built_in_segments_load() -> None:
    segments = load_segments_file(SEGMENTS_FILE)
    assert {"high_value", "at_risk_buyers", "never_ordered", "vip"} <= set(segments)
    assert segments["vip"].uses_projection() and not segments["never_ordered"].uses_projection()


def test_unknown_field_names_segment_path_field_and_the_known_fields() -> None:
    [message] = problems(
        [
            {
                "name": "buyers",
                "where": {
                    "all": [{"field": "stage", "eq": "active"}, {"field": "ordr_count", "gte": 2}]
                },
            }
        ]
    )
    assert message.startswith("s.yaml: segment 'buyers': where.all[1]: field 'ordr_count': ")
    assert "unknown field; known fields: " in message
    assert "order_count" in message and "attributes.<key>" in message and "tags" in message


def test_every_problem_in_a_file_is_reported_at_once() -> None:
    found = problems(
        {
            "segments": [
                {"name": "a", "where": {"field": "stage", "in": ["at-risk"]}},
                {"name": "b", "where": {"field": "tier", "contains": "high"}},
                {"name": "c", "where": {"event": "order_completed", "within": "30 days"}},
                {"name": "d", "where": {"event": "order_completed", "count": "at least 2"}},
                {"name": "e", "where": {"not": [{"field": "email", "exists": True}]}},
                {"name": "f", "where": {"field": "order_count", "gte": "2"}},
                {"name": "g", "where": {"field": "attributes.bad key", "eq": 1}},
                {"name": "h", "where": {"field": "revenue"}},
                {"name": "i", "where": {"any": [], "all": []}},
                {"name": "J", "where": {"field": "email", "exists": True}},
                {"name": "k", "where": {"field": "email", "exists": True}, "when": "x"},
                {"name": "l", "where": {"field": "created_at", "gte": "2024-13-01"}},
                {"name": "m", "where": {"fields": "email"}},
            ]
        }
    )
    assert found == [
        "s.yaml: segment 'a': where.in: field 'stage': 'at-risk' is not one of prospect, new, "
        "active, reactivated, at_risk, lapsed, churned",
        "s.yaml: segment 'b': where: field 'tier': operator not usable on this field "
        "'contains'; use one of ==, !=, in, not_in, exists",
        "s.yaml: segment 'c': where.within: '30 days' is not a duration such as 90s, 30m, 2h, "
        "10d, 1w or 1d12h",
        "s.yaml: segment 'd': where.count: 'at least 2' is not a count such as '>= 1', '== 0' or 3",
        "s.yaml: segment 'e': where.not: a condition must be a mapping: {field: ...}, "
        "{event: ...}, {anniversary: ...}, {all: [...]}, {any: [...]} or {not: ...}",
        "s.yaml: segment 'f': where.gte: field 'order_count': expected a whole number, not '2'",
        "s.yaml: segment 'g': where: field 'attributes.bad key': unknown field; attribute keys "
        "are letters, digits, _ and -",
        "s.yaml: segment 'h': where: field 'revenue': no test given: add an operator (==, !=, "
        "<, <=, >, >=, exists)",
        "s.yaml: segment 'i': where: `all` stands alone; found also any",
        "s.yaml: segment '#10': name: 'J' is not a segment name (lower case, digits, _)",
        "s.yaml: segment 'k': unknown key(s) when (expected name, description, where)",
        "s.yaml: segment 'l': where.gte: field 'created_at': '2024-13-01' is not an ISO date "
        "such as 2024-01-31",
        "s.yaml: segment 'm': where: unknown condition keys fields; expected field, event, "
        "anniversary, all, any or not",
    ]


def test_duplicate_names_and_bad_yaml_are_refused() -> None:
    same = {"name": "a", "where": {"field": "email", "exists": True}}
    assert problems([same, same]) == ["s.yaml: segment 'a': defined twice"]
    with pytest.raises(SegmentError, match=r"x.yaml: invalid YAML at line 2, column 1"):
        load_segments_text("segments: [\n", source="x.yaml")
    with pytest.raises(SegmentError, match="expected `segments:` with a list"):
        load_segments_text("name: a\n")


def test_yaml_spellings_of_operators_and_counts() -> None:
    parsed = load_segments_text(
        dedent(
            """\
            segments:
              - name: busy
                where:
                  all:
                    - {field: order_count, ">=": 2, "<": 10}
                    - {event: order_completed, within: 1w, count: "> 1"}
                    - {event: case_opened, count: 0}
            """
        )
    )
    busy = parsed["busy"]
    assert busy.fields() == {"order_count"}
    # Round-trips through JSON (workflow inputs carry segments this way), aliases or not.
    assert Segment.model_validate_json(busy.model_dump_json()) == busy
    dated = segment({"not": {"field": "created_at", "gte": date(2024, 1, 1)}})
    assert Segment.model_validate_json(dated.model_dump_json()) == dated
    assert Segment.model_validate(dated.model_dump(by_alias=True)) == dated


# --- evaluated by the database ---------------------------------------------------------------


@pytest.fixture
def base(store: Store) -> Store:
    load_small_base(store)
    store.projections.rebuild(AS_OF)
    return store


CASES: list[tuple[Any, list[str]]] = [
    (
        {
            "all": [
                {"field": "stage", "in": ["at_risk", "lapsed"]},
                {"field": "order_count", "gte": 1},
            ]
        },
        ["lapsed-1", "risk-1"],
    ),
    ({"field": "tier", "eq": "high"}, ["active-1"]),
    ({"field": "rfm_total", "gte": 9}, ["active-1", "back-1"]),
    ({"field": "churn_risk", "eq": True}, ["active-1", "risk-1"]),
    ({"field": "revenue", "gt": 100.5}, ["active-1", "back-1", "lapsed-1"]),
    ({"field": "recency_days", "lte": 20}, ["active-1", "new-1"]),
    ({"field": "stage", "ne": "churned"}, [c for c in EVERYONE if c != "churned-1"]),
    ({"field": "last_order_at", "lt": AS_OF - timedelta(days=300)}, ["churned-1"]),
    ({"field": "tags", "contains": "vip"}, ["active-1"]),
    ({"field": "tags", "contains_any": ["lead", "vip"]}, ["active-1", "prospect-1"]),
    ({"field": "email", "exists": True}, ["active-1", "prospect-1"]),
    (
        {"not": {"field": "email", "eq": "pat@example.com"}},
        [c for c in EVERYONE if c != "prospect-1"],
    ),
    ({"field": "timezone", "in": ["Europe/Berlin"]}, ["active-1"]),
    ({"field": "attributes.plan", "eq": "pro"}, ["prospect-1"]),
    ({"field": "attributes.plan", "ne": "pro"}, [c for c in EVERYONE if c != "prospect-1"]),
    ({"field": "attributes.plan", "in": ["pro", "free"]}, ["active-1", "prospect-1"]),
    # "12" is text on active-1: numbers and texts never compare, on either database
    ({"field": "attributes.seats", "gte": 10}, ["prospect-1"]),
    ({"field": "attributes.seats", "lt": 10}, ["new-1"]),
    ({"field": "attributes.seats", "eq": "12"}, ["active-1"]),
    ({"field": "attributes.beta", "eq": True}, ["prospect-1"]),
    ({"field": "attributes.beta", "eq": False}, ["active-1"]),
    (
        {"field": "attributes.beta", "exists": False},
        [c for c in EVERYONE if c not in ("active-1", "prospect-1")],
    ),
    ({"event": "order_completed", "within": "30d"}, ["active-1", "new-1"]),
    ({"event": "order_completed", "within": "31d"}, ["active-1", "back-1", "new-1"]),
    ({"event": "order_completed", "count": 0}, ["prospect-1"]),
    ({"event": "order_completed", "count": ">= 4"}, ["active-1", "risk-1"]),
    ({"event": "case_opened", "within": "90d", "count": "== 1"}, ["active-1"]),
    ({"event": "message_complained", "within": "30d"}, ["active-1"]),
    (
        {"any": [{"field": "stage", "eq": "new"}, {"event": "lead_created"}]},
        ["new-1", "prospect-1"],
    ),
    (
        {
            "not": {
                "any": [
                    {"field": "tier", "in": ["high", "mid"]},
                    {"field": "stage", "eq": "prospect"},
                ]
            }
        },
        ["churned-1", "lapsed-1", "new-1", "risk-1"],
    ),
]


@pytest.mark.parametrize(("where", "expected"), CASES)
def test_segment_members_are_selected_by_the_database(
    base: Store, where: Any, expected: list[str]
) -> None:
    chosen = segment(where)
    assert base.segments.members(chosen, AS_OF) == expected
    assert base.segments.count(chosen, AS_OF) == len(expected)


def test_members_page_by_customer_id(base: Store) -> None:
    everyone = segment({"field": "customer_id", "exists": True})
    pages: list[list[str]] = []
    after = None
    while page := base.segments.members(everyone, AS_OF, limit=3, after_customer_id=after):
        pages.append(page)
        after = page[-1]
    assert pages == [EVERYONE[:3], EVERYONE[3:6], EVERYONE[6:]]


def test_sample_draws_members_only(base: Store) -> None:
    buyers = segment({"field": "order_count", "gte": 1})
    sample = base.segments.sample(buyers, 3)
    assert len(sample) == 3 and {m.customer_id for m in sample} < set(EVERYONE) - {"prospect-1"}
    vip = base.segments.sample(segment({"field": "tier", "eq": "high"}), 10, AS_OF)
    assert [(m.customer_id, m.tier, m.stage, m.order_count, m.revenue) for m in vip] == [
        ("active-1", "high", "active", 5, 400.0)
    ]


def test_built_in_segments_on_the_small_base(base: Store) -> None:
    segments = load_segments_file(SEGMENTS_FILE)
    members = {name: base.segments.members(s, AS_OF) for name, s in segments.items()}
    assert members["vip"] == ["active-1"]
    assert members["high_value"] == ["lapsed-1"]
    assert members["at_risk_buyers"] == ["lapsed-1", "risk-1"]
    assert members["never_ordered"] == ["prospect-1"]


def test_projection_fields_refuse_a_projection_of_another_date(store: Store) -> None:
    load_small_base(store)
    stage = segment({"field": "stage", "eq": "active"})
    with pytest.raises(ProjectionOutOfDate, match="never built"):
        store.segments.count(stage, AS_OF)
    store.projections.rebuild(AS_OF)
    with pytest.raises(ProjectionOutOfDate, match="built as of 2024-06-30, not as of 2024-07-01"):
        store.segments.members(stage, AS_OF + timedelta(days=1))
    # Profile and event tests need no projection.
    leads = segment({"event": "lead_created", "within": "30d"})
    assert store.segments.members(leads, AS_OF + timedelta(days=1)) == ["prospect-1"]


def test_customers_added_after_the_rebuild_match_profile_tests_only(base: Store) -> None:
    base.customers.upsert(CustomerUpsert(customer_id="late-1", tags=["vip"]), NOW)
    assert base.segments.members(segment({"field": "tags", "contains": "vip"}), AS_OF) == [
        "active-1",
        "late-1",
    ]
    assert "late-1" not in base.segments.members(
        segment({"field": "stage", "eq": "prospect"}), AS_OF
    )
    assert "late-1" in base.segments.members(segment({"field": "stage", "ne": "active"}), AS_OF)


# --- date triggers: birthdays and sign-up anniversaries ---------------------------------------


def _birthdays(store: Store) -> None:
    people = {
        "bday-today": "1990-06-30",
        "bday-tomorrow": "1990-07-01",
        "leap-day": "2000-02-29",
        "born-today": "2024-06-30",  # a birthday only from next year on
        "not-a-date": "soon",
    }
    for customer, birthday in people.items():
        store.customers.upsert(
            CustomerUpsert(customer_id=customer, attributes={"birthday": birthday}), NOW
        )
    store.customers.upsert(CustomerUpsert(customer_id="no-birthday"), NOW)


def test_anniversary_of_an_attribute_date_matches_day_and_month_of_earlier_years(
    store: Store,
) -> None:
    _birthdays(store)
    birthday = segment({"anniversary": "attributes.birthday"})
    assert store.segments.members(birthday, AS_OF) == ["bday-today"]
    assert store.segments.members(birthday, date(2025, 6, 30)) == ["bday-today", "born-today"]
    assert store.segments.members(birthday, date(2024, 7, 1)) == ["bday-tomorrow"]
    # 29 February: on the day in leap years, on 28 February in the others.
    assert store.segments.members(birthday, date(2028, 2, 29)) == ["leap-day"]
    assert store.segments.members(birthday, date(2027, 2, 28)) == ["leap-day"]
    assert store.segments.members(birthday, date(2028, 2, 28)) == []
    not_today = segment({"not": {"anniversary": "attributes.birthday"}})
    assert "no-birthday" in store.segments.members(not_today, AS_OF)


def test_sign_up_anniversary_uses_the_profile_creation_date(store: Store) -> None:
    store.customers.upsert(CustomerUpsert(customer_id="old-timer"), NOW.replace(year=2023))
    store.customers.upsert(CustomerUpsert(customer_id="newcomer"), NOW)
    signup = segment({"anniversary": "created_at"})
    assert store.segments.members(signup, date(2024, 7, 1)) == ["old-timer"]
    assert store.segments.members(signup, date(2025, 7, 1)) == ["newcomer", "old-timer"]
    assert store.segments.members(signup, date(2025, 7, 2)) == []


def test_anniversary_needs_a_date_field_and_stands_alone() -> None:
    assert problems([{"name": "x", "where": {"anniversary": "order_count"}}]) == [
        "s.yaml: segment 'x': where.anniversary: field 'order_count': 'order_count' is not a "
        "date field; use one of created_at, first_order_at, last_order_at or "
        "attributes.<key> holding an ISO date"
    ]
    assert problems([{"name": "x", "where": {"anniversary": "created_at", "eq": 1}}]) == [
        "s.yaml: segment 'x': where: `anniversary` stands alone; found also eq"
    ]

"""Projections: exact RFM, tier, stage and churn risk on a small log; rebuilds are identical."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, timedelta

import pytest

from activities.profiles import ProfileActivities
from domain.contracts import LoadProfile
from domain.events import CustomerEvent
from domain.expressions import evaluate_condition
from domain.projections import (
    CustomerMetrics,
    OrderStats,
    Signals,
    project,
    quintile_scores,
    summarise_events,
)
from store.projections import ProjectionOutOfDate
from store.store import Store
from tests.audiences.conftest import AS_OF, NOW, days_ago, load_small_base, small_base

# customer: (r, f, m, tier, stage, churn reason codes)
EXPECTED = {
    "new-1": (5, 1, 1, "low", "new", []),
    "active-1": (4, 5, 4, "high", "active", ["complaints_up", "engagement_down"]),
    "risk-1": (2, 4, 2, "low", "at_risk", ["overdue"]),
    "lapsed-1": (1, 1, 5, "low", "lapsed", []),
    "churned-1": (1, 2, 1, "low", "churned", []),
    "back-1": (3, 3, 3, "mid", "reactivated", []),
    "prospect-1": (None, None, None, None, "prospect", []),
}


def pure_rows() -> list[CustomerMetrics]:
    log = small_base()
    orders, signals = summarise_events(log.events, AS_OF)
    customers = {e.customer_id for e in log.events}
    return project(customers, orders, signals, AS_OF)


def headline(row: CustomerMetrics) -> tuple[object, ...]:
    codes = [reason.code for reason in row.churn_reasons]
    return (row.r_score, row.f_score, row.m_score, row.tier, row.stage, codes)


def test_small_log_gets_the_expected_scores_tiers_and_stages() -> None:
    rows = {row.customer_id: row for row in pure_rows()}
    assert {cid: headline(row) for cid, row in rows.items()} == EXPECTED


def test_order_figures_ignore_events_after_the_as_of_day() -> None:
    rows = {row.customer_id: row for row in pure_rows()}
    new = rows["new-1"]
    assert (new.order_count, new.revenue, new.items, new.recency_days) == (1, 50.0, 1, 10)
    active = rows["active-1"]
    assert active.order_count == 5 and active.revenue == 400.0
    assert active.first_order_at == days_ago(200) and active.last_order_at == days_ago(20)
    assert active.mean_interval_days == 45.0
    assert active.churn_risk is True
    assert rows["risk-1"].churn_reasons[0].detail.startswith("130 days since the last order")
    prospect = rows["prospect-1"]
    assert (prospect.order_count, prospect.revenue, prospect.churn_risk) == (0, 0.0, False)


def test_ties_share_a_quintile_whatever_the_ids() -> None:
    scores = quintile_scores({"b": 1, "a": 1, "c": 2, "d": 3, "e": 3})
    assert scores == {"a": 1, "b": 1, "c": 3, "d": 4, "e": 4}
    assert quintile_scores({f"c{i}": 7 for i in range(9)}) == {f"c{i}": 1 for i in range(9)}


def stats(cid: str, orders: list[int], amount: float = 10) -> OrderStats:
    times = sorted(days_ago(d) for d in orders)
    earlier = [t for t in times if t < times[-1]]
    return OrderStats(
        customer_id=cid,
        order_count=len(orders),
        revenue=amount * len(orders),
        items=len(orders),
        first_order_at=times[0],
        last_order_at=times[-1],
        previous_order_at=earlier[-1] if earlier else None,
    )


@pytest.mark.parametrize(
    ("orders", "stage"),
    [
        ([30], "new"),
        ([31], "active"),
        ([90], "active"),
        ([91], "at_risk"),
        ([180], "at_risk"),
        ([181], "lapsed"),
        ([365], "lapsed"),
        ([366], "churned"),
        ([400, 300, 200, 110], "active"),  # usual interval 96.7 days: active for 120
        ([400, 300, 200, 121], "at_risk"),
        ([300, 100], "reactivated"),  # away 200 days, back 100 days ago (window 120)
        ([300, 121], "at_risk"),
    ],
)
def test_stage_thresholds(orders: list[int], stage: str) -> None:
    [row] = project([], [stats("c", orders)], {}, AS_OF)
    assert row.stage == stage


def test_churned_customers_carry_no_churn_risk_even_with_complaints() -> None:
    signals = {"c": Signals(complaints_recent=3)}
    [row] = project([], [stats("c", [400, 380])], signals, AS_OF)
    assert (row.stage, row.churn_risk, row.churn_reasons) == ("churned", False, [])


def test_rebuild_in_the_store_equals_the_pure_projection(store: Store) -> None:
    load_small_base(store)
    assert store.projections.rebuild(AS_OF) == 7
    stored = store.projections.all()
    assert [r.model_dump() for r in stored] == [r.model_dump() for r in pure_rows()]
    got = store.projections.get("back-1")
    assert got is not None and headline(got) == EXPECTED["back-1"]
    assert store.projections.get("nobody") is None


def test_rebuilding_twice_writes_identical_rows(store: Store) -> None:
    load_small_base(store)
    store.projections.rebuild(AS_OF)
    first = store.projections.all()
    store.projections.rebuild(AS_OF)
    assert store.projections.all() == first


def test_rebuild_as_of_another_day_replaces_every_row(store: Store) -> None:
    load_small_base(store)
    store.projections.rebuild(AS_OF)
    later = AS_OF + timedelta(days=200)
    store.projections.rebuild(later)
    rows = store.projections.all()
    assert {row.as_of for row in rows} == {later}
    by_id = {row.customer_id: row for row in rows}
    assert by_id["new-1"].order_count == 2  # the order the day after AS_OF now counts
    assert by_id["active-1"].stage == "lapsed"


def test_summary_counts_tier_by_stage_and_refuses_another_date(store: Store) -> None:
    load_small_base(store)
    with pytest.raises(ProjectionOutOfDate, match="never built"):
        store.projections.summary(AS_OF)
    store.projections.rebuild(AS_OF)
    summary = store.projections.summary(AS_OF)
    assert summary.as_of == AS_OF and summary.total == 7 and summary.churn_risk == 2
    assert summary.counts == {
        "high": {"active": 1},
        "low": {"at_risk": 1, "churned": 1, "lapsed": 1, "new": 1},
        "mid": {"reactivated": 1},
        "none": {"prospect": 1},
    }
    with pytest.raises(ProjectionOutOfDate, match="built as of 2024-06-30, not as of 2024-07-01"):
        store.projections.summary(date(2024, 7, 1))


def test_order_amounts_that_are_not_numbers_count_as_zero(store: Store) -> None:
    load_small_base(store)
    odd = [
        CustomerEvent(
            event_id=f"odd-{i}",
            customer_id="prospect-1",
            type="order_completed",
            occurred_at=datetime(2024, 6, 1, tzinfo=UTC),
            properties={"amount": amount},
        )
        for i, amount in enumerate(["12.50", True, None, 7.5])
    ]
    store.events.append_many(odd, datetime(2024, 6, 2, tzinfo=UTC))
    store.projections.rebuild(AS_OF)
    row = store.projections.get("prospect-1")
    assert row is not None and (row.order_count, row.revenue) == (4, 7.5)


def test_concurrent_rebuilds_all_succeed_with_one_result(store: Store) -> None:
    load_small_base(store)
    store.projections.rebuild(AS_OF)
    failures: list[str] = []

    def rebuild(start: threading.Barrier) -> None:
        start.wait()
        try:
            store.projections.rebuild(AS_OF)
        except Exception as exc:
            failures.append(repr(exc))

    for _ in range(5):
        start = threading.Barrier(4)
        threads = [threading.Thread(target=rebuild, args=(start,)) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert failures == []
    assert [r.model_dump() for r in store.projections.all()] == [
        r.model_dump() for r in pure_rows()
    ]


def test_runs_see_the_projection_on_the_profile(store: Store) -> None:
    load_small_base(store)
    store.projections.rebuild(AS_OF)
    profiles = ProfileActivities(store, lambda: NOW)
    profile = profiles.load_profile(LoadProfile(customer_id="active-1")).profile
    assert profile is not None and profile.metrics is not None
    assert (profile.metrics["tier"], profile.metrics["stage"]) == ("high", "active")
    vip = "profile.metrics.tier == 'high' or profile.value_tier == 'high'"  # win_back's branch
    assert evaluate_condition(vip, {"profile": profile.template_context()})
    lapsed = profiles.load_profile(LoadProfile(customer_id="lapsed-1")).profile
    assert lapsed is not None
    assert not evaluate_condition(vip, {"profile": lapsed.template_context()})


@pytest.mark.parametrize("complaint", ["case_opened", "message_complained", "complaint_opened"])
def test_a_complaint_the_product_records_raises_churn_risk_in_the_store(
    store: Store, complaint: str
) -> None:
    from domain.customers import CustomerUpsert
    from tests.audiences.conftest import Log

    store.customers.upsert(CustomerUpsert(customer_id="c"), NOW)
    log = Log()
    log.orders("c", [60, 30, 20], 40)
    log.add("c", complaint, days_ago(3))
    store.events.append_many(log.events, NOW)
    store.projections.rebuild(AS_OF)
    row = store.projections.get("c")
    assert row is not None and row.stage == "active"
    assert [reason.code for reason in row.churn_reasons] == ["complaints_up"]

"""Funnel and experiment counts, computed by the database on both backends."""

from __future__ import annotations

from datetime import timedelta

from domain.customers import CustomerUpsert
from domain.events import CustomerEvent
from domain.runs import Enrollment, RunEnd, StepEvent
from store.store import Store
from tests.store.conftest import T0


def _run(store: Store, n: int, arm: str, *, ordered: bool, ended: str | None = None) -> None:
    customer = f"c{n}"
    store.customers.upsert(CustomerUpsert(customer_id=customer), T0)
    entry = f"e{n}"
    run = Enrollment(
        entry_id=entry,
        workflow_id=f"journey/promo/{customer}",
        journey_id="promo",
        version=1,
        customer_id=customer,
        entered_at=T0,
    )
    assert store.runs.enroll(run)

    def step(step_id: str, kind: str, status: str, detail: str = "", minutes: int = 0) -> StepEvent:
        return StepEvent(
            workflow_id=run.workflow_id,
            entry_id=entry,
            journey_id="promo",
            version=1,
            customer_id=customer,
            step_id=step_id,
            kind=kind,
            status=status,  # type: ignore[arg-type]
            detail=detail,
            at=T0 + timedelta(minutes=minutes),
        )

    group = "holdout" if arm == "holdout" else "treatment"
    events = [step("control", "holdout", "entered"), step("control", "holdout", "completed", group)]
    if arm != "holdout":
        events += [step("offer", "split", "entered", minutes=1)]
        events += [step("offer", "split", "completed", arm, minutes=1)]
    store.runs.record_steps(entry, events, "offer")
    if ordered:
        store.events.append(
            CustomerEvent(
                event_id=f"order-{n}",
                customer_id=customer,
                type="order_completed",
                occurred_at=T0 + timedelta(days=2),
            ),
            T0,
        )
    if ended:
        end = RunEnd(workflow_id=run.workflow_id, status=ended, reason="x", at=T0)  # type: ignore[arg-type]
        store.runs.finish(entry, end)


def _fill(store: Store) -> None:
    # holdout: 4 runs, 1 ordered; discount: 3 runs, 2 ordered; shipping: 3 runs, 0 ordered
    plan = {"holdout": [True, False, False, False], "discount": [True, True, False]}
    plan["shipping"] = [False, False, False]
    runs = [(arm, ordered) for arm, orders in plan.items() for ordered in orders]
    for n, (arm, ordered) in enumerate(runs):
        _run(store, n, arm, ordered=ordered, ended="exited" if ordered else None)
    # an order from before entry does not count as conversion
    store.events.append(
        CustomerEvent(
            event_id="old-order",
            customer_id="c2",
            type="order_completed",
            occurred_at=T0 - timedelta(days=1),
        ),
        T0,
    )


def test_arms_count_entrants_and_conversions_after_entry(store: Store) -> None:
    _fill(store)
    arms = {
        (a.step_id, a.arm): (a.entered, a.converted)
        for a in store.reports.arms("promo", ["order_completed"])
    }
    assert arms == {
        ("control", "holdout"): (4, 1),
        ("control", "treatment"): (6, 2),
        ("offer", "discount"): (3, 2),
        ("offer", "shipping"): (3, 0),
    }


def test_step_and_run_counts_make_the_funnel(store: Store) -> None:
    _fill(store)
    steps = {
        (s.step_id, s.kind): (s.entered, s.completed, s.converted)
        for s in store.reports.step_counts("promo", ["order_completed"])
    }
    assert steps == {("control", "holdout"): (10, 10, 3), ("offer", "split"): (6, 6, 2)}
    [runs] = store.reports.run_counts("promo", ["order_completed"])
    assert (runs.entered, runs.running, runs.exited, runs.converted) == (10, 7, 3, 3)
    [nothing] = store.reports.run_counts("promo", [])
    assert nothing.converted == 0

"""What an impact preview reads, on SQLite and PostgreSQL: runs in flight per version and step,
and the audience counted as the enrollment run counts it (re-entry policy, erasures) on a
projection rebuilt inside a transaction that is rolled back."""

from __future__ import annotations

from datetime import date, timedelta

from domain.customers import CustomerUpsert
from domain.events import CustomerEvent
from domain.journey import JourneyDefinition
from domain.loader import load_journey_text
from domain.runs import Enrollment, RunEnd
from domain.segments import load_segments_text
from store.impact import count_audience, customer_sample, runs_in_flight, seeded_sample
from store.store import Store
from tests.store.conftest import T0

JOURNEY = """
id: comeback
name: Comeback
trigger: {event: signed_up, re_entry: %s}
audience: {segment: buyers}
templates:
  hi: {subject: Hi, text: Hi}
steps:
  - {id: hi, send: {channel: email, template: hi}}
  - {id: pause, wait: {for: 2d}}
  - {id: done, end: finished}
"""
SEGMENTS = """
segments:
  - name: buyers
    where: {field: order_count, gte: 1}
  - name: gold
    where: {field: attributes.plan, eq: gold}
"""


def journey(re_entry: str = "once") -> JourneyDefinition:
    policy = "cooldown, cooldown: 10d" if re_entry == "cooldown" else re_entry
    return load_journey_text(JOURNEY % policy)


def run(store: Store, customer: str, version: int, step: str | None, days_ago: int = 1) -> str:
    entry = f"e-{customer}-{version}-{days_ago}"
    store.runs.enroll(
        Enrollment(
            entry_id=entry,
            workflow_id=f"journey/comeback/{customer}/{days_ago}",
            journey_id="comeback",
            version=version,
            customer_id=customer,
            entered_at=T0 - timedelta(days=days_ago),
        )
    )
    if step is not None:
        store.runs.record_steps(entry, [], step)
    return entry


def buyers(store: Store, *ids: str) -> None:
    for customer in ids:
        store.customers.upsert(CustomerUpsert(customer_id=customer), T0)
    store.events.append_many(
        [
            CustomerEvent(
                event_id=f"order-{customer}",
                customer_id=customer,
                type="order_completed",
                occurred_at=T0 - timedelta(days=5),
                properties={"order_id": customer, "amount": 10},
            )
            for customer in ids
        ],
        T0,
    )


def test_runs_in_flight_are_counted_per_version_and_current_step(store: Store) -> None:
    buyers(store, "a", "b", "c", "d", "e")
    run(store, "a", 1, "pause")
    run(store, "b", 1, "pause")
    run(store, "c", 2, "hi")
    run(store, "d", 2, None)
    ended = run(store, "e", 2, "pause")
    store.runs.finish(ended, RunEnd(workflow_id="w", status="completed", at=T0, reason="end"))
    found = [(c.version, c.step_id, c.runs) for c in runs_in_flight(store.engine, "comeback")]
    assert sorted(found, key=str) == sorted([(1, "pause", 2), (2, "hi", 1), (2, None, 1)], key=str)
    assert runs_in_flight(store.engine, "other") == []


def test_the_audience_is_counted_on_a_projection_that_is_rolled_back(store: Store) -> None:
    buyers(store, "a", "b", "c", "d", "e")
    store.customers.upsert(CustomerUpsert(customer_id="lead"), T0)  # no order: no member
    segments = load_segments_text(SEGMENTS)
    store.projections.rebuild(date(2026, 1, 1))  # built for another day
    before = store.projections.all()
    run(store, "a", 1, "pause")  # running: blocks under every policy
    finished = run(store, "b", 1, "done", days_ago=3)
    ended = RunEnd(workflow_id="w", status="completed", at=T0 - timedelta(days=2), reason="end")
    store.runs.finish(finished, ended)
    store.privacy.begin("c", T0)
    as_of = T0.date()
    once = count_audience(store.engine, journey("once"), segments["buyers"], as_of, T0, sample=10)
    assert (once.members, once.blocked, once.erased, once.would_enroll) == (5, 2, 1, 2)
    assert once.rebuilt and once.projection_built == date(2026, 1, 1)
    assert once.sample == ["a", "b", "d", "e"]  # every member but the erased one
    # The sample carries the projection as of the audience's day, as a run's profile would.
    assert sorted(once.metrics) == once.sample
    assert {m["as_of"] for m in once.metrics.values()} == {as_of.isoformat()}
    assert once.metrics["a"]["order_count"] == 1
    always = count_audience(store.engine, journey("always"), segments["buyers"], as_of, T0)
    assert (always.blocked, always.would_enroll) == (1, 3)
    cooldown = count_audience(store.engine, journey("cooldown"), segments["buyers"], as_of, T0)
    assert (cooldown.blocked, cooldown.would_enroll) == (2, 2)  # b entered 3 days ago
    # Nothing was left written: the projection is the one built for 2026-01-01.
    assert store.projections.built_as_of() == date(2026, 1, 1)
    assert store.projections.all() == before
    # A segment of profile attributes reads no projection: nothing is rebuilt.
    store.customers.upsert(CustomerUpsert(customer_id="d", attributes={"plan": "gold"}), T0)
    gold = count_audience(store.engine, journey(), segments["gold"], as_of, T0)
    assert (gold.members, gold.would_enroll, gold.rebuilt) == (1, 1, False)


def test_samples_are_seeded_and_leave_out_the_erased(store: Store) -> None:
    ids = [f"m{n:03d}" for n in range(50)]
    first = seeded_sample(ids, 10, seed=7)
    assert first == seeded_sample(list(reversed(ids)), 10, seed=7) and len(first) == 10
    assert first != seeded_sample(ids, 10, seed=8)
    assert seeded_sample(ids, 0, seed=7) == [] and seeded_sample(ids[:3], 10, 7) == ids[:3]
    for customer in ("x", "y", "z"):
        store.customers.upsert(CustomerUpsert(customer_id=customer), T0)
    store.privacy.begin("y", T0)
    assert customer_sample(store.engine, 10, seed=7) == ["x", "z"]

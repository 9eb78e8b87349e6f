"""The event log: all-or-nothing batches, duplicate ids ignored, order by sequence."""

from __future__ import annotations

import threading
from datetime import UTC, timedelta

import pytest

from domain.customers import CustomerUpsert
from domain.events import AppendResult, ConflictingEvent, CustomerEvent
from store.errors import UnknownCustomer
from store.store import Store
from tests.store.conftest import T0


def event(event_id: str, customer_id: str = "c-1", **properties: object) -> CustomerEvent:
    return CustomerEvent(
        event_id=event_id,
        customer_id=customer_id,
        type="order.placed",
        occurred_at=T0,
        properties=properties,
    )


def test_appended_event_is_stored_with_sequence_and_arrival(store: Store, customer: str) -> None:
    received = T0 + timedelta(seconds=5)
    result = store.events.append(event("e-1", total=12.5), received)
    assert result == AppendResult(event_id="e-1", duplicate=False, seq=result.seq)
    assert result.seq is not None
    stored = store.events.get("e-1")
    assert stored is not None
    assert stored.properties == {"total": 12.5}
    assert stored.received_at == received and stored.received_at.tzinfo is UTC
    assert stored.occurred_at == T0 and stored.occurred_at.tzinfo is UTC
    assert stored.seq >= 1


def test_duplicate_event_id_is_accepted_and_ignored(store: Store, customer: str) -> None:
    first = store.events.append(event("e-1", n=1), T0)
    again = store.events.append(event("e-1", n=1), T0 + timedelta(seconds=3))
    assert again.duplicate and again.seq == first.seq
    assert store.events.count() == 1


def test_event_id_sent_again_with_another_body_is_refused_naming_the_field(
    store: Store, customer: str
) -> None:
    store.events.append(event("e-1", n=1), T0)
    with pytest.raises(ConflictingEvent, match=r"properties\.n") as refused:
        store.events.append_many([event("e-2"), event("e-1", n=2)], T0)
    assert refused.value.field == "properties.n"
    with pytest.raises(ConflictingEvent, match="type"):
        store.events.append(
            CustomerEvent(event_id="e-1", customer_id=customer, type="other", occurred_at=T0), T0
        )
    # All or nothing: the batch's fresh event was not written either.
    assert [e.event_id for e in store.events.for_customer(customer)] == ["e-1"]
    stored = store.events.get("e-1")
    assert stored is not None and stored.properties == {"n": 1}


def test_one_batch_repeating_an_id_with_another_body_is_refused(
    store: Store, customer: str
) -> None:
    with pytest.raises(ConflictingEvent, match=r"properties\.n"):
        store.events.append_many([event("e-1", n=1), event("e-1", n=2)], T0)
    assert store.events.count() == 0


def test_a_batch_takes_positions_in_its_own_order_with_a_delivery_each(
    store: Store, customer: str
) -> None:
    results = store.events.append_many([event("z-1"), event("a-2"), event("m-3")], T0)
    seqs = [r.seq for r in results]
    assert seqs == sorted(seqs)  # z, a, m: the order sent, not the order of the ids
    logged = store.events.after(customer, 0)
    assert [item.event.event_id for item in logged] == ["z-1", "a-2", "m-3"]
    assert store.deliveries.pending_customers(T0) == [customer]


def test_duplicate_within_one_batch_is_written_once(store: Store, customer: str) -> None:
    results = store.events.append_many([event("e-1"), event("e-2"), event("e-1")], T0)
    assert [(r.event_id, r.duplicate) for r in results] == [
        ("e-1", False),
        ("e-2", False),
        ("e-1", True),
    ]
    assert store.events.count() == 2


def test_batch_with_unknown_customer_writes_nothing(store: Store, customer: str) -> None:
    batch = [event("e-1"), event("e-2", customer_id="ghost"), event("e-3")]
    with pytest.raises(UnknownCustomer, match="'ghost'") as raised:
        store.events.append_many(batch, T0)
    assert raised.value.customer_id == "ghost"
    assert store.events.count() == 0


def test_empty_batch_appends_nothing(store: Store) -> None:
    assert store.events.append_many([], T0) == []


def test_for_customer_is_newest_last_and_limited_to_newest(store: Store, customer: str) -> None:
    store.customers.upsert(CustomerUpsert(customer_id="c-2"), T0)
    store.events.append_many([event(f"e-{i}") for i in range(5)], T0)
    store.events.append(event("other", customer_id="c-2"), T0)
    store.events.append(event("e-last"), T0)
    ids = [e.event_id for e in store.events.for_customer("c-1")]
    assert ids[-1] == "e-last" and len(ids) == 6 and "other" not in ids
    seqs = [e.seq for e in store.events.for_customer("c-1")]
    assert seqs == sorted(seqs)
    assert [e.event_id for e in store.events.for_customer("c-1", limit=2)][-1] == "e-last"
    assert len(store.events.for_customer("c-1", limit=2)) == 2


def test_unknown_event_reads_as_none(store: Store) -> None:
    assert store.events.get("nope") is None


def test_concurrent_appends_of_one_event_store_it_once(store: Store, customer: str) -> None:
    start = threading.Barrier(8)
    results: list[AppendResult] = []

    def append() -> None:
        start.wait()
        results.append(store.events.append(event("e-1"), T0))

    threads = [threading.Thread(target=append) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(r.duplicate for r in results) == [False] + [True] * 7
    assert store.events.count() == 1


def test_overlapping_batches_in_opposite_order_do_not_deadlock(store: Store, customer: str) -> None:
    ids = [f"e-{i:03}" for i in range(50)]
    start = threading.Barrier(4)
    errors: list[BaseException] = []

    def append(order: list[str]) -> None:
        start.wait()
        try:
            store.events.append_many([event(i) for i in order], T0)
        except BaseException as exc:
            errors.append(exc)

    orders = [ids, ids[::-1], ids, ids[::-1]]
    threads = [threading.Thread(target=append, args=(o,)) for o in orders]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert store.events.count() == 50

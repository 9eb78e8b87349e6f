"""Customer profiles: create, merge, look up, and change attributes and tags."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta, timezone

import pytest

from domain.customers import Consent, CustomerUpsert
from store.errors import UnknownCustomer
from store.store import Store
from tests.store.conftest import T0


def test_new_customer_gets_defaults(store: Store) -> None:
    profile = store.customers.upsert(CustomerUpsert(customer_id="c-1"), T0)
    assert profile.timezone == "UTC"
    assert profile.locale == "en"
    assert profile.consent == Consent()
    assert profile.created_at == profile.updated_at == T0
    assert store.customers.get("c-1") == profile


def test_upsert_merges_and_keeps_created_at(store: Store) -> None:
    store.customers.upsert(
        CustomerUpsert(
            customer_id="c-1", email="a@example.com", attributes={"plan": "free", "n": 1}
        ),
        T0,
    )
    later = T0 + timedelta(days=1)
    profile = store.customers.upsert(
        CustomerUpsert(customer_id="c-1", timezone="Europe/Berlin", attributes={"plan": "pro"}),
        later,
    )
    assert profile.email == "a@example.com"
    assert profile.timezone == "Europe/Berlin"
    assert profile.attributes == {"plan": "pro", "n": 1}
    assert (profile.created_at, profile.updated_at) == (T0, later)
    assert store.customers.get("c-1") == profile


def test_timestamps_come_back_timezone_aware_in_utc(store: Store) -> None:
    tokyo = datetime(2026, 3, 1, 18, 0, tzinfo=timezone(timedelta(hours=9)))
    store.customers.upsert(CustomerUpsert(customer_id="c-1"), tokyo)
    profile = store.customers.get("c-1")
    assert profile is not None and profile.created_at is not None
    assert profile.created_at.tzinfo is UTC
    assert profile.created_at == tokyo


def test_naive_timestamps_are_refused(store: Store) -> None:
    with pytest.raises(Exception, match="naive datetime"):
        store.customers.upsert(CustomerUpsert(customer_id="c-1"), datetime(2026, 3, 1))
    assert not store.customers.exists("c-1")


def test_unknown_customer_reads_as_none(store: Store) -> None:
    assert store.customers.get("nobody") is None
    assert not store.customers.exists("nobody")


def test_missing_names_only_unknown_ids(store: Store) -> None:
    for cid in ("a", "b"):
        store.customers.upsert(CustomerUpsert(customer_id=cid), T0)
    assert store.customers.missing(["a", "x", "b", "y", "x"]) == {"x", "y"}
    assert store.customers.missing([]) == set()


def test_list_pages_in_id_order(store: Store) -> None:
    for cid in ("c", "a", "b"):
        store.customers.upsert(CustomerUpsert(customer_id=cid), T0)
    assert [p.customer_id for p in store.customers.list()] == ["a", "b", "c"]
    assert [p.customer_id for p in store.customers.list(limit=1, offset=1)] == ["b"]


def test_set_attributes_merges_and_edits_tags(store: Store) -> None:
    store.customers.upsert(
        CustomerUpsert(customer_id="c-1", attributes={"plan": "free"}, tags=["new", "eu"]), T0
    )
    later = T0 + timedelta(hours=1)
    profile = store.customers.set_attributes(
        "c-1", {"score": 3}, add_tags=["vip", "eu", "vip"], remove_tags=["new"], now=later
    )
    assert profile.attributes == {"plan": "free", "score": 3}
    assert profile.tags == ["eu", "vip"]
    assert profile.updated_at == later and profile.created_at == T0
    assert store.customers.get("c-1") == profile


def test_set_attributes_on_unknown_customer_raises(store: Store) -> None:
    with pytest.raises(UnknownCustomer, match="'ghost'"):
        store.customers.set_attributes("ghost", {"a": 1}, [], [], T0)


def test_concurrent_upserts_of_one_new_customer_all_merge(store: Store) -> None:
    start = threading.Barrier(8)
    errors: list[BaseException] = []

    def upsert(i: int) -> None:
        start.wait()
        try:
            store.customers.upsert(CustomerUpsert(customer_id="c-1", attributes={f"k{i}": i}), T0)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=upsert, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    profile = store.customers.get("c-1")
    assert profile is not None
    assert profile.attributes == {f"k{i}": i for i in range(8)}

"""CDNOW parsing and bulk import: bad rows named by line, good rows kept, re-import a no-op."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from domain.customers import CustomerProfile, CustomerUpsert
from domain.importing import cdnow_profile, parse_cdnow
from store.errors import UnknownCustomer
from store.store import Store

NOW = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)

SAMPLE = """\
 customer_id  date number_of_cds  dollar_value
 00001 19970101  1   11.77
 00002 19970112  1   12.00
 00002 19970112  5   77.00
 00003 19970230  2   20.76
 00004 19970101  two 29.33

 00005 19970101  1   -3.00
 00002 19970112  1   1.5.0
 00006 19970102  1   4.00  extra
 abc   19970102  1   4.00
 00002 19970112  3   30.00
"""


def test_good_rows_become_order_events_and_bad_rows_are_named_by_line() -> None:
    parsed = parse_cdnow(SAMPLE.splitlines())
    assert [(p.line, p.reason) for p in parsed.problems] == [
        (5, "date '19970230' is not a calendar date (day is out of range for month)"),
        (6, "number_of_cds 'two' is not a positive whole number"),
        (8, "dollar_value '-3.00' must be zero or more"),
        (9, "dollar_value '1.5.0' is not a number"),
        (10, "expected 4 fields (customer_id date number_of_cds dollar_value), got 5"),
        (11, "customer_id 'abc' is not a positive whole number"),
    ]
    assert [e.event_id for e in parsed.events] == [
        "cdnow:1:19970101:1",
        "cdnow:2:19970112:1",
        "cdnow:2:19970112:2",
        "cdnow:2:19970112:4",  # line 9 (bad amount) keeps ordinal 3 for when it is fixed
    ]
    first = parsed.events[1]
    assert first.customer_id == "cdnow-2"
    assert first.type == "order_completed"
    assert first.occurred_at == datetime(1997, 1, 12, 12, 0, tzinfo=UTC)
    assert first.properties == {
        "order_id": "cdnow-2-19970112-1",
        "items": 1,
        "amount": 12.0,
        "currency": "USD",
        "source": "cdnow",
    }
    assert parsed.customer_ids == ["cdnow-1", "cdnow-2"]
    assert str(parsed.problems[0]).startswith("line 5: date '19970230'")


def test_event_ids_do_not_depend_on_other_customers_lines() -> None:
    alone = parse_cdnow(["00002 19970112 1 12.00", "00002 19970112 5 77.00"])
    mixed = parse_cdnow(
        ["00002 19970112 1 12.00", "00001 19970112 1 1.00", "00002 19970112 5 77.00"]
    )
    assert [e.event_id for e in alone.events] == [
        e.event_id for e in mixed.events if e.customer_id == "cdnow-2"
    ]


def test_an_unreadable_header_is_a_bad_row_not_skipped_silently() -> None:
    parsed = parse_cdnow(["id when cds dollars", "00001 19970101 1 1.00"])
    assert [p.line for p in parsed.problems] == [1] and len(parsed.events) == 1


def test_import_creates_customers_and_re_import_adds_nothing(store: Store) -> None:
    parsed = parse_cdnow(SAMPLE.splitlines())
    calls: list[tuple[int, int]] = []
    counts = store.events.import_events(
        parsed.events,
        NOW,
        new_customer=lambda cid: cdnow_profile(cid, NOW),
        batch=3,
        progress=lambda done, total: calls.append((done, total)),
    )
    assert (counts.imported, counts.duplicates, counts.customers_created) == (4, 0, 2)
    assert calls == [(3, 4), (4, 4)]
    profile = store.customers.get("cdnow-2")
    assert profile is not None
    assert (profile.timezone, profile.email, profile.attributes) == (
        "UTC",
        None,
        {"source": "cdnow"},
    )
    again = store.events.import_events(
        parsed.events, NOW, new_customer=lambda cid: cdnow_profile(cid, NOW)
    )
    assert (again.imported, again.duplicates, again.customers_created) == (0, 4, 0)
    assert store.events.count() == 4


def test_import_counts_ids_repeated_in_the_input_as_duplicates(store: Store) -> None:
    parsed = parse_cdnow(["00001 19970101 1 1.00"])
    twice = [*parsed.events, *parsed.events]
    counts = store.events.import_events(twice, NOW, new_customer=lambda c: cdnow_profile(c, NOW))
    assert (counts.imported, counts.duplicates) == (1, 1)


def test_import_keeps_existing_profiles(store: Store) -> None:
    store.customers.upsert(CustomerUpsert(customer_id="cdnow-1", email="a@example.com"), NOW)
    parsed = parse_cdnow(["00001 19970101 1 1.00", "00002 19970101 1 1.00"])
    counts = store.events.import_events(
        parsed.events, NOW, new_customer=lambda c: cdnow_profile(c, NOW)
    )
    assert counts.customers_created == 1
    kept = store.customers.get("cdnow-1")
    assert kept is not None and kept.email == "a@example.com"


def test_import_without_a_profile_factory_refuses_unknown_customers_before_writing(
    store: Store,
) -> None:
    store.customers.upsert(CustomerUpsert(customer_id="cdnow-1"), NOW)
    parsed = parse_cdnow(["00001 19970101 1 1.00", "00002 19970101 1 1.00"])
    with pytest.raises(UnknownCustomer, match="cdnow-2"):
        store.events.import_events(parsed.events, NOW, batch=1)
    assert store.events.count() == 0


def test_profile_of_an_imported_buyer() -> None:
    assert cdnow_profile("cdnow-7", NOW) == CustomerProfile(
        customer_id="cdnow-7", attributes={"source": "cdnow"}, created_at=NOW, updated_at=NOW
    )

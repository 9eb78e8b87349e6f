"""A case workflow's record and an erasure at once: the record that found no tombstone commits
before the tombstone (the customer's lock), so the erasure finds the case and ends it; one
after the tombstone is refused."""

from __future__ import annotations

import threading
from typing import Any

import pytest

import store.cases as cases_module
from domain.cases import CaseState, OpenCase, new_state
from domain.privacy import CustomerErased
from store.store import Store
from tests.store.conftest import T0


def _state(customer: str, case_id: str) -> CaseState:
    request = OpenCase(customer_id=customer, category="delivery", summary="late parcel")
    return new_state(case_id, request, T0)


def test_a_case_recorded_after_the_tombstone_is_refused(store: Store, customer: str) -> None:
    store.privacy.begin(customer, T0)
    with pytest.raises(CustomerErased, match="a case is refused"):
        store.cases.save(_state(customer, "cs-late"))
    assert store.cases.get("cs-late") is None


def test_a_case_record_under_way_is_seen_by_the_erasure_that_waits_for_it(
    store: Store, customer: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    checked, go = threading.Event(), threading.Event()
    original = cases_module.refuse_erased

    def check_then_pause(*args: Any, **kwargs: Any) -> None:
        original(*args, **kwargs)
        checked.set()
        go.wait(10)

    monkeypatch.setattr(cases_module, "refuse_erased", check_then_pause)
    seen: list[list[str]] = []
    errors: list[BaseException] = []

    def guarded(action: Any) -> threading.Thread:
        def target() -> None:
            try:
                action()
            except BaseException as exc:
                errors.append(exc)

        thread = threading.Thread(target=target)
        thread.start()
        return thread

    def erase_and_look() -> None:
        store.privacy.begin(customer, T0)
        seen.append([case.case_id for case in store.cases.list(customer_id=customer)])

    recording = guarded(lambda: store.cases.save(_state(customer, "cs-race")))
    assert checked.wait(10)
    eraser = guarded(erase_and_look)
    eraser.join(1.0)  # without the shared lock the erasure has looked by now, and missed it
    go.set()
    recording.join(10)
    eraser.join(10)
    assert errors == []
    assert seen == [["cs-race"]]

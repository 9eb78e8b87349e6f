"""Step records of many runs at once: shared transactions, each run its own outcome."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import event

from store.errors import UnknownEnrollment
from store.store import Store
from tests.store.test_runs import enrollment, step

RUNS = 60


def in_threads(calls: list[Callable[[], Any]]) -> list[BaseException | None]:
    """Run every call at once (released together); each one's exception or None."""
    start = threading.Barrier(len(calls))
    outcomes: list[BaseException | None] = [None] * len(calls)

    def worker(i: int) -> None:
        start.wait()
        try:
            calls[i]()
        except BaseException as exc:  # the test looks at each
            outcomes[i] = exc

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return outcomes


def count_commits(store: Store) -> list[int]:
    commits = [0]

    def counted(_conn: Any) -> None:
        commits[0] += 1

    event.listen(store.engine, "commit", counted)
    return commits


def record(store: Store, entry_id: str) -> Callable[[], None]:
    def call() -> None:
        store.runs.record_steps(
            entry_id, [step("wait", entry_id=entry_id, seq=0)], "wait", end=None
        )

    return call


def test_runs_recording_at_once_share_transactions_and_all_are_written(store: Store) -> None:
    for i in range(RUNS):
        store.runs.enroll(enrollment(f"r-{i}", customer_id="c-1"))
    commits = count_commits(store)

    outcomes = in_threads([record(store, f"r-{i}") for i in range(RUNS)])

    assert outcomes == [None] * RUNS
    for i in range(RUNS):
        assert [s.step_id for s in store.runs.steps(f"r-{i}")] == ["wait"]
        current = store.runs.get(f"r-{i}")
        assert current is not None and current.current_step == "wait"
    # One transaction each before group commit; a burst now shares a few.
    assert commits[0] < RUNS


def test_a_record_that_fails_fails_alone_and_the_others_are_written(store: Store) -> None:
    for i in range(RUNS):
        if i % 10 != 3:
            store.runs.enroll(enrollment(f"r-{i}", customer_id="c-1"))

    outcomes = in_threads([record(store, f"r-{i}") for i in range(RUNS)])

    for i, outcome in enumerate(outcomes):
        if i % 10 == 3:
            assert isinstance(outcome, UnknownEnrollment), (i, outcome)
        else:
            assert outcome is None, (i, outcome)
            assert [s.step_id for s in store.runs.steps(f"r-{i}")] == ["wait"]


def test_a_lone_record_is_written_in_its_own_transaction(store: Store) -> None:
    store.runs.enroll(enrollment("r-1"))
    commits = count_commits(store)

    record(store, "r-1")()

    assert commits[0] == 1
    assert [s.step_id for s in store.runs.steps("r-1")] == ["wait"]
    with pytest.raises(UnknownEnrollment):
        record(store, "r-unknown")()

"""Journey runs: enrollment uniqueness, lookups, the idempotent step log, run endings."""

from __future__ import annotations

import threading
from datetime import UTC, timedelta
from typing import Any

import pytest

from domain.runs import Enrollment, RunEnd, StepEvent
from store.errors import UnknownEnrollment
from store.store import Store
from tests.store.conftest import T0


def enrollment(entry_id: str, **changes: Any) -> Enrollment:
    values: dict[str, Any] = {
        "entry_id": entry_id,
        # One per entry unless a test says otherwise: only one row per workflow id may run.
        "workflow_id": f"journey/{changes.get('journey_id', 'onboarding')}/c-1/{entry_id}",
        "journey_id": "onboarding",
        "version": 1,
        "customer_id": "c-1",
        "trigger_event_id": f"evt-{entry_id}",
        "entered_at": T0,
    }
    return Enrollment(**(values | changes))


def step(
    step_id: str,
    status: str = "entered",
    at_minutes: int = 0,
    entry_id: str = "r-1",
    seq: int | None = None,
) -> StepEvent:
    return StepEvent.model_validate(
        {
            "seq": seq,
            "workflow_id": "journey/onboarding/c-1",
            "entry_id": entry_id,
            "journey_id": "onboarding",
            "version": 1,
            "customer_id": "c-1",
            "step_id": step_id,
            "kind": "send",
            "status": status,
            "at": T0 + timedelta(minutes=at_minutes),
        }
    )


def test_enroll_stores_the_run(store: Store) -> None:
    run = enrollment("r-1", correlation_key="order-9")
    assert store.runs.enroll(run)
    stored = store.runs.get("r-1")
    assert stored == run
    assert stored is not None and stored.entered_at.tzinfo is UTC


def test_second_enrollment_for_one_trigger_is_refused(store: Store) -> None:
    assert store.runs.enroll(enrollment("r-1", trigger_event_id="evt-1"))
    assert not store.runs.enroll(enrollment("r-2", trigger_event_id="evt-1"))
    assert store.runs.get("r-2") is None
    found = store.runs.find_by_trigger("onboarding", "evt-1")
    assert found is not None and found.entry_id == "r-1"


def test_trigger_ids_are_per_journey(store: Store) -> None:
    assert store.runs.enroll(enrollment("r-1", trigger_event_id="evt-1"))
    assert store.runs.enroll(
        enrollment(
            "r-2", trigger_event_id="evt-1", journey_id="nurture", workflow_id="journey/nurture/c-1"
        )
    )


def test_reused_entry_id_is_refused(store: Store) -> None:
    assert store.runs.enroll(enrollment("r-1"))
    assert not store.runs.enroll(enrollment("r-1", trigger_event_id="other"))
    stored = store.runs.get("r-1")
    assert stored is not None and stored.trigger_event_id == "evt-r-1"


def test_a_workflow_id_has_at_most_one_running_row(store: Store) -> None:
    wf = "journey/onboarding/c-1"
    assert store.runs.enroll(enrollment("r-1", workflow_id=wf))
    assert not store.runs.enroll(enrollment("r-2", workflow_id=wf))
    assert store.runs.get("r-2") is None
    store.runs.finish("r-1", RunEnd(workflow_id=wf, status="completed", reason="done", at=T0))
    # Re-entry after the run ended: a new row for the same workflow id is fine.
    assert store.runs.enroll(enrollment("r-3", workflow_id=wf))


def test_concurrent_enrollments_of_one_workflow_leave_one_running_row(store: Store) -> None:
    start = threading.Barrier(8)
    wins: list[bool] = []

    def enroll(i: int) -> None:
        start.wait()
        run = enrollment(f"r-{i}", workflow_id="journey/onboarding/c-1")
        wins.append(store.runs.enroll(run))

    threads = [threading.Thread(target=enroll, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(wins) == [False] * 7 + [True]
    assert len(store.runs.running_for_customer("c-1")) == 1


def test_runs_without_trigger_event_never_clash(store: Store) -> None:
    assert store.runs.enroll(enrollment("r-1", trigger_event_id=None))
    assert store.runs.enroll(enrollment("r-2", trigger_event_id=None))


def test_concurrent_enrollment_of_one_trigger_has_one_winner(store: Store) -> None:
    start = threading.Barrier(8)
    wins: list[bool] = []

    def enroll(i: int) -> None:
        start.wait()
        wins.append(store.runs.enroll(enrollment(f"r-{i}", trigger_event_id="evt-1")))

    threads = [threading.Thread(target=enroll, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(wins) == [False] * 7 + [True]


def test_running_finds_the_running_run_of_a_workflow(store: Store) -> None:
    wf = "journey/onboarding/c-1"
    store.runs.enroll(enrollment("r-1", workflow_id=wf))
    store.runs.finish("r-1", RunEnd(workflow_id="w", status="completed", reason="done", at=T0))
    assert store.runs.running(wf) is None
    store.runs.enroll(enrollment("r-2", workflow_id=wf, entered_at=T0 + timedelta(days=1)))
    running = store.runs.running("journey/onboarding/c-1")
    assert running is not None and running.entry_id == "r-2"


def test_history_filters_by_correlation_key_oldest_first(store: Store) -> None:
    day = timedelta(days=1)
    store.runs.enroll(enrollment("late", entered_at=T0 + 2 * day))
    store.runs.enroll(enrollment("early", entered_at=T0))
    store.runs.enroll(enrollment("keyed", correlation_key="o-1", entered_at=T0 + day))
    store.runs.enroll(enrollment("other-customer", customer_id="c-2"))
    store.runs.enroll(enrollment("other-journey", journey_id="nurture"))
    assert [r.entry_id for r in store.runs.history("onboarding", "c-1", None)] == ["early", "late"]
    assert [r.entry_id for r in store.runs.history("onboarding", "c-1", "o-1")] == ["keyed"]


def test_customer_and_journey_listings_are_newest_first(store: Store) -> None:
    day = timedelta(days=1)
    store.runs.enroll(enrollment("r-1", entered_at=T0))
    store.runs.enroll(enrollment("r-2", entered_at=T0 + day, journey_id="nurture"))
    store.runs.enroll(enrollment("r-3", entered_at=T0 + 2 * day))
    store.runs.enroll(enrollment("r-4", customer_id="c-2"))
    store.runs.finish("r-3", RunEnd(workflow_id="w", status="exited", reason="goal met", at=T0))
    assert [r.entry_id for r in store.runs.for_customer("c-1")] == ["r-3", "r-2", "r-1"]
    assert [r.entry_id for r in store.runs.running_for_customer("c-1")] == ["r-2", "r-1"]
    assert [r.entry_id for r in store.runs.for_journey("onboarding")] == ["r-3", "r-4", "r-1"]
    assert [r.entry_id for r in store.runs.for_journey("onboarding", limit=1)] == ["r-3"]


def test_record_steps_appends_and_moves_current_step(store: Store) -> None:
    store.runs.enroll(enrollment("r-1"))
    store.runs.record_steps("r-1", [step("hello"), step("hello", "completed", 1)], "wait")
    assert [(s.step_id, s.status) for s in store.runs.steps("r-1")] == [
        ("hello", "entered"),
        ("hello", "completed"),
    ]
    run = store.runs.get("r-1")
    assert run is not None and run.current_step == "wait"
    assert store.runs.steps("r-1")[0].at.tzinfo is UTC


def test_retried_step_record_is_written_once(store: Store) -> None:
    store.runs.enroll(enrollment("r-1"))
    batch = [step("hello"), step("hello", "completed", 1)]
    store.runs.record_steps("r-1", batch, "wait")
    store.runs.record_steps("r-1", batch, "wait")
    store.runs.record_steps("r-1", [*batch, step("wait", at_minutes=2)], "wait")
    assert [(s.step_id, s.status) for s in store.runs.steps("r-1")] == [
        ("hello", "entered"),
        ("hello", "completed"),
        ("wait", "entered"),
    ]


def test_a_replayed_batch_with_later_times_but_the_same_seq_is_written_once(
    store: Store,
) -> None:
    # A retried workflow task notes the same records again, at the retried task's time.
    store.runs.enroll(enrollment("r-1"))
    first = [step("hello", seq=0), step("hello", "completed", seq=1)]
    replayed = [
        step("hello", at_minutes=3, seq=0),
        step("hello", "completed", at_minutes=3, seq=1),
        step("wait", at_minutes=3, seq=2),
    ]
    store.runs.record_steps("r-1", first, "hello")
    store.runs.record_steps("r-1", replayed, "wait")
    store.runs.record_steps("r-1", replayed, "wait")
    recorded = store.runs.steps("r-1")
    assert [(s.seq, s.step_id, s.status) for s in recorded] == [
        (0, "hello", "entered"),
        (1, "hello", "completed"),
        (2, "wait", "entered"),
    ]
    assert [s.at for s in recorded] == [T0, T0, T0 + timedelta(minutes=3)]
    run = store.runs.get("r-1")
    assert run is not None and run.current_step == "wait"


def test_seq_is_per_entry(store: Store) -> None:
    store.runs.enroll(enrollment("r-1"))
    store.runs.enroll(enrollment("r-2"))
    store.runs.record_steps("r-1", [step("hello", seq=0)], "hello")
    store.runs.record_steps("r-2", [step("hello", entry_id="r-2", seq=0)], "hello")
    assert [s.seq for s in store.runs.steps("r-1")] == [0]
    assert [s.seq for s in store.runs.steps("r-2")] == [0]


def test_records_without_seq_keep_working_beside_numbered_ones(store: Store) -> None:
    # Runs in flight before records were numbered: their earlier rows have no seq.
    store.runs.enroll(enrollment("r-1"))
    legacy = [step("hello"), step("hello", "completed")]
    store.runs.record_steps("r-1", legacy, "wait")
    store.runs.record_steps("r-1", legacy, "wait")
    store.runs.record_steps("r-1", [step("wait", at_minutes=5, seq=2)], "wait")
    store.runs.record_steps("r-1", [step("wait", at_minutes=6, seq=2)], "wait")
    assert [(s.seq, s.step_id, s.status) for s in store.runs.steps("r-1")] == [
        (None, "hello", "entered"),
        (None, "hello", "completed"),
        (2, "wait", "entered"),
    ]


def test_revisiting_a_step_later_is_recorded_again(store: Store) -> None:
    store.runs.enroll(enrollment("r-1"))
    store.runs.record_steps("r-1", [step("loop", at_minutes=0)], "loop")
    store.runs.record_steps("r-1", [step("loop", at_minutes=5)], "loop")
    assert len(store.runs.steps("r-1")) == 2


def test_record_steps_for_unknown_run_raises_and_writes_nothing(store: Store) -> None:
    with pytest.raises(UnknownEnrollment, match="'ghost'"):
        store.runs.record_steps("ghost", [step("a", entry_id="ghost")], "a")
    assert store.runs.steps("ghost") == []


def test_record_steps_refuses_events_of_another_run(store: Store) -> None:
    store.runs.enroll(enrollment("r-1"))
    with pytest.raises(ValueError, match="r-2"):
        store.runs.record_steps("r-1", [step("a", entry_id="r-2")], "a")


def test_finish_records_the_first_ending_only(store: Store) -> None:
    store.runs.enroll(enrollment("r-1"))
    ended = T0 + timedelta(days=3)
    store.runs.finish("r-1", RunEnd(workflow_id="w", status="completed", reason="done", at=ended))
    store.runs.finish(
        "r-1",
        RunEnd(workflow_id="w", status="failed", reason="late retry", at=ended + timedelta(1)),
    )
    run = store.runs.get("r-1")
    assert run is not None
    assert (run.status, run.end_reason, run.ended_at) == ("completed", "done", ended)


def test_finish_of_unknown_run_raises(store: Store) -> None:
    with pytest.raises(UnknownEnrollment):
        store.runs.finish("ghost", RunEnd(workflow_id="w", status="completed", reason="", at=T0))

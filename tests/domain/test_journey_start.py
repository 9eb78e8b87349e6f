"""What a start step's output says for each answer of the other journey's entry."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from domain.journey_start import StartJourney, start_outcome, start_properties


@pytest.mark.parametrize(
    ("action", "reason", "status", "detail"),
    [
        ("started", "first entry", "started", "first entry"),
        ("signalled", "", "already", "already in this journey"),
        ("skipped", "already in this journey", "already", "already in this journey"),
        ("skipped", "journey paused", "paused", "the journey is paused: it takes no new entrants"),
        ("skipped", "journey unknown", "missing", "no such journey is published"),
        (
            "skipped",
            "re_entry once: entered already on 2026-11-30",
            "not_eligible",
            "re_entry once: entered already on 2026-11-30",
        ),
        (
            "failed",
            "the run id would be 300 characters",
            "failed",
            "the run id would be 300 characters",
        ),
    ],
)
def test_each_entry_answer_is_an_outcome_with_its_reason(
    action: str, reason: str, status: str, detail: str
) -> None:
    outcome = start_outcome(action, reason, "journey/b/ada", 3 if action == "started" else None)
    assert (outcome.status, outcome.detail) == (status, detail)
    if status == "started":
        assert (outcome.workflow_id, outcome.version) == ("journey/b/ada", 3)
    if status in ("paused", "missing", "not_eligible", "failed"):
        assert outcome.workflow_id is None


def test_the_started_trigger_carries_the_properties_and_who_asked() -> None:
    request = StartJourney(
        journey_id="b",
        customer_id="ada",
        properties={"source": "a", "journey_id": "not this one", "started_by_step": "forged"},
        parent_journey_id="a",
        parent_workflow_id="journey/a/ada",
        parent_entry_id="e-1",
        step_id="hand_over",
        idempotency_key="journey/a/ada/e-1/hand_over/1",
        at=datetime(2026, 12, 1, tzinfo=UTC),
    )
    assert start_properties(request) == {
        "source": "a",
        "journey_id": "b",
        "started_by_journey": "a",
        "started_by_run": "journey/a/ada",
        "started_by_step": "hand_over",
    }

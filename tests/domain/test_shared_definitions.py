"""Runs of one journey version decoded in one worker share one definition object."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import ValidationError

import domain.shared_definitions as shared
from domain.contracts import EnrollCustomer
from domain.events import CustomerEvent
from domain.loader import load_journey_file
from workers.data_converter import DATA_CONVERTER

WIN_BACK = load_journey_file(Path(__file__).resolve().parents[2] / "journeys" / "win_back.yaml")


def run_input(customer: str, **changes: object) -> EnrollCustomer:
    journey = WIN_BACK.model_copy(update=changes) if changes else WIN_BACK
    return EnrollCustomer(
        journey=journey,
        version=2,
        customer_id=customer,
        entry_id=f"entry-{customer}",
        trigger=CustomerEvent(
            event_id=f"ev-{customer}",
            customer_id=customer,
            type="customer_lapsed",
            occurred_at=datetime(2026, 3, 1, 9, tzinfo=UTC),
        ),
    )


def decoded(value: EnrollCustomer) -> EnrollCustomer:
    """As a worker decodes a run's input."""
    [payload] = DATA_CONVERTER.payload_converter.to_payloads([value])
    [back] = DATA_CONVERTER.payload_converter.from_payloads([payload], [EnrollCustomer])
    assert isinstance(back, EnrollCustomer)
    return back


def test_two_runs_of_one_version_hold_one_definition_and_their_own_trigger() -> None:
    first, second = decoded(run_input("c-1")), decoded(run_input("c-2"))
    assert first.journey is second.journey
    assert first.journey == WIN_BACK
    assert (first.customer_id, second.customer_id) == ("c-1", "c-2")
    assert first.trigger.event_id != second.trigger.event_id


def test_another_definition_is_its_own_object_with_its_own_content() -> None:
    ours = decoded(run_input("c-1")).journey
    renamed = decoded(run_input("c-3", name="Win back, second try")).journey
    assert renamed is not ours
    assert (renamed.name, ours.name) == ("Win back, second try", WIN_BACK.name)


def test_a_shared_definition_cannot_be_changed_by_one_run() -> None:
    journey = decoded(run_input("c-1")).journey
    with pytest.raises(ValidationError, match="frozen"):
        journey.name = "changed"  # type: ignore[misc]


def test_an_invalid_definition_is_refused_and_not_kept() -> None:
    payload = run_input("c-1").model_dump(mode="json")
    payload["journey"]["steps"][0]["id"] = "Not An Id"
    before = len(shared._shared)
    with pytest.raises(ValidationError, match=r"journey\.steps\.0"):
        EnrollCustomer.model_validate(payload)
    assert len(shared._shared) == before


def test_the_oldest_definition_goes_when_more_are_kept_than_the_bound(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(shared, "MAX_SHARED", 2)
    monkeypatch.setattr(shared, "_shared", type(shared._shared)())
    a, b, c = (decoded(run_input("c", name=name)).journey for name in ("a", "b", "c"))
    assert len(shared._shared) == 2
    assert decoded(run_input("c", name="c")).journey is c
    assert decoded(run_input("c", name="a")).journey is not a  # decoded afresh
    assert b.name == "b"

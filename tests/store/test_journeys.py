"""Published journeys: numbered immutable versions, idempotent re-publish, pause/resume."""

from __future__ import annotations

import threading
from datetime import UTC, timedelta
from typing import Any

import pytest

from store.errors import UnknownJourney
from store.journeys import JourneyVersionRecord, checksum
from store.store import Store
from tests.store.conftest import T0


def definition(**extra: Any) -> dict[str, Any]:
    return {
        "trigger": {"event": "signed_up"},
        "steps": [{"id": "hello", "send": "welcome"}],
        **extra,
    }


def test_first_publish_creates_version_one(store: Store) -> None:
    record = store.journeys.publish("onboarding", "Onboarding", "marketing", definition(), T0)
    assert (record.version, record.created) == (1, True)
    assert record.checksum == checksum(definition())
    assert record.published_at == T0 and record.published_at.tzinfo is UTC
    summary = store.journeys.get("onboarding")
    assert summary is not None
    assert (summary.status, summary.latest_version, summary.trigger_event) == (
        "active",
        1,
        "signed_up",
    )


def test_republishing_same_definition_keeps_version(store: Store) -> None:
    first = store.journeys.publish("onboarding", "Onboarding", "marketing", definition(), T0)
    later = T0 + timedelta(hours=1)
    shuffled = dict(reversed(list(definition().items())))
    again = store.journeys.publish("onboarding", "Onboarding", "marketing", shuffled, later)
    assert again.created is False
    assert again.model_dump(exclude={"created"}) == first.model_dump(exclude={"created"})
    assert len(store.journeys.versions("onboarding")) == 1


def test_changed_definition_gets_next_version(store: Store) -> None:
    store.journeys.publish("onboarding", "Onboarding", "marketing", definition(), T0)
    second = store.journeys.publish(
        "onboarding", "Onboarding v2", "transactional", definition(wait="P1D"), T0
    )
    assert (second.version, second.created) == (2, True)
    summary = store.journeys.get("onboarding")
    assert summary is not None
    assert (summary.name, summary.category, summary.latest_version) == (
        "Onboarding v2",
        "transactional",
        2,
    )


def test_versions_are_immutable(store: Store) -> None:
    v1 = store.journeys.publish("j", "J", "marketing", definition(), T0)
    store.journeys.publish("j", "J", "marketing", definition(wait="P1D"), T0)
    # Going back to the first definition makes a new version; version 1 stays as it was.
    v3 = store.journeys.publish("j", "J", "marketing", definition(), T0)
    assert v3.version == 3 and v3.created
    assert store.journeys.get_version("j", 1) == v1.model_copy(update={"created": False})
    assert [v.version for v in store.journeys.versions("j")] == [1, 2, 3]
    assert store.journeys.get_version("j") == v3.model_copy(update={"created": False})


def test_unknown_journey_and_version_read_as_none(store: Store) -> None:
    store.journeys.publish("j", "J", "marketing", definition(), T0)
    assert store.journeys.get("nope") is None
    assert store.journeys.get_version("nope") is None
    assert store.journeys.get_version("j", 7) is None
    assert store.journeys.versions("nope") == []


def test_list_summarises_every_journey_with_newest_version(store: Store) -> None:
    store.journeys.publish("b", "B", "marketing", {"steps": []}, T0)
    store.journeys.publish("a", "A", "marketing", definition(), T0)
    store.journeys.publish("a", "A", "marketing", definition(wait="P1D"), T0 + timedelta(days=1))
    summaries = store.journeys.list()
    assert [(s.journey_id, s.latest_version, s.trigger_event) for s in summaries] == [
        ("a", 2, "signed_up"),
        ("b", 1, None),
    ]
    assert summaries[0].published_at == T0 + timedelta(days=1)


def test_pausing_and_resuming_moves_status_time_only_on_change(store: Store) -> None:
    store.journeys.publish("j", "J", "marketing", definition(), T0)
    paused_at = T0 + timedelta(hours=1)
    assert store.journeys.set_status("j", "paused", paused_at).status == "paused"
    store.journeys.set_status("j", "paused", paused_at + timedelta(hours=1))
    assert [r.journey_id for r in store.journeys.active_latest()] == []
    resumed = store.journeys.set_status("j", "active", paused_at + timedelta(hours=2))
    assert resumed.status == "active"
    assert [r.journey_id for r in store.journeys.active_latest()] == ["j"]


def test_set_status_of_unknown_journey_raises(store: Store) -> None:
    with pytest.raises(UnknownJourney, match="'ghost'"):
        store.journeys.set_status("ghost", "paused", T0)


def test_active_latest_returns_newest_version_of_active_journeys(store: Store) -> None:
    store.journeys.publish("a", "A", "marketing", definition(), T0)
    newest_a = store.journeys.publish("a", "A", "marketing", definition(wait="P1D"), T0)
    newest_b = store.journeys.publish("b", "B", "marketing", definition(), T0)
    store.journeys.publish("c", "C", "marketing", definition(), T0)
    store.journeys.set_status("c", "paused", T0)
    assert store.journeys.active_latest() == [
        newest_a.model_copy(update={"created": False}),
        newest_b.model_copy(update={"created": False}),
    ]


def _publish_concurrently(
    store: Store, definitions: list[dict[str, Any]]
) -> list[JourneyVersionRecord]:
    start = threading.Barrier(len(definitions))
    records: list[JourneyVersionRecord] = []
    errors: list[BaseException] = []

    def publish(d: dict[str, Any]) -> None:
        start.wait()
        try:
            records.append(store.journeys.publish("j", "J", "marketing", d, T0))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=publish, args=(d,)) for d in definitions]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    return records


def test_concurrent_publishes_get_distinct_consecutive_versions(store: Store) -> None:
    records = _publish_concurrently(store, [definition(n=i) for i in range(6)])
    assert sorted(r.version for r in records) == [1, 2, 3, 4, 5, 6]
    assert [v.version for v in store.journeys.versions("j")] == [1, 2, 3, 4, 5, 6]


def test_concurrent_publishes_of_one_definition_make_one_version(store: Store) -> None:
    records = _publish_concurrently(store, [definition()] * 6)
    assert sorted(r.created for r in records) == [False] * 5 + [True]
    assert {r.version for r in records} == {1}


def test_unknown_status_is_refused(store: Store) -> None:
    store.journeys.publish("j", "J", "marketing", definition(), T0)
    with pytest.raises(ValueError, match="archived"):
        store.journeys.set_status("j", "archived", T0)  # type: ignore[arg-type]

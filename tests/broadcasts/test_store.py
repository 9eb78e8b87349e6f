"""The broadcast row and its journey, on SQLite and PostgreSQL: written together in one
transaction, a name (or its journey id) used twice refused with nothing written, and the
tally of a broadcast nobody has been sent yet."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from domain.broadcasts import Broadcast, BroadcastRefused, broadcast_journey
from domain.journey import Template
from store.broadcasts import BroadcastRepository
from store.db import reading
from store.schema import broadcasts, journey_versions, journeys
from store.store import Store
from store.unit_of_work import unit_of_work
from tests.store.conftest import backend_url, postgres_session_url, store

__all__ = ["backend_url", "postgres_session_url", "store"]

NOW = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)


def _broadcast(name: str) -> tuple[Broadcast, dict[str, object]]:
    template = Template(subject="Hi", text="Hello")
    journey = broadcast_journey(name, "vip", "email", template, "marketing")
    row = Broadcast(
        name=name,
        journey_id=journey.id,
        workflow_id=f"broadcast/{name}",
        segment="vip",
        channel="email",
        category="marketing",
        template="t.yaml",
        scheduled_at=None,
        created_by="cli:test",
        created_at=NOW,
        status="created",
    )
    return row, journey.model_dump(mode="json", by_alias=True, exclude_none=True)


def _counts(store: Store) -> tuple[int, int, int]:
    with reading(store.engine) as conn:
        return tuple(  # type: ignore[return-value]
            int(conn.scalar(select(func.count()).select_from(t)) or 0)
            for t in (broadcasts, journeys, journey_versions)
        )


def test_a_broadcast_and_its_journey_are_written_together_and_a_name_only_once(
    store: Store,
) -> None:
    repository = BroadcastRepository(store.engine)
    row, definition = _broadcast("winter")
    with unit_of_work(store.engine) as conn:
        repository.create(conn, row, definition)
    assert _counts(store) == (1, 1, 1)
    assert repository.get("winter") == row
    published = store.journeys.get_version("broadcast_winter")
    assert published is not None and published.version == 1
    with pytest.raises(BroadcastRefused) as refused, unit_of_work(store.engine) as conn:
        repository.create(conn, row, definition)
    assert refused.value.field == "name" and refused.value.kind == "conflict"
    assert _counts(store) == (1, 1, 1)
    tally = repository.tally("broadcast_winter")
    assert (tally.enrolled, tally.running, tally.deferred, tally.by_status) == (0, 0, 0, {})
    repository.mark_started("winter", NOW)
    started = repository.get("winter")
    assert started is not None and (started.status, started.started_at) == ("scheduled", NOW)


def test_a_failed_write_leaves_neither_the_row_nor_the_journey(store: Store) -> None:
    repository = BroadcastRepository(store.engine)
    row, definition = _broadcast("spring")
    with pytest.raises(RuntimeError), unit_of_work(store.engine) as conn:
        repository.create(conn, row, definition)
        raise RuntimeError("the audit entry failed")
    assert _counts(store) == (0, 0, 0)

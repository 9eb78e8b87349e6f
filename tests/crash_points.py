"""Crashes injected into a use case, for the one-transaction tests (tests/support,
tests/messaging): the event write failing inside the use case, and the delivery (the journey
service's ingest) failing after the use case's writes, before or after it did its own work.

A journey service here has no Temporal: no journey is published and no run is running, so
delivering an event reaches nothing, and asking for a client is a failure of the test.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Literal

import pytest

from app.journeys import JourneyService
from domain.events import CustomerEvent, StoredEvent
from store.store import Store

CrashPoint = Literal["before_ingest", "after_ingest"]
CRASH_POINTS: tuple[CrashPoint, ...] = ("before_ingest", "after_ingest")


class Crash(RuntimeError):
    """The process died here."""


def journey_service(store: Store) -> JourneyService:
    async def no_temporal() -> Any:
        raise AssertionError("these use cases reach no run: nothing should ask for Temporal")

    return JourneyService(store, no_temporal, "no-queue")


def fail_event_writes(monkeypatch: pytest.MonkeyPatch, store: Store) -> None:
    """Every append to the customer log fails (the second write of the use case)."""

    def crash(*_args: Any, **_kwargs: Any) -> Any:
        raise Crash("the event write failed")

    monkeypatch.setattr(store.events, "append_many", crash)


class Deliveries:
    """Stands in for the service's ingest: the first call crashes at `crash` (before doing
    anything, or after ingesting for real); later calls ingest for real and are recorded."""

    def __init__(self, service: JourneyService, crash: CrashPoint | None) -> None:
        self._ingest: Callable[[list[CustomerEvent]], Awaitable[Any]] = service.ingest
        self.crash = crash
        self.delivered: list[list[CustomerEvent]] = []

    async def __call__(self, events: list[CustomerEvent], **kwargs: Any) -> Any:
        crash, self.crash = self.crash, None
        if crash == "before_ingest":
            raise Crash("died before asking for delivery")
        result = await self._ingest(events, **kwargs)
        if crash == "after_ingest":
            raise Crash("died while delivering")
        self.delivered.append(list(events))
        return result


def crash_deliveries(
    monkeypatch: pytest.MonkeyPatch, service: JourneyService, crash: CrashPoint | None
) -> Deliveries:
    deliveries = Deliveries(service, crash)
    monkeypatch.setattr(service, "ingest", deliveries)
    return deliveries


def logged(store: Store, customer_id: str, event_type: str) -> list[StoredEvent]:
    return [e for e in store.events.for_customer(customer_id) if e.type == event_type]


def assert_delivered(deliveries: Deliveries, event: StoredEvent) -> None:
    """The last request asked for delivery of exactly the logged event."""
    assert deliveries.delivered, "the retry never asked for the event to be delivered"
    [asked] = deliveries.delivered[-1]
    assert (
        asked.model_dump()
        == CustomerEvent.model_validate(
            event.model_dump(exclude={"seq", "received_at"})
        ).model_dump()
    )

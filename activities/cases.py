"""Case activities: keep a case's state in the store and tell the customer's log."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, Protocol

from temporalio import activity

from domain.cases import RECORD_CASE, CaseRecord
from domain.events import CustomerEvent
from store.store import Store


class Ingests(Protocol):
    def ingest(self, events: list[CustomerEvent]) -> Awaitable[Any]: ...


class CaseActivities:
    def __init__(self, store: Store, journeys: Ingests, clock: Callable[[], datetime]) -> None:
        self.store = store
        self.journeys = journeys
        self.clock = clock

    @activity.defn(name=RECORD_CASE)
    async def record_case(self, record: CaseRecord) -> None:
        """Save the state; append the event (its id is stable, so a retry appends nothing)."""
        state = record.state
        await asyncio.to_thread(self.store.cases.save, state)
        if record.event is None:
            return
        event = CustomerEvent(
            event_id=f"case.{state.case_id}.{record.event_key}"[:128],
            customer_id=state.customer_id,
            type=record.event,
            occurred_at=self.clock(),
            properties={
                "case_id": state.case_id,
                "category": state.category,
                "severity": state.severity,
                "status": state.status,
                "queue": state.queue,
            },
        )
        await self.journeys.ingest([event])

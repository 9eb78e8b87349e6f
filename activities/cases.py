"""Case activities: keep a case's state in the store and tell the customer's log, together."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, Protocol

from temporalio import activity
from temporalio.exceptions import ApplicationError

from domain.cases import RECORD_CASE, CaseRecord
from domain.events import CustomerEvent
from domain.privacy import ERASED_ERROR, CustomerErased
from store.store import Store
from store.unit_of_work import append_once, unit_of_work


class Ingests(Protocol):
    def ingest(self, events: list[CustomerEvent]) -> Awaitable[Any]: ...


class CaseActivities:
    def __init__(self, store: Store, journeys: Ingests, clock: Callable[[], datetime]) -> None:
        self.store = store
        self.journeys = journeys
        self.clock = clock

    @activity.defn(name=RECORD_CASE)
    async def record_case(self, record: CaseRecord) -> None:
        """Save the state and append its event in one transaction, then deliver the event.

        The event id is stable, so a retried activity writes the same state, appends nothing
        new and delivers the logged event. A customer erased (or being erased) fails it for
        good with ERASED_ERROR, keeping nothing: the case workflow then ends.
        """
        try:
            event = await asyncio.to_thread(self._record, record, self.clock())
        except CustomerErased as exc:
            raise ApplicationError(str(exc), type=ERASED_ERROR, non_retryable=True) from exc
        if event is not None:
            await self.journeys.ingest([event])

    def _record(self, record: CaseRecord, now: datetime) -> CustomerEvent | None:
        state = record.state
        with unit_of_work(self.store.engine) as conn:
            self.store.cases.save(state, conn)
            if record.event is None:
                return None
            event = CustomerEvent(
                event_id=f"case.{state.case_id}.{record.event_key}"[:128],
                customer_id=state.customer_id,
                type=record.event,
                occurred_at=now,
                properties={
                    "case_id": state.case_id,
                    "category": state.category,
                    "severity": state.severity,
                    "status": state.status,
                    "queue": state.queue,
                },
            )
            return append_once(conn, self.store.events, event, now)

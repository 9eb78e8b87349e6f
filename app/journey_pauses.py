"""Pause and resume a journey; a pause may hold its runs' sends, and the resume releases them.

`pause(hold_sends=True)` keeps the meaning of a pause (no new entrants) and also makes every
run of the journey hold at its next send (the send activity defers it: a durable wait in the
run, in its trace). `resume` lets entrants in again, ends the hold in the store and then tells
every running run of the journey (`sends_released`), so a held message is decided again now,
quiet hours and caps applied at that moment. A run the signal does not reach asks again within
a day by itself (domain/eligibility.py HOLD_RECHECK).
"""

from __future__ import annotations

import asyncio

from pydantic import BaseModel
from temporalio.service import RPCError, RPCStatusCode

from app.journeys import JourneyService
from store.journeys import JourneySummary

CONCURRENT_SIGNALS = 16


class Resumed(BaseModel):
    summary: JourneySummary
    released: int = 0  # running runs told that the hold ended


def pause(service: JourneyService, journey_id: str, *, hold_sends: bool = False) -> JourneySummary:
    return service.set_status(journey_id, "paused", hold_sends=hold_sends)


async def resume(service: JourneyService, journey_id: str) -> Resumed:
    before = await asyncio.to_thread(service.store.journeys.get, journey_id)
    summary = await asyncio.to_thread(service.set_status, journey_id, "active")
    if before is None or not before.hold_sends:
        return Resumed(summary=summary)
    return Resumed(summary=summary, released=await release(service, journey_id))


async def release(service: JourneyService, journey_id: str) -> int:
    """Tell every running run of the journey that its sends may go; how many were told."""
    runs = await asyncio.to_thread(service.store.runs.select_running, journey_id)
    client = await service.client()
    gate = asyncio.Semaphore(CONCURRENT_SIGNALS)

    async def one(workflow_id: str) -> bool:
        async with gate:
            try:
                await client.get_workflow_handle(workflow_id).signal("sends_released")
            except RPCError as exc:
                if exc.status != RPCStatusCode.NOT_FOUND:  # ended meanwhile: nothing held
                    raise
                return False
            return True

    told = await asyncio.gather(*(one(run.workflow_id) for run in runs))
    return sum(told)

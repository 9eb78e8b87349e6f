"""Activities of segment enrollment: measure a segment, enroll one batch of its members."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any, Protocol

from temporalio import activity
from temporalio.exceptions import ApplicationError

from domain.audiences import (
    ENROLL_AUDIENCE_BATCH,
    MEASURE_AUDIENCE,
    AudienceSize,
    BatchResult,
    EnrollBatch,
    MeasureAudience,
)
from domain.segments import Segment
from store.errors import StoreError
from store.store import Store

CONCURRENT_ENROLLMENTS = 16


class Enroller(Protocol):
    """Puts one customer into a journey (the service's manual enrollment)."""

    async def enroll(
        self,
        journey_id: str,
        customer_id: str,
        properties: dict[str, Any] | None = None,
        request_id: str | None = None,
    ) -> Any: ...


class AudienceActivities:
    def __init__(self, store: Store, segments: Mapping[str, Segment], enroller: Enroller) -> None:
        self.store = store
        self.segments = segments
        self.enroller = enroller

    def _segment(self, name: str) -> Segment:
        segment = self.segments.get(name)
        if segment is None:
            known = ", ".join(sorted(self.segments)) or "none"
            raise ApplicationError(
                f"unknown segment {name!r} (known: {known})",
                type="UnknownSegment",
                non_retryable=True,
            )
        return segment

    @activity.defn(name=MEASURE_AUDIENCE)
    async def measure_audience(self, request: MeasureAudience) -> AudienceSize:
        """The segment's size as of the date, rebuilding the projections first if they are
        of another date."""
        segment = self._segment(request.segment)

        def measure() -> int:
            if segment.uses_projection() and self.store.projections.built_as_of() != request.as_of:
                self.store.projections.rebuild(request.as_of)
            return self.store.segments.count(segment, request.as_of)

        return AudienceSize(total=await asyncio.to_thread(measure))

    @activity.defn(name=ENROLL_AUDIENCE_BATCH)
    async def enroll_audience_batch(self, request: EnrollBatch) -> BatchResult:
        summary = await asyncio.to_thread(self.store.journeys.get, request.journey_id)
        if summary is None or summary.status != "active":
            state = "unknown" if summary is None else summary.status
            return BatchResult(seen=0, enrolled=0, skipped=0, last=None, stopped=f"journey {state}")
        segment = self._segment(request.segment)
        members = await asyncio.to_thread(
            self.store.segments.members, segment, request.as_of, request.limit, request.after
        )
        gate = asyncio.Semaphore(CONCURRENT_ENROLLMENTS)

        async def enroll(customer_id: str) -> bool:
            async with gate:
                activity.heartbeat(customer_id)
                try:
                    delivery = await self.enroller.enroll(
                        request.journey_id,
                        customer_id,
                        {"segment": request.segment, "audience_run": request.run_key},
                        # The same run key gives the same event id: a retried batch is a no-op.
                        request_id=f"audience.{request.run_key}",
                    )
                except StoreError as exc:
                    activity.logger.warning("not enrolled: %s", exc)
                    return False
                return bool(delivery.action == "started")

        started = await asyncio.gather(*(enroll(customer_id) for customer_id in members))
        return BatchResult(
            seen=len(members),
            enrolled=sum(started),
            skipped=len(members) - sum(started),
            last=members[-1] if members else None,
        )

"""Activities of segment enrollment: measure a segment, enroll one batch of its members."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable, Mapping
from typing import Protocol

from temporalio import activity
from temporalio.exceptions import ApplicationError

from domain.audiences import (
    ENROLL_AUDIENCE_BATCH,
    MEASURE_AUDIENCE,
    AudienceBatch,
    AudienceSize,
    BatchResult,
    EnrollBatch,
    MeasureAudience,
)
from domain.segments import Segment
from store.store import Store

# The page's liveness signal, well inside its heartbeat timeout (a minute): each heartbeat
# costs the worker's event loop a task and an encode, which one per start paid for nothing.
HEARTBEAT_EVERY = 1.0


def at_most_every(seconds: float, call: Callable[[str], None]) -> Callable[[str], None]:
    """`call`, passed on at most once per `seconds` (the first call always)."""
    last = -math.inf

    def throttled(detail: str) -> None:
        nonlocal last
        now = time.monotonic()
        if now - last >= seconds:
            last = now
            call(detail)

    return throttled


class Enroller(Protocol):
    """Enrolls one page of a segment into a journey (the service's audience enrollment)."""

    async def enroll_audience_page(
        self, request: EnrollBatch, segment: Segment, on_start: Callable[[str], None]
    ) -> AudienceBatch: ...


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
        """Enroll the page after the cursor; a retried page starts what it created before."""
        segment = self._segment(request.segment)
        beat = at_most_every(HEARTBEAT_EVERY, activity.heartbeat)
        batch = await self.enroller.enroll_audience_page(request, segment, beat)
        return BatchResult(
            seen=batch.seen,
            enrolled=batch.entered + batch.resumed,
            skipped=batch.skipped,
            last=batch.last,
            stopped=batch.stopped,
        )

"""Broadcasts: create one (checked, stored and published in one unit of work, then its
enrollment run started in Temporal, at once or with a start delay), list them, show one.

The rules are domain/broadcasts.py's; the row and the journey it publishes are written by
store/broadcasts.py in the caller's transaction, with the audit entry. Only after the commit is
Temporal asked to start the run (`broadcast/<name>`, an AudienceEnrollmentWorkflow over the
broadcast's segment): a start that fails leaves the broadcast `created`, and `start` (or the
CLI's `journeys broadcast start NAME`) starts it later; a run already started counts as
started, so a repeated start never enrolls anyone twice (and the journey's `once` re-entry and
the run key's event ids make a repeated page harmless).
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
from collections.abc import Collection, Mapping
from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel
from temporalio.client import WorkflowExecutionStatus, WorkflowHandle
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from app.audit import acting
from app.funnels import with_unreached_steps
from app.journeys import JourneyService
from domain.audiences import AudienceProgress, EnrollAudience, run_date
from domain.broadcasts import (
    Broadcast,
    BroadcastProgress,
    BroadcastRefused,
    BroadcastView,
    Category,
    SkipReason,
    UnknownBroadcast,
    audit_details,
    broadcast_journey,
    check_channel,
    check_name,
    check_time,
    progress_state,
    template_problems,
    workflow_id_for,
)
from domain.journey import JourneyDefinition, Template
from domain.segments import Segment, load_segments_file
from store.broadcasts import BroadcastRepository, MessageTally
from store.reports import RunCounts, StepCounts
from store.unit_of_work import unit_of_work
from workers.settings import Settings
from workflows.audience import AudienceEnrollmentWorkflow

RunState = Literal["missing", "delayed", "running", "completed", "failed", "unknown"]


class CreateBroadcast(BaseModel):
    """What `journeys broadcast create` and `POST /broadcasts` ask for."""

    name: str
    segment: str
    channel: str
    template: Template
    template_source: str  # the file (or "request body") it came from
    at: datetime | None = None
    category: Category = "marketing"


class BroadcastFunnel(BaseModel):
    """The broadcast journey's funnel, as `journeys report funnel` counts it."""

    runs: list[RunCounts]
    steps: list[StepCounts]


class BroadcastDetail(BroadcastView):
    funnel: BroadcastFunnel


class BroadcastNotStarted(Exception):
    """The broadcast is stored and published, but Temporal did not take its run (yet)."""

    def __init__(self, broadcast: Broadcast, cause: str) -> None:
        super().__init__(
            f"broadcast {broadcast.name!r} is saved but not started: {cause}; "
            f"`journeys broadcast start {broadcast.name}` starts it"
        )
        self.broadcast = broadcast


def configured_channels(settings: Settings) -> set[str]:
    """The channels this installation can send by (as the worker builds them)."""
    channels = {"email"}
    if settings.sms_url:
        channels.add("sms")
    if settings.webhook_url:
        channels.add("webhook")
    return channels


def broadcast_service(settings: Settings, journeys: JourneyService) -> BroadcastService:
    """The service over the configured segments file and channels (SegmentError if the
    segments file does not load)."""
    return BroadcastService(
        journeys,
        load_segments_file(settings.segments_file),
        configured_channels(settings),
        settings.timezone,
    )


class BroadcastService:
    def __init__(
        self,
        journeys: JourneyService,
        segments: Mapping[str, Segment],
        channels: Collection[str],
        timezone: str | None = None,
    ) -> None:
        self.journeys = journeys
        self.segments = segments
        self.channels = channels
        # The workspace's: the day a broadcast's segment is evaluated for is the day there.
        self.timezone = timezone
        self.repository = BroadcastRepository(journeys.store.engine)

    # --- create ---------------------------------------------------------------------------

    def check(self, request: CreateBroadcast) -> tuple[Broadcast, JourneyDefinition]:
        """Every rule, nothing written: the broadcast to store and its journey, or
        BroadcastRefused naming the field."""
        now = self.journeys.clock()
        name = check_name(request.name)
        segment = self.segments.get(request.segment)
        if segment is None:
            known = ", ".join(sorted(self.segments)) or "none"
            raise BroadcastRefused(
                "segment", f"unknown segment {request.segment!r} (known: {known})", "unknown"
            )
        channel = check_channel(request.channel, request.template, self.channels)
        at = check_time(request.at, now)
        journey = broadcast_journey(
            name, request.segment, channel, request.template, request.category
        )
        problems = template_problems(journey)
        if problems:
            raise BroadcastRefused("template", f"{request.template_source}: " + "; ".join(problems))
        if self.repository.get(name) is not None:
            raise BroadcastRefused("name", f"a broadcast named {name!r} exists already", "conflict")
        if self.journeys.store.journeys.get(journey.id) is not None:
            raise BroadcastRefused(
                "name",
                f"the name is taken: a journey {journey.id!r} is published already",
                "conflict",
            )
        members = self._members_now(segment, run_date(now, self.timezone))
        if members == 0:
            raise BroadcastRefused(
                "segment",
                f"segment {request.segment!r} has no members today: nobody to send to",
                "conflict",
            )
        actor = acting()
        broadcast = Broadcast(
            name=name,
            journey_id=journey.id,
            workflow_id=workflow_id_for(name),
            segment=request.segment,
            channel=channel,
            category=request.category,
            template=request.template_source,
            scheduled_at=at,
            created_by=actor.name if actor is not None else "unknown",
            created_at=now,
            status="created",
        )
        return broadcast, journey

    def _members_now(self, segment: Segment, day: date) -> int:
        """The segment's size today, as the enrollment run measures it."""
        store = self.journeys.store
        if segment.uses_projection() and store.projections.built_as_of() != day:
            store.projections.rebuild(day)
        return store.segments.count(segment, day)

    async def create(self, request: CreateBroadcast) -> Broadcast:
        """Check, store and publish in one transaction (with its audit entry), then start."""

        def write() -> Broadcast:
            broadcast, journey = self.check(request)
            definition = journey.model_dump(mode="json", by_alias=True, exclude_none=True)
            with unit_of_work(self.journeys.store.engine) as conn:
                self.repository.create(conn, broadcast, definition)
                self.journeys.auditor.record(
                    None, "broadcast.create", broadcast.name, audit_details(broadcast), conn=conn
                )
            return broadcast

        broadcast = await asyncio.to_thread(write)
        try:
            return await self.start(broadcast.name)
        except (RPCError, RuntimeError, OSError) as exc:  # Temporal unreachable or refusing
            raise BroadcastNotStarted(broadcast, str(exc) or type(exc).__name__) from exc

    async def start(self, name: str) -> Broadcast:
        """Start the broadcast's enrollment run unless it is started (harmless to repeat)."""
        broadcast = await asyncio.to_thread(self.get, name)
        if broadcast.status != "created":
            return broadcast
        client = await self.journeys.client()
        now = self.journeys.clock()
        delay = None
        if broadcast.scheduled_at is not None and broadcast.scheduled_at > now:
            delay = broadcast.scheduled_at - now
        # An earlier attempt that reached Temporal: the run is there.
        with contextlib.suppress(WorkflowAlreadyStartedError):
            await client.start_workflow(
                AudienceEnrollmentWorkflow.run,
                EnrollAudience(
                    journey_id=broadcast.journey_id,
                    segment=broadcast.segment,
                    run_key=f"broadcast-{broadcast.name}",
                    timezone=self.timezone,
                ),
                id=broadcast.workflow_id,
                task_queue=self.journeys.task_queue,
                start_delay=delay,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            )
        await asyncio.to_thread(self.repository.mark_started, name, self.journeys.clock())
        return await asyncio.to_thread(self.get, name)

    # --- read -----------------------------------------------------------------------------

    def get(self, name: str) -> Broadcast:
        broadcast = self.repository.get(name)
        if broadcast is None:
            raise UnknownBroadcast(name)
        return broadcast

    def list(self) -> list[Broadcast]:
        return self.repository.list()

    def listing(self) -> builtins.list[tuple[Broadcast, MessageTally]]:
        """Every broadcast with what the store knows of its runs and messages."""
        return [(b, self.repository.tally(b.journey_id)) for b in self.repository.list()]

    async def progress(self, broadcast: Broadcast) -> BroadcastProgress:
        run, enrollment = await self._run(broadcast)
        tally = await asyncio.to_thread(self.repository.tally, broadcast.journey_id)
        counts = tally.by_status
        stopped = enrollment.stopped if enrollment is not None else ""
        return BroadcastProgress(
            state=progress_state(broadcast, run, tally.running, stopped),
            members=enrollment.total if enrollment is not None else None,
            enrolled=tally.enrolled,
            sent=counts.get("sent", 0),
            deferred=tally.deferred,
            deferred_reasons=[
                SkipReason(reason=rule, count=n) for rule, n in tally.deferred_rules.items()
            ],
            skipped=counts.get("skipped", 0),
            skipped_reasons=[
                SkipReason(reason=reason, count=n) for reason, n in tally.skipped_reasons.items()
            ],
            skipped_rules=[
                SkipReason(reason=rule, count=n) for rule, n in tally.skipped_rules.items()
            ],
            failed=counts.get("failed", 0),
            uncertain=counts.get("uncertain", 0) + counts.get("sending", 0),
            running=tally.running,
            stopped=stopped,
        )

    async def _run(self, broadcast: Broadcast) -> tuple[RunState, AudienceProgress | None]:
        """The enrollment run's state in Temporal and its progress (None before it ran)."""
        if broadcast.status == "created":
            return "missing", None
        try:
            client = await self.journeys.client()
            handle: WorkflowHandle[AudienceEnrollmentWorkflow, AudienceProgress] = (
                client.get_workflow_handle_for(
                    AudienceEnrollmentWorkflow.run, broadcast.workflow_id
                )
            )
            described = await handle.describe()
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                return "missing", None
            return "unknown", None  # the store's numbers still tell most of it
        except RuntimeError:  # Temporal unreachable
            return "unknown", None
        if described.status == WorkflowExecutionStatus.COMPLETED:
            return "completed", await handle.result()
        if described.status != WorkflowExecutionStatus.RUNNING:
            return "failed", None
        starts = described.execution_time
        if starts is not None and starts > self.journeys.clock():
            return "delayed", None
        try:
            return "running", await handle.query(AudienceEnrollmentWorkflow.progress)
        except RPCError:  # its first task has not run yet
            return "running", None

    def funnel(self, broadcast: Broadcast) -> BroadcastFunnel:
        """The same counts `journeys report funnel` prints for the broadcast's journey."""
        store = self.journeys.store
        runs = store.reports.run_counts(broadcast.journey_id, [])
        counts = store.reports.step_counts(broadcast.journey_id, [])
        journey = self.journeys.journey(broadcast.journey_id)
        return BroadcastFunnel(runs=runs, steps=with_unreached_steps(journey, 1, counts))

    async def show(self, name: str) -> BroadcastDetail:
        broadcast = await asyncio.to_thread(self.get, name)
        progress = await self.progress(broadcast)
        funnel = await asyncio.to_thread(self.funnel, broadcast)
        return BroadcastDetail(broadcast=broadcast, progress=progress, funnel=funnel)

"""The use cases the CLI and the HTTP API share: publish, ingest, enroll, read a timeline.

Front doors validate input and call these; the rules themselves live in domain/ (trigger
matching, re-entry, run ids) and the effects in store/ and Temporal.
"""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field
from temporalio.client import Client
from temporalio.common import WorkflowIDReusePolicy
from temporalio.service import RPCError, RPCStatusCode

from domain.audiences import AudienceBatch, EnrollBatch
from domain.contracts import EnrollCustomer, RunSnapshot
from domain.customers import CustomerProfile, CustomerUpsert
from domain.entry import correlation_key, decide_entry, workflow_id
from domain.events import CustomerEvent, StoredEvent
from domain.journey import JourneyDefinition
from domain.loader import load_journey_file
from domain.messages import OutboxMessage
from domain.runs import Enrollment, RunEnd, StepEvent
from domain.segments import Segment
from store.audience_runs import AudienceEntries, AudiencePage
from store.errors import UnknownCustomer, UnknownJourney
from store.journeys import JourneySummary, JourneyVersionRecord
from store.store import Store
from workflows.journey import JourneyWorkflow

# Signal-with-starts in flight per audience page: the server, not the worker, is the limit.
CONCURRENT_STARTS = 32


class JourneyPaused(Exception):
    def __init__(self, journey_id: str) -> None:
        super().__init__(f"journey {journey_id!r} is paused: it takes no new entrants")


class Delivery(BaseModel):
    """What one event did to one journey: started a run, reached a running one, or neither."""

    journey_id: str
    workflow_id: str | None = None
    action: str  # started | signalled | skipped
    reason: str = ""


class IngestResult(BaseModel):
    event_id: str
    duplicate: bool
    deliveries: list[Delivery] = Field(default_factory=list)


class RunView(BaseModel):
    run: Enrollment
    steps: list[StepEvent]


class Timeline(BaseModel):
    profile: CustomerProfile
    events: list[StoredEvent]
    messages: list[OutboxMessage]
    runs: list[RunView]


def utc_now() -> datetime:
    return datetime.now(UTC)


def enrollment_event_id(journey_id: str, customer_id: str, request_id: str | None) -> str:
    """The id of a manual enrollment's event: the same request id always gives the same one."""
    raw = f"{journey_id}.{customer_id}.{request_id or uuid.uuid4().hex}"
    return "enroll." + hashlib.sha256(raw.encode()).hexdigest()[:40]


class JourneyService:
    def __init__(
        self,
        store: Store,
        client_factory: Callable[[], Any],
        task_queue: str,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.store = store
        self._client_factory = client_factory
        self._client: Client | None = None
        self.task_queue = task_queue
        self.clock = clock
        self._definitions: dict[tuple[str, int], JourneyDefinition] = {}

    async def client(self) -> Client:
        if self._client is None:
            self._client = await self._client_factory()
        return self._client

    # --- journeys ------------------------------------------------------------------------

    def publish(self, path: Path) -> JourneyVersionRecord:
        """Validate a journey file and publish it; an unchanged file keeps its version."""
        journey = load_journey_file(path)
        return self.publish_definition(journey)

    def publish_definition(self, journey: JourneyDefinition) -> JourneyVersionRecord:
        return self.store.journeys.publish(
            journey.id,
            journey.name,
            journey.category,
            journey.model_dump(mode="json", by_alias=True, exclude_none=True),
            self.clock(),
        )

    def publish_directory(self, directory: Path) -> list[JourneyVersionRecord]:
        return [self.publish(path) for path in sorted(directory.glob("*.yaml"))]

    def journeys(self) -> list[JourneySummary]:
        return self.store.journeys.list()

    def journey(self, journey_id: str, version: int | None = None) -> JourneyDefinition:
        record = self.store.journeys.get_version(journey_id, version)
        if record is None:
            raise UnknownJourney(journey_id)
        return self._definition(record)

    def set_status(self, journey_id: str, status: str) -> JourneySummary:
        return self.store.journeys.set_status(journey_id, status, self.clock())  # type: ignore[arg-type]

    def _definition(self, record: JourneyVersionRecord) -> JourneyDefinition:
        key = (record.journey_id, record.version)
        if key not in self._definitions:
            self._definitions[key] = JourneyDefinition.model_validate(record.definition)
        return self._definitions[key]

    # --- customers and events ------------------------------------------------------------

    def upsert_customer(self, change: CustomerUpsert) -> CustomerProfile:
        return self.store.customers.upsert(change, self.clock())

    async def ingest(self, events: list[CustomerEvent]) -> list[IngestResult]:
        """Append events (all or nothing), then start and signal the journeys they concern.

        A duplicate event id is not stored again but is delivered again: runs drop events
        they have seen, so a retried request completes a delivery that failed half-way.
        """
        appended = await asyncio.to_thread(self.store.events.append_many, events, self.clock())
        results = []
        for event, append in zip(events, appended, strict=True):
            deliveries = await self._deliver(event)
            results.append(
                IngestResult(
                    event_id=event.event_id, duplicate=append.duplicate, deliveries=deliveries
                )
            )
        return results

    async def _deliver(self, event: CustomerEvent) -> list[Delivery]:
        deliveries: list[Delivery] = []
        reached: set[str] = set()
        records = await asyncio.to_thread(self.store.journeys.active_latest)
        for record in records:
            journey = self._definition(record)
            if journey.trigger.matches(event.type, event.properties):
                delivery = await self._enter(journey, record.version, event)
                deliveries.append(delivery)
                if delivery.workflow_id and delivery.action != "skipped":
                    reached.add(delivery.workflow_id)
        running = await asyncio.to_thread(self.store.runs.running_for_customer, event.customer_id)
        for run in running:
            if run.workflow_id not in reached:
                reached.add(run.workflow_id)
                deliveries.append(await self._signal(run, event))
        return deliveries

    async def enroll(
        self,
        journey_id: str,
        customer_id: str,
        properties: dict[str, Any] | None = None,
        request_id: str | None = None,
    ) -> Delivery:
        """Put a customer into a journey by hand, as if its trigger had fired now."""

        def check() -> JourneyVersionRecord:
            summary = self.store.journeys.get(journey_id)
            if summary is None:
                raise UnknownJourney(journey_id)
            if summary.status != "active":
                raise JourneyPaused(journey_id)
            if not self.store.customers.exists(customer_id):
                raise UnknownCustomer(customer_id)
            record = self.store.journeys.get_version(journey_id)
            assert record is not None
            return record

        # Off the event loop: the worker that runs this also runs workflow tasks.
        record = await asyncio.to_thread(check)
        journey = self._definition(record)
        event = CustomerEvent(
            event_id=enrollment_event_id(journey_id, customer_id, request_id),
            customer_id=customer_id,
            type="journey_enrolled",
            occurred_at=self.clock(),
            properties={"journey_id": journey_id, **(properties or {})},
        )
        await asyncio.to_thread(self.store.events.append, event, self.clock())
        return await self._enter(journey, record.version, event)

    async def enroll_audience_page(
        self,
        request: EnrollBatch,
        segment: Segment,
        on_start: Callable[[str], None] = lambda _customer: None,
    ) -> AudienceBatch:
        """Enroll the next page of a segment: one transaction for the page, then its starts.

        Members already in the journey (or kept out by its re-entry policy) are filtered by
        the database and get no event and no signal. Runs an earlier attempt of the same run
        key created are started again (signal-with-start is safe on a running run).
        """

        journey_id = request.journey_id

        def enroll_page() -> tuple[JourneyDefinition, AudiencePage] | str:
            summary = self.store.journeys.get(journey_id)
            if summary is None or summary.status != "active":
                return f"journey {'unknown' if summary is None else summary.status}"
            record = self.store.journeys.get_version(journey_id)
            assert record is not None
            journey = self._definition(record)
            if journey.trigger.correlate_on is not None:
                return f"journey {journey_id!r} correlates on {journey.trigger.correlate_on!r}"
            page = AudienceEntries(self.store.engine).enroll_page(
                journey,
                record.version,
                segment,
                request.as_of,
                run_key=request.run_key,
                after=request.after,
                limit=request.limit,
                now=self.clock(),
                new_id=lambda: uuid.uuid4().hex,
                properties={"segment": request.segment, "audience_run": request.run_key},
            )
            return journey, page

        outcome = await asyncio.to_thread(enroll_page)
        if isinstance(outcome, str):
            return AudienceBatch(seen=0, last=None, stopped=outcome)
        journey, page = outcome
        gate = asyncio.Semaphore(CONCURRENT_STARTS)

        async def start(run: Enrollment) -> None:
            async with gate:
                on_start(run.customer_id)
                await self._start(journey, run, page.events[run.entry_id])

        await asyncio.gather(*(start(run) for run in [*page.resumed, *page.entered]))
        return AudienceBatch(
            seen=page.seen,
            last=page.last,
            entered=len(page.entered),
            resumed=len(page.resumed) + page.ended_earlier,
            skipped=page.skipped,
        )

    async def _enter(
        self, journey: JourneyDefinition, version: int, event: CustomerEvent
    ) -> Delivery:
        try:
            key = correlation_key(journey, event)
        except ValueError as exc:
            return Delivery(journey_id=journey.id, action="skipped", reason=str(exc))
        wf_id = workflow_id(journey.id, event.customer_id, key)
        earlier = await asyncio.to_thread(
            self.store.runs.find_by_trigger, journey.id, event.event_id
        )
        if earlier is not None:
            if earlier.status != "running":
                return Delivery(
                    journey_id=journey.id,
                    workflow_id=wf_id,
                    action="skipped",
                    reason="this event already started a run that has ended",
                )
            # Started before, perhaps never reached Temporal: starting again is safe.
            await self._start(journey, earlier, event)
            return Delivery(
                journey_id=journey.id,
                workflow_id=wf_id,
                action="signalled",
                reason="this event started the run before; delivered again",
            )
        history = await asyncio.to_thread(
            self.store.runs.history, journey.id, event.customer_id, key
        )
        decision = decide_entry(journey, history, self.clock())
        if not decision.enter:
            running = next((run for run in history if run.status == "running"), None)
            if running is not None:
                return await self._signal(running, event)
            return Delivery(
                journey_id=journey.id, workflow_id=wf_id, action="skipped", reason=decision.reason
            )
        enrollment = Enrollment(
            entry_id=uuid.uuid4().hex,
            workflow_id=wf_id,
            journey_id=journey.id,
            version=version,
            customer_id=event.customer_id,
            correlation_key=key,
            trigger_event_id=event.event_id,
            entered_at=self.clock(),
        )
        if not await asyncio.to_thread(self.store.runs.enroll, enrollment):
            return Delivery(
                journey_id=journey.id,
                workflow_id=wf_id,
                action="skipped",
                reason="another request enrolled this event first",
            )
        await self._start(journey, enrollment, event)
        return Delivery(
            journey_id=journey.id, workflow_id=wf_id, action="started", reason=decision.reason
        )

    async def _start(
        self, journey: JourneyDefinition, run: Enrollment, event: CustomerEvent
    ) -> None:
        client = await self.client()
        if (journey.id, run.version) not in self._definitions:
            await asyncio.to_thread(self.journey, journey.id, run.version)
        await client.start_workflow(
            JourneyWorkflow.run,
            EnrollCustomer(
                journey=self._definitions[(journey.id, run.version)],
                version=run.version,
                customer_id=run.customer_id,
                entry_id=run.entry_id,
                trigger=event,
            ),
            id=run.workflow_id,
            task_queue=self.task_queue,
            start_signal="customer_event",
            start_signal_args=[event],
            id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
        )

    async def _signal(self, run: Enrollment, event: CustomerEvent) -> Delivery:
        client = await self.client()
        try:
            await client.get_workflow_handle(run.workflow_id).signal(
                JourneyWorkflow.customer_event, event
            )
        except RPCError as exc:
            if exc.status != RPCStatusCode.NOT_FOUND:
                raise
            await asyncio.to_thread(
                self.store.runs.finish,
                run.entry_id,
                RunEnd(
                    workflow_id=run.workflow_id,
                    status="failed",
                    reason="run no longer exists in Temporal",
                    at=self.clock(),
                ),
            )
            return Delivery(
                journey_id=run.journey_id,
                workflow_id=run.workflow_id,
                action="skipped",
                reason="run no longer exists in Temporal",
            )
        return Delivery(journey_id=run.journey_id, workflow_id=run.workflow_id, action="signalled")

    # --- reading -------------------------------------------------------------------------

    def timeline(self, customer_id: str) -> Timeline:
        profile = self.store.customers.get(customer_id)
        if profile is None:
            raise UnknownCustomer(customer_id)
        runs = [
            RunView(run=run, steps=self.store.runs.steps(run.entry_id))
            for run in self.store.runs.for_customer(customer_id)
        ]
        return Timeline(
            profile=profile,
            events=self.store.events.for_customer(customer_id),
            messages=self.store.outbox.for_customer(customer_id),
            runs=runs,
        )

    async def run_status(self, wf_id: str) -> RunSnapshot:
        client = await self.client()
        return await client.get_workflow_handle(wf_id).query(JourneyWorkflow.status)

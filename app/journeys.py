"""The use cases the CLI and the HTTP API share: publish, ingest, enroll, read a timeline.

Front doors validate input and call these; the rules themselves live in domain/ (trigger
matching, re-entry, run ids) and the effects in store/ and Temporal.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError
from temporalio.client import Client
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from app.audit import Auditor
from app.delivery import Deliverer, describe, is_transient
from app.journey_starts import publish_problems
from app.reconcile import ENTRY_MEMO, reconcile_run
from domain.audiences import AudienceBatch, EnrollBatch
from domain.audit import AuditAction
from domain.contracts import EnrollCustomer, RunSnapshot
from domain.customers import CustomerProfile, CustomerUpsert
from domain.entry import KeyTooLong, correlation_key, decide_entry, key_problem, workflow_id
from domain.events import ConflictingEvent, CustomerEvent, LoggedEvent, StoredEvent
from domain.journey import JourneyDefinition
from domain.journey_start import StartJourney, StartOutcome, start_outcome, start_properties
from domain.limits import MAX_WORKFLOW_ID
from domain.listening import listened_event_types
from domain.loader import load_journey_file
from domain.messages import OutboxMessage
from domain.privacy import CustomerErased
from domain.problems import JourneyError
from domain.runs import Enrollment, StepEvent
from domain.segments import Segment
from store.audience_runs import AudienceEntries, AudiencePage
from store.deliveries import DeliveryRecord
from store.errors import UnknownCustomer, UnknownJourney
from store.journeys import JourneySummary, JourneyVersionRecord
from store.store import Store
from workflows.journey import JourneyWorkflow

# Starts in flight per audience page: the server, not the worker, is the limit.
CONCURRENT_STARTS = 32
# How long a request waits for another deliverer that holds its customer.
SETTLE_SECONDS = 10.0


class RefusedEvent(ValueError):
    """An event of a request refused before anything was written: which one, which field."""

    def __init__(self, index: int, field: tuple[str, ...], message: str) -> None:
        super().__init__(message)
        self.index = index
        self.field = field


class JourneyPaused(Exception):
    def __init__(self, journey_id: str) -> None:
        super().__init__(f"journey {journey_id!r} is paused: it takes no new entrants")


class Delivery(BaseModel):
    """What one event did to one journey: started a run, reached a running one, or neither."""

    journey_id: str
    workflow_id: str | None = None
    action: str  # started | signalled | skipped | failed | pending
    reason: str = ""
    # A repeated request (same idempotency key): what the first did, not done again.
    repeated: bool = Field(default=False, exclude=True)


class IngestResult(BaseModel):
    """What accepting an event did: logged at `seq`, and where its delivery stands."""

    event_id: str
    duplicate: bool
    seq: int | None = None
    delivery: Literal["delivered", "pending", "parked"] = Field(
        default="delivered",
        description="delivered: `deliveries` says what it did; pending: logged, and it will "
        "be delivered (Temporal is unreachable now or another deliverer has this customer); "
        "parked: it failed for a reason that will not heal (see GET /events/failed).",
    )
    deliveries: list[Delivery] = Field(default_factory=list)


def _result(
    event_id: str, duplicate: bool, seq: int | None, record: DeliveryRecord | None
) -> IngestResult:
    if record is None:  # logged before deliveries were recorded
        return IngestResult(event_id=event_id, duplicate=duplicate, seq=seq)
    status = {"done": "delivered"}.get(record.status, record.status)
    deliveries = [Delivery.model_validate(d) for d in record.outcome or []]
    return IngestResult(
        event_id=event_id,
        duplicate=duplicate,
        seq=seq,
        delivery=status,
        deliveries=deliveries,
    )


# A journey an event enters, as (version, definition), or what stops it.
Candidate = tuple[int, JourneyDefinition] | Delivery


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
        self.deliverer = Deliverer(store.deliveries, self._deliver_stored, clock=clock)
        self.auditor = Auditor(store, clock)

    async def client(self) -> Client:
        if self._client is None:
            self._client = await self._client_factory()
        return self._client

    # --- journeys ------------------------------------------------------------------------

    def publish(self, path: Path) -> JourneyVersionRecord:
        """Validate a journey file and publish it; an unchanged file keeps its version."""
        journey = load_journey_file(path)
        return self.publish_definition(journey)

    def publish_definition(
        self, journey: JourneyDefinition, together: Sequence[JourneyDefinition] = ()
    ) -> JourneyVersionRecord:
        """Publish a checked journey. Its start steps are checked against the published
        journeys and `together` (those published with it): JourneyError names each problem."""
        source = f"journey {journey.id!r}"
        batch = [(f"journey {j.id!r}", j) for j in together if j.id != journey.id]
        problems = [
            problem
            for problem in publish_problems(self.store, [(source, journey), *batch])
            if problem.file == source
        ]
        if problems:
            raise JourneyError(problems)
        record = self.store.journeys.publish(
            journey.id,
            journey.name,
            journey.category,
            journey.model_dump(mode="json", by_alias=True, exclude_none=True),
            self.clock(),
        )
        if record.created:
            self.auditor.record(None, "journey.publish", journey.id, {"version": record.version})
        return record

    def publish_directory(self, directory: Path) -> list[JourneyVersionRecord]:
        """Publish every journey file of a folder, or none when one has a problem."""
        paths = sorted(directory.glob("*.yaml"))
        journeys = [load_journey_file(path) for path in paths]
        problems = publish_problems(
            self.store, [(str(path), j) for path, j in zip(paths, journeys, strict=True)]
        )
        if problems:
            raise JourneyError(problems)
        return [self.publish_definition(journey, together=journeys) for journey in journeys]

    def journeys(self) -> list[JourneySummary]:
        return self.store.journeys.list()

    def journey(self, journey_id: str, version: int | None = None) -> JourneyDefinition:
        record = self.store.journeys.get_version(journey_id, version)
        if record is None:
            raise UnknownJourney(journey_id)
        return self._definition(record)

    def set_status(
        self, journey_id: str, status: str, *, hold_sends: bool = False
    ) -> JourneySummary:
        """Pause (with `hold_sends`, every run's next send waits too) or resume. A resume
        that ends a hold must release the held runs too: app/journey_pauses.py `resume`."""
        summary = self.store.journeys.set_status(
            journey_id,
            status,  # type: ignore[arg-type]
            self.clock(),
            hold_sends=hold_sends,
        )
        action: AuditAction = "journey.pause" if status == "paused" else "journey.resume"
        details: dict[str, object] = {"status": status}
        if summary.hold_sends:
            details["hold_sends"] = True
        self.auditor.record(None, action, journey_id, details)
        return summary

    def _definition(self, record: JourneyVersionRecord) -> JourneyDefinition:
        key = (record.journey_id, record.version)
        if key not in self._definitions:
            self._definitions[key] = JourneyDefinition.model_validate(record.definition)
        return self._definitions[key]

    # --- customers and events ------------------------------------------------------------

    def upsert_customer(self, change: CustomerUpsert) -> CustomerProfile:
        return self.store.customers.upsert(change, self.clock())

    async def ingest(
        self, events: list[CustomerEvent], *, settle_seconds: float = SETTLE_SECONDS
    ) -> list[IngestResult]:
        """Append events (all or nothing) with their deliveries, then deliver them.

        The append is what accepting means: each fresh event has a pending delivery in the
        same transaction, drained in log order by this request when it can and by every worker
        otherwise. An event id already logged with the same body is not stored again; its
        answer is what its delivery did (or that it is still pending). A different body under
        a logged id is refused (ConflictingEvent) and nothing is written.
        """
        await asyncio.to_thread(self._check_keys, events)
        appended = await asyncio.to_thread(self.store.events.append_many, events, self.clock())
        records = await self._settle([e.customer_id for e in events], events, settle_seconds)
        return [
            _result(event.event_id, append.duplicate, append.seq, records.get(event.event_id))
            for event, append in zip(events, appended, strict=True)
        ]

    def _check_keys(self, events: list[CustomerEvent]) -> None:
        """CustomerErased for the first event of an erased customer; RefusedEvent for the first
        whose correlation value cannot key a run."""
        active = [
            journey
            for record in self.store.journeys.active_latest()
            if (journey := self._load(record)) is not None
        ]
        erased = self.store.privacy.erased_among(e.customer_id for e in events)
        for index, event in enumerate(events):
            if event.customer_id in erased:
                raise CustomerErased(erased[event.customer_id], "its events are")
            problem = key_problem(active, event)
            if problem is not None:
                raise RefusedEvent(index, ("properties", problem.key), str(problem))

    def _load(self, record: JourneyVersionRecord) -> JourneyDefinition | None:
        try:
            return self._definition(record)
        except ValidationError:
            return None

    async def _settle(
        self, customer_ids: list[str], events: list[CustomerEvent], settle_seconds: float
    ) -> dict[str, DeliveryRecord]:
        """Deliver the customers' pending events now; wait a little while another deliverer
        holds one of them; the delivery records of `events` as they stand then."""
        ids = list(dict.fromkeys(e.event_id for e in events))
        waiting = list(dict.fromkeys(customer_ids))
        deadline = time.monotonic() + settle_seconds
        while True:
            waiting = [
                customer_id
                for customer_id in waiting
                if await self.deliverer.deliver_customer(customer_id, respect_backoff=False)
                == "busy"
            ]
            records = await asyncio.to_thread(self.store.deliveries.for_events, ids)
            pending = any(r.status == "pending" for r in records.values())
            if not waiting or not pending or time.monotonic() > deadline:
                return records
            await asyncio.sleep(0.05)

    async def deliver_pending(self) -> int:
        """Deliver what is due for every customer (a worker's drain does this continuously)."""
        return await self.deliverer.drain_once()

    async def _deliver_stored(
        self, record: DeliveryRecord, stored: StoredEvent
    ) -> list[dict[str, Any]]:
        """Deliver one logged event: enter the journeys it triggers, signal the runs reading it.

        A failure that may heal propagates (the delivery is retried, later events wait); one
        that will not is reported per journey as `failed` (the delivery is parked).
        """
        if await asyncio.to_thread(self.store.privacy.get, stored.customer_id) is not None:
            return []  # erased since it was logged: it starts and reaches nothing
        event = CustomerEvent.model_validate(stored.model_dump(exclude={"seq", "received_at"}))
        logged = LoggedEvent(seq=stored.seq, event=event)
        deliveries: list[Delivery] = []
        reached: set[str] = set()

        async def guarded(journey_id: str, action: Awaitable[Delivery]) -> Delivery:
            try:
                return await action
            except Exception as exc:
                if is_transient(exc):
                    raise
                return Delivery(journey_id=journey_id, action="failed", reason=describe(exc))

        candidates, running = await self._targets(record, event)
        for candidate in candidates:
            if isinstance(candidate, Delivery):
                deliveries.append(candidate)
                continue
            version, journey = candidate
            delivery = await guarded(journey.id, self._enter(journey, version, logged))
            deliveries.append(delivery)
            if delivery.workflow_id and delivery.action not in ("skipped", "failed"):
                reached.add(delivery.workflow_id)
        for run in running:
            if run.workflow_id in reached:
                continue
            reached.add(run.workflow_id)
            try:
                definition = await self._pinned(run.journey_id, run.version)
            except (UnknownJourney, ValidationError) as exc:
                deliveries.append(
                    Delivery(journey_id=run.journey_id, action="failed", reason=describe(exc))
                )
                continue
            if event.type not in listened_event_types(definition):
                continue
            deliveries.append(await guarded(run.journey_id, self._signal(run, logged)))
        return [d.model_dump() for d in deliveries]

    async def _targets(
        self, record: DeliveryRecord, event: CustomerEvent
    ) -> tuple[list[Candidate], list[Enrollment]]:
        """The journeys this event enters, as (version, definition) or why one cannot, and the
        customer's running runs (read in one hop off the event loop)."""

        def loaded(
            version_record: JourneyVersionRecord,
        ) -> tuple[int, JourneyDefinition] | Delivery:
            try:
                return version_record.version, self._definition(version_record)
            except ValidationError:
                return Delivery(
                    journey_id=version_record.journey_id,
                    action="failed",
                    reason=f"version {version_record.version} of the journey does not load",
                )

        def candidates() -> list[Candidate]:
            target = record.enroll_journey
            if target is not None:
                summary = self.store.journeys.get(target)
                version_record = self.store.journeys.get_version(target)
                if summary is None or version_record is None:
                    return [Delivery(journey_id=target, action="skipped", reason="journey unknown")]
                if summary.status != "active":
                    return [Delivery(journey_id=target, action="skipped", reason="journey paused")]
                return [loaded(version_record)]
            found = [
                loaded(version_record) for version_record in self.store.journeys.active_latest()
            ]
            return [
                c
                for c in found
                if isinstance(c, Delivery) or c[1].trigger.matches(event.type, event.properties)
            ]

        def both() -> tuple[list[Candidate], list[Enrollment]]:
            return candidates(), self.store.runs.running_for_customer(event.customer_id)

        return await asyncio.to_thread(both)

    async def _pinned(self, journey_id: str, version: int) -> JourneyDefinition:
        """A published version, from the cache when it has been read before (versions never
        change once published)."""
        cached = self._definitions.get((journey_id, version))
        if cached is not None:
            return cached
        return await asyncio.to_thread(self.journey, journey_id, version)

    async def enroll(
        self,
        journey_id: str,
        customer_id: str,
        properties: dict[str, Any] | None = None,
        request_id: str | None = None,
    ) -> Delivery:
        """Put a customer into a journey by hand, as if its trigger had fired now.

        The enrollment is an event in the customer's log, delivered like any other: its entry
        is decided in log order with the customer's other events.
        """

        def check() -> None:
            summary = self.store.journeys.get(journey_id)
            if summary is None:
                raise UnknownJourney(journey_id)
            if summary.status != "active":
                raise JourneyPaused(journey_id)
            if not self.store.customers.exists(customer_id):
                raise UnknownCustomer(customer_id)
            erasure = self.store.privacy.get(customer_id)
            if erasure is not None:
                raise CustomerErased(erasure, "an enrollment is")

        # Off the event loop: the worker that runs this also runs workflow tasks.
        await asyncio.to_thread(check)
        event = CustomerEvent(
            event_id=enrollment_event_id(journey_id, customer_id, request_id),
            customer_id=customer_id,
            type="journey_enrolled",
            occurred_at=self.clock(),
            properties={"journey_id": journey_id, **(properties or {})},
        )
        # The same request id again (a retry, later, perhaps with other properties): the
        # first request's enrollment stands.
        repeated = True
        with contextlib.suppress(ConflictingEvent):
            [appended] = await asyncio.to_thread(
                self.store.events.append_many, [event], self.clock(), None, journey_id
            )
            repeated = appended.duplicate
        if not repeated:
            await asyncio.to_thread(
                self.auditor.record,
                None,
                "enrollment.create",
                f"{journey_id}/{customer_id}",
                {"event_id": event.event_id, "request_id": request_id},
            )
        records = await self._settle([customer_id], [event], SETTLE_SECONDS)
        found = records.get(event.event_id)
        if found is None or found.status == "pending":
            return Delivery(
                journey_id=journey_id,
                action="pending",
                reason="logged; the run starts as soon as Temporal answers",
            )
        for delivery in found.outcome or []:
            if delivery.get("journey_id") == journey_id:
                return Delivery.model_validate({**delivery, "repeated": repeated})
        return Delivery(journey_id=journey_id, action="skipped", reason=found.last_error or "")

    async def start_journey(self, request: StartJourney) -> StartOutcome | None:
        """A `start` step of another run: enroll its customer as `enroll` does (the target's
        pause state and re-entry policy decide, in log order), the event id derived from the
        step's idempotency key, so asking again starts nothing twice. None: logged, not yet
        delivered (ask again)."""
        event_id = enrollment_event_id(
            request.journey_id, request.customer_id, request.idempotency_key
        )
        earlier = await asyncio.to_thread(
            self.store.runs.find_by_trigger, request.journey_id, event_id
        )
        if earlier is not None:  # asked before, and it started a run (paused since or not)
            return start_outcome(
                "started", "started by this step", earlier.workflow_id, earlier.version
            )
        try:
            delivery = await self.enroll(
                request.journey_id,
                request.customer_id,
                start_properties(request),
                request_id=request.idempotency_key,
            )
        except UnknownJourney:
            return start_outcome("skipped", "journey unknown", None)
        except JourneyPaused:
            return start_outcome("skipped", "journey paused", None)
        except (UnknownCustomer, CustomerErased) as exc:
            return start_outcome("skipped", str(exc), None)
        if delivery.action == "pending":
            return None
        version = None
        if delivery.action == "started":
            run = await asyncio.to_thread(
                self.store.runs.find_by_trigger, request.journey_id, event_id
            )
            version = run.version if run is not None else None
        return start_outcome(delivery.action, delivery.reason, delivery.workflow_id, version)

    async def enroll_audience_page(
        self,
        request: EnrollBatch,
        segment: Segment,
        on_start: Callable[[str], None] = lambda _customer: None,
    ) -> AudienceBatch:
        """Enroll the next page of a segment: one transaction for the page, then its starts.

        Members already in the journey (or kept out by its re-entry policy) are filtered by
        the database and get no event and no signal. Runs an earlier attempt of the same run
        key created are started again (a run already running is left as it is).
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
                await self._start(journey, run, page.events[run.entry_id], seq=None, catch_up=True)

        await asyncio.gather(*(start(run) for run in [*page.resumed, *page.entered]))
        return AudienceBatch(
            seen=page.seen,
            last=page.last,
            entered=len(page.entered),
            resumed=len(page.resumed) + page.ended_earlier,
            skipped=page.skipped,
        )

    async def _enter(
        self, journey: JourneyDefinition, version: int, logged: LoggedEvent
    ) -> Delivery:
        event = logged.event
        try:
            key = correlation_key(journey, event)
        except KeyTooLong as exc:  # logged by a path that did not check (an import): parked
            return Delivery(journey_id=journey.id, action="failed", reason=str(exc))
        except ValueError as exc:
            return Delivery(journey_id=journey.id, action="skipped", reason=str(exc))
        wf_id = workflow_id(journey.id, event.customer_id, key)
        if len(wf_id) > MAX_WORKFLOW_ID:  # ids stored before they were bounded
            return Delivery(
                journey_id=journey.id,
                action="failed",
                reason=f"the run id would be {len(wf_id)} characters (at most {MAX_WORKFLOW_ID})",
            )

        def decide() -> tuple[Enrollment | None, str, Enrollment | None]:
            """(the run to start or None, why, the running run to signal instead)."""
            earlier = self.store.runs.find_by_trigger(journey.id, event.event_id)
            if earlier is not None:
                if earlier.status != "running":
                    return None, "this event started a run that has ended", None
                # Delivered before, perhaps never reached Temporal: starting again is safe.
                return earlier, "first entry (delivered again)", None
            history = self.store.runs.history(journey.id, event.customer_id, key)
            decision = decide_entry(journey, history, self.clock())
            if not decision.enter:
                running = next((run for run in history if run.status == "running"), None)
                return None, decision.reason, running
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
            if self.store.runs.enroll(enrollment):
                return enrollment, decision.reason, None
            # Another path (an audience page, another process) entered first: one run.
            return None, "already in this journey", self.store.runs.running(wf_id)

        start, reason, running = await asyncio.to_thread(decide)
        if start is not None:
            await self._start(journey, start, event, seq=logged.seq, catch_up=False)
            return Delivery(
                journey_id=journey.id, workflow_id=wf_id, action="started", reason=reason
            )
        if running is not None:
            return await self._signal(running, logged)
        return Delivery(journey_id=journey.id, workflow_id=wf_id, action="skipped", reason=reason)

    async def _start(
        self,
        journey: JourneyDefinition,
        run: Enrollment,
        event: CustomerEvent,
        *,
        seq: int | None,
        catch_up: bool,
    ) -> None:
        """Start the run (or reach it, when it is running already).

        `catch_up`: the run reads the customer's log after its trigger when it starts, for
        runs not started by the ordered delivery (which hands them every later event itself).
        """
        client = await self.client()
        pinned = await self._pinned(journey.id, run.version)
        # A plain start, not signal-with-start: the run holds its trigger from its input (its
        # id and position count as seen), so a start signal carrying it again was a no-op that
        # cost the server an event per run. Running already (an earlier attempt's start, a
        # page done again): that run is this entry's, nothing to do.
        with contextlib.suppress(WorkflowAlreadyStartedError):
            await client.start_workflow(
                JourneyWorkflow.run,
                EnrollCustomer(
                    journey=pinned,
                    version=run.version,
                    customer_id=run.customer_id,
                    entry_id=run.entry_id,
                    trigger=event,
                    trigger_seq=seq,
                    catch_up=catch_up,
                ),
                id=run.workflow_id,
                task_queue=self.task_queue,
                id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
                memo={ENTRY_MEMO: run.entry_id},
            )

    async def _signal(self, run: Enrollment, logged: LoggedEvent) -> Delivery:
        client = await self.client()
        try:
            await client.get_workflow_handle(run.workflow_id).signal(
                JourneyWorkflow.logged_event, logged
            )
        except RPCError as exc:
            if exc.status != RPCStatusCode.NOT_FOUND:
                raise
            # Not evidence that the run ended: ask Temporal what it knows of this entry.
            change = await reconcile_run(self, run)
            return Delivery(
                journey_id=run.journey_id,
                workflow_id=run.workflow_id,
                action="skipped" if change.ended else "signalled",
                reason=change.delivery_note,
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

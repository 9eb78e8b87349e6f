"""What the console's customer and run pages read: thin use cases over store/customer_search.py,
the customer_metrics projection and a run's live status query.

Nothing here changes anything: enrolling, consent and cases go through JourneyService.enroll,
MessagingService.set_consent and CaseService.open, exactly as the API calls them.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import date

from pydantic import ValidationError
from temporalio.client import WorkflowQueryFailedError, WorkflowQueryRejectedError
from temporalio.service import RPCError, RPCStatusCode

from app.journeys import JourneyService
from domain.contracts import RunSnapshot
from domain.customers import CustomerProfile
from domain.privacy import Erasure
from domain.projections import CustomerMetrics
from store.customer_search import (
    KINDS,
    Cursor,
    CustomerPage,
    Entry,
    RunRecord,
    TimelinePage,
    in_flight,
    run_record,
    search,
    timeline,
)
from store.errors import UnknownCustomer, UnknownEnrollment, UnknownJourney
from store.journeys import JourneySummary

# How long a run page waits for the run's own answer before showing the stored trace alone.
LIVE_QUERY_SECONDS = 2.0


def find_customers(
    service: JourneyService, query: str, after: str | None, limit: int = 50
) -> CustomerPage:
    return search(service.store.engine, query.strip(), after, limit)


@dataclass(frozen=True)
class CustomerView:
    profile: CustomerProfile
    erasure: Erasure | None
    metrics: CustomerMetrics | None
    metrics_as_of: date | None
    timeline: TimelinePage
    # The running runs, whatever their place in the timeline.
    in_flight: list[Entry]
    journeys: list[JourneySummary]


def customer_view(
    service: JourneyService,
    customer_id: str,
    before: Cursor | None = None,
    limit: int = 50,
    kinds: tuple[str, ...] = KINDS,
) -> CustomerView:
    """Profile, projection row (as `journeys customers show` reads it, never rebuilt here),
    one timeline page and the journeys one may enroll in; UnknownCustomer if there is none."""
    store = service.store
    profile = store.customers.get(customer_id)
    if profile is None:
        raise UnknownCustomer(customer_id)
    return CustomerView(
        profile=profile,
        erasure=store.privacy.get(customer_id),
        metrics=store.projections.get(customer_id),
        metrics_as_of=store.projections.built_as_of(),
        timeline=timeline(store.engine, customer_id, before, limit, kinds),
        in_flight=in_flight(store.engine, customer_id),
        journeys=[j for j in store.journeys.list() if j.status == "active"],
    )


@dataclass(frozen=True)
class RunPage:
    record: RunRecord
    journey: JourneySummary | None
    snapshot: RunSnapshot | None
    # Why there is no live snapshot: "ended", "timeout", "unreachable" or "" (there is one).
    live_problem: str
    # The step ids of the run's journey version (where an operator may move it).
    step_ids: list[str]


async def run_page(service: JourneyService, workflow_id: str) -> RunPage:
    """The stored run and its step records, and what the run itself says (its status query),
    when Temporal answers in time; UnknownEnrollment when no run has this id."""

    def stored() -> tuple[RunRecord | None, JourneySummary | None, list[str]]:
        record = run_record(service.store.engine, workflow_id)
        if record is None:
            return None, None, []
        journey = service.store.journeys.get(record.run.journey_id)
        try:
            definition = service.journey(record.run.journey_id, record.run.version)
            step_ids = [step.id for step in definition.steps]
        except (UnknownJourney, ValidationError):
            step_ids = []
        return record, journey, step_ids

    record, journey, step_ids = await asyncio.to_thread(stored)
    if record is None:
        raise UnknownEnrollment(workflow_id)
    snapshot: RunSnapshot | None = None
    problem = ""
    try:
        async with asyncio.timeout(LIVE_QUERY_SECONDS):
            snapshot = await service.run_status(workflow_id)
    except TimeoutError:
        problem = "timeout"
    except RPCError as exc:
        problem = "ended" if exc.status == RPCStatusCode.NOT_FOUND else "unreachable"
    except (WorkflowQueryFailedError, WorkflowQueryRejectedError):
        problem = "unreachable"
    except RuntimeError:  # no connection to Temporal
        problem = "unreachable"
    if snapshot is not None and snapshot.entry_id != record.run.entry_id:
        snapshot = None  # a newer run under the id than the store knows: show the stored one
        problem = "unreachable"
    return RunPage(
        record=record,
        journey=journey,
        snapshot=snapshot,
        live_problem=problem,
        step_ids=step_ids,
    )

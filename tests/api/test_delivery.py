"""The log drives the runs: what a run sees does not depend on timing, outages or retries.

Over the real API, store (SQLite) and Temporal dev server of tests/api/conftest.py. A race
journey waits for a follow-up event: the run must take the follow-up's path however late the
run itself started.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
import pytest_asyncio
from temporalio.client import Client

from app.journeys import JourneyService
from domain.events import CustomerEvent
from domain.loader import load_journey_text
from domain.runs import Enrollment
from entrypoints.api import create_app
from tests.api.conftest import (
    API_KEY,
    MAX_BATCH_EVENTS,
    MAX_REQUEST_BYTES,
    SURVEY_LINKS,
    Stack,
    event,
    eventually,
    new_customer,
)

RACE = """
id: race_path
name: Race path
category: transactional
trigger: {event: race_started}
templates:
  found: {subject: "follow-up seen", text: "x"}
  missed: {subject: "follow-up missed", text: "x"}
steps:
  - id: follow
    wait_for: {event: race_follow_up, timeout: 20s}
    on_timeout: missed
  - {id: found, send: {channel: email, template: found}}
  - {id: done, end: {reason: saw the follow-up}}
  - {id: missed, send: {channel: email, template: missed}}
"""

LONG_KEY = """
id: long_key
name: Correlates on a long value
category: transactional
trigger: {event: long_key_started, correlate_on: ref}
templates:
  note: {subject: "note", text: "x"}
steps:
  - {id: note, send: {channel: email, template: note}}
"""


@pytest.fixture(scope="module", autouse=True)
def published(stack: Stack) -> None:
    stack.service.publish_definition(load_journey_text(RACE))
    stack.service.publish_definition(load_journey_text(LONG_KEY))


async def subjects(stack: Stack, customer_id: str) -> list[str]:
    async def sent() -> list[str] | None:
        mail = [m.subject for m in stack.channel.to(f"{customer_id}@example.com")]
        return mail or None

    return await eventually(sent, timeout=40, what="the race run's email")


def slow_starts(service: JourneyService, seconds: float) -> Callable[[], None]:
    """Make every run start wait `seconds` first (a busy API, a slow Temporal); undo."""
    original = service._start

    async def slowly(*args: Any, **kwargs: Any) -> None:
        await asyncio.sleep(seconds)
        await original(*args, **kwargs)

    service._start = slowly  # type: ignore[method-assign]

    def undo() -> None:
        service._start = original  # type: ignore[method-assign]

    return undo


async def test_a_follow_up_sent_while_the_trigger_is_still_being_delivered_takes_its_path(
    api: httpx.AsyncClient, stack: Stack
) -> None:
    customer_id = await new_customer(api)
    undo = slow_starts(stack.service, 3.0)
    try:
        trigger = asyncio.create_task(api.post("/events", json=event(customer_id, "race_started")))
        await asyncio.sleep(1.0)  # the trigger is logged; its run has not started yet
        follow = await api.post("/events", json=event(customer_id, "race_follow_up"))
        started = await trigger
    finally:
        undo()
    assert started.status_code == 202 and follow.status_code == 202, follow.text
    assert [d["action"] for d in started.json()["deliveries"]] == ["started"]
    assert [d["action"] for d in follow.json()["deliveries"]] == ["signalled"]
    assert await subjects(stack, customer_id) == ["follow-up seen"]
    [run] = stack.store.runs.for_customer(customer_id)
    assert run.status != "failed"


async def test_a_run_started_outside_the_ordered_delivery_reads_what_was_logged_before_it(
    api: httpx.AsyncClient, stack: Stack
) -> None:
    # An audience page writes its runs' rows and events, then starts them; a follow-up logged
    # in between must still reach the run when it starts.
    customer_id = await new_customer(api)
    service = stack.service
    trigger = CustomerEvent.model_validate(event(customer_id, "race_started"))
    record = stack.store.journeys.get_version("race_path")
    assert record is not None
    version = record.version
    stack.store.events.import_events([trigger], trigger.occurred_at)  # logged, not delivered
    run = Enrollment(
        entry_id=f"e-{customer_id}",
        workflow_id=f"journey/race_path/{customer_id}",
        journey_id="race_path",
        version=version,
        customer_id=customer_id,
        trigger_event_id=trigger.event_id,
        entered_at=trigger.occurred_at,
    )
    assert stack.store.runs.enroll(run)
    follow = await api.post("/events", json=event(customer_id, "race_follow_up"))
    assert follow.status_code == 202
    # The row is running but no workflow exists yet: not a failure, the run will read the log.
    [delivery] = follow.json()["deliveries"]
    assert delivery["action"] == "signalled" and "reads this event" in delivery["reason"]
    await service._start(service.journey("race_path"), run, trigger, seq=None, catch_up=True)
    assert await subjects(stack, customer_id) == ["follow-up seen"]


class Outage:
    """A Temporal client factory that can be switched off, as when the server is down."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self.down = False

    async def __call__(self) -> Client:
        if self.down:
            raise RuntimeError("Failed client connect: connection refused (Temporal is down)")
        return self.client


@pytest_asyncio.fixture
async def outage(stack: Stack) -> AsyncIterator[tuple[Outage, JourneyService, httpx.AsyncClient]]:
    switch = Outage(stack.client)
    service = JourneyService(stack.store, switch, stack.task_queue)
    app = create_app(
        service,
        api_key=API_KEY,
        max_request_bytes=MAX_REQUEST_BYTES,
        max_batch_events=MAX_BATCH_EVENTS,
        survey_links=SURVEY_LINKS,
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://api", headers={"X-API-Key": API_KEY}
    ) as client:
        yield switch, service, client


async def test_events_accepted_while_temporal_is_down_reach_their_runs_in_order_afterwards(
    outage: tuple[Outage, JourneyService, httpx.AsyncClient], stack: Stack
) -> None:
    switch, service, api = outage
    customer_id = await new_customer(api)
    switch.down = True
    trigger_body = event(customer_id, "race_started")
    trigger = await api.post("/events", json=trigger_body)
    follow = await api.post("/events", json=event(customer_id, "race_follow_up"))
    # Accepted (logged, delivery pending), not a 5xx; nothing marked failed.
    assert (trigger.status_code, trigger.json()["delivery"]) == (202, "pending"), trigger.text
    assert (follow.status_code, follow.json()["delivery"]) == (202, "pending")
    assert all(r.status == "running" for r in stack.store.runs.for_customer(customer_id))
    # A client retrying the first request while Temporal is still down: same effect.
    retry = await api.post("/events", json=trigger_body)
    assert (retry.status_code, retry.json()["duplicate"]) == (202, True)
    switch.down = False
    await service.deliverer.deliver_customer(customer_id, respect_backoff=False)
    assert await subjects(stack, customer_id) == ["follow-up seen"]
    [run] = stack.store.runs.for_customer(customer_id)
    assert run.status in ("running", "completed")
    records = stack.store.deliveries.for_events(
        [trigger_body["event_id"], follow.json()["event_id"]]
    )
    assert {r.status for r in records.values()} == {"done"}
    again = await api.post("/events", json=trigger_body)
    assert [d["action"] for d in again.json()["deliveries"]] == ["started"]
    assert len(stack.store.runs.for_customer(customer_id)) == 1


async def test_a_correlation_value_too_long_to_key_a_run_is_refused_before_it_is_logged(
    api: httpx.AsyncClient, stack: Stack
) -> None:
    customer_id = await new_customer(api)
    bad = event(customer_id, "long_key_started", ref="x" * 600)
    refused = await api.post("/events", json=bad)
    assert refused.status_code == 422, refused.text
    [detail] = refused.json()["detail"]
    assert detail["loc"] == ["body", "properties", "ref"] and "600 characters" in detail["msg"]
    good = event(customer_id, "page_viewed")
    batch = await api.post("/events/batch", json={"events": [good, bad]})
    assert batch.status_code == 422
    assert batch.json()["detail"][0]["loc"] == ["body", "events", 1, "properties", "ref"]
    assert stack.store.events.for_customer(customer_id) == []  # all or nothing
    assert stack.store.runs.for_customer(customer_id) == []


async def test_an_event_that_cannot_be_delivered_is_parked_and_later_events_go_on(
    api: httpx.AsyncClient, stack: Stack
) -> None:
    customer_id = await new_customer(api)
    # Logged by a path that does not check correlation values (an import, another tool).
    bad = CustomerEvent.model_validate(event(customer_id, "long_key_started", ref="x" * 600))
    stack.store.events.append(bad, bad.occurred_at)
    await stack.service.deliverer.deliver_customer(customer_id)
    [parked] = stack.store.deliveries.parked(customer_id=customer_id)
    assert parked.event_id == bad.event_id and "at most 200 can key a run" in (
        parked.last_error or ""
    )
    [failed] = parked.outcome or []
    assert failed["action"] == "failed"
    good = await api.post("/events", json=event(customer_id, "long_key_started", ref="r-1"))
    assert [d["action"] for d in good.json()["deliveries"]] == ["started"]
    listed = await api.get("/events/failed", params={"customer_id": customer_id})
    assert [r["event_id"] for r in listed.json()] == [bad.event_id]
    assert "can key a run" in listed.json()[0]["last_error"]
    retried = await api.post(f"/events/{bad.event_id}/retry")
    assert (retried.status_code, retried.json()["status"]) == (200, "parked")
    assert (await api.post("/events/nope/retry")).status_code == 404


async def test_readiness_names_what_is_unreachable(
    api: httpx.AsyncClient, outage: tuple[Outage, JourneyService, httpx.AsyncClient]
) -> None:
    ok = await api.get("/health/ready")
    assert (ok.status_code, ok.json()["status"]) == (200, "ready")
    switch, _service, down_api = outage
    switch.down = True
    down = await down_api.get("/health/ready")
    assert down.status_code == 503
    assert down.json()["store"] == "ok" and "unreachable" in down.json()["temporal"]


async def test_reconcile_ends_a_run_that_was_terminated_in_temporal(
    api: httpx.AsyncClient, stack: Stack
) -> None:
    customer_id = await new_customer(api)
    started = await api.post("/events", json=event(customer_id, "race_started"))
    [delivery] = started.json()["deliveries"]
    await stack.client.get_workflow_handle(delivery["workflow_id"]).terminate("by hand")
    drift = await api.post("/runs/reconcile", params={"journey_id": "race_path", "dry_run": True})
    assert delivery["workflow_id"] in [c["workflow_id"] for c in drift.json()]
    assert stack.store.runs.for_customer(customer_id)[0].status == "running"
    fixed = await api.post("/runs/reconcile", params={"journey_id": "race_path"})
    [change] = [c for c in fixed.json() if c["workflow_id"] == delivery["workflow_id"]]
    assert (change["action"], change["temporal_status"]) == ("ended", "terminated")
    [run] = stack.store.runs.for_customer(customer_id)
    assert run.status == "failed" and "terminated" in (run.end_reason or "")
    again = await api.post("/runs/reconcile", params={"journey_id": "race_path"})
    assert delivery["workflow_id"] not in [c["workflow_id"] for c in again.json()]

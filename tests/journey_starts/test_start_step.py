"""A `start` step on a real Temporal dev server with the real activities and store: it enrolls
the customer in another journey through the product's entry path, and the other journey's pause
state and re-entry policy answer, as the step's output."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from activities.journey_start import JourneyStartActivities
from domain.contracts import RunSnapshot
from domain.customers import CustomerUpsert
from domain.events import CustomerEvent
from domain.journey_start import StartJourney
from domain.loader import load_journey_text
from domain.runs import Enrollment
from tests.api.conftest import Stack, eventually

TARGET = """
id: {id}
name: Started by another journey
category: transactional
trigger: {{event: {id}_manual, re_entry: {re_entry}}}
steps:
{steps}
"""
HOLD = "  - {id: hold, wait: {for: 30d}}"
END_AT_ONCE = "  - {id: done, end: done}"
STARTER = """
id: {id}
name: Starts another journey
category: transactional
trigger: {{event: {id}_due, re_entry: always}}
steps:
  - id: hand_over
    start:
      journey: {target}
      properties: {{order_id: "{{{{ trigger.order_id }}}}", source: starter}}
  - id: route
    branch:
      - {{when: "steps.hand_over.status == 'started'", goto: started}}
      - {{else: not_started}}
  - {{id: started, end: handed over}}
  - {{id: not_started, end: not handed over}}
"""


def journeys(stack: Stack, *, re_entry: str = "always", steps: str = HOLD) -> tuple[str, str]:
    """A fresh target and starter journey, published; their ids."""
    suffix = uuid.uuid4().hex[:8]
    target, starter = f"target_{suffix}", f"starter_{suffix}"
    stack.service.publish_definition(
        load_journey_text(TARGET.format(id=target, re_entry=re_entry, steps=steps))
    )
    stack.service.publish_definition(load_journey_text(STARTER.format(id=starter, target=target)))
    return target, starter


def customer(stack: Stack) -> str:
    customer_id = f"c-{uuid.uuid4().hex[:12]}"
    stack.service.upsert_customer(
        CustomerUpsert(customer_id=customer_id, email=f"{customer_id}@example.com")
    )
    return customer_id


async def trigger(stack: Stack, starter: str, customer_id: str, **properties: Any) -> None:
    event = CustomerEvent(
        event_id=f"evt-{uuid.uuid4().hex}",
        customer_id=customer_id,
        type=f"{starter}_due",
        occurred_at=datetime.now(UTC),
        properties=properties,
    )
    await stack.service.ingest([event])


def runs(stack: Stack, journey_id: str, customer_id: str) -> list[Enrollment]:
    return stack.store.runs.history(journey_id, customer_id, None)


async def ended_output(stack: Stack, journey_id: str, customer_id: str) -> dict[str, Any]:
    """The start step's output of the customer's newest run of `journey_id`, once it ended."""

    async def ended() -> Enrollment | None:
        found = runs(stack, journey_id, customer_id)
        return found[-1] if found and found[-1].status != "running" else None

    run = await eventually(ended, what=f"the {journey_id} run to end")
    handle = stack.client.get_workflow_handle(run.workflow_id, run_id=None)
    snapshot = await handle.query("status", result_type=RunSnapshot)
    return snapshot.outputs["hand_over"]


async def test_start_step_enrolls_the_customer_in_the_other_journey_with_its_properties(
    stack: Stack,
) -> None:
    target, starter = journeys(stack)
    customer_id = customer(stack)
    await trigger(stack, starter, customer_id, order_id="A-17")

    output = await ended_output(stack, starter, customer_id)

    assert output["status"] == "started", output
    [started] = runs(stack, target, customer_id)
    assert output["workflow_id"] == started.workflow_id
    assert output["version"] == started.version == 1
    snapshot = await stack.client.get_workflow_handle(started.workflow_id).query(
        "status", result_type=RunSnapshot
    )
    assert snapshot.waiting is not None  # the started run goes on: it waits at its first step
    [event] = [
        e
        for e in stack.store.events.for_customer(customer_id)
        if e.event_id == started.trigger_event_id
    ]
    assert event.type == "journey_enrolled"
    assert event.properties["order_id"] == "A-17"
    assert event.properties["source"] == "starter"
    assert event.properties["started_by_journey"] == starter
    [starter_run] = runs(stack, starter, customer_id)
    assert starter_run.status == "completed"
    steps = stack.store.runs.steps(starter_run.entry_id)
    assert any(s.step_id == "started" for s in steps)  # the branch saw the output


async def test_start_of_a_paused_journey_is_the_steps_outcome_and_enrolls_nothing(
    stack: Stack,
) -> None:
    target, starter = journeys(stack)
    stack.service.set_status(target, "paused")
    customer_id = customer(stack)
    await trigger(stack, starter, customer_id, order_id="A-18")

    output = await ended_output(stack, starter, customer_id)

    assert output["status"] == "paused"
    assert "paused" in output["detail"]
    assert output["workflow_id"] is None
    assert runs(stack, target, customer_id) == []
    logged = [e.type for e in stack.store.events.for_customer(customer_id)]
    assert "journey_enrolled" not in logged


async def test_start_of_a_journey_the_customer_is_in_is_already_and_starts_nothing(
    stack: Stack,
) -> None:
    target, starter = journeys(stack, re_entry="once")
    customer_id = customer(stack)
    await stack.service.enroll(target, customer_id, request_id=uuid.uuid4().hex)
    [already_in] = runs(stack, target, customer_id)

    await trigger(stack, starter, customer_id, order_id="A-19")
    output = await ended_output(stack, starter, customer_id)

    assert output["status"] == "already"
    assert output["detail"] == "already in this journey"
    assert output["workflow_id"] == already_in.workflow_id
    assert [run.entry_id for run in runs(stack, target, customer_id)] == [already_in.entry_id]


async def test_start_refused_by_the_re_entry_policy_is_not_eligible_with_its_reason(
    stack: Stack,
) -> None:
    target, starter = journeys(stack, re_entry="once", steps=END_AT_ONCE)
    customer_id = customer(stack)
    await stack.service.enroll(target, customer_id, request_id=uuid.uuid4().hex)

    async def ended() -> bool:
        return runs(stack, target, customer_id)[0].status == "completed"

    await eventually(ended, what="the first run of the target to end")
    await trigger(stack, starter, customer_id, order_id="A-20")
    output = await ended_output(stack, starter, customer_id)

    assert output["status"] == "not_eligible"
    assert output["detail"].startswith("re_entry once: entered already on")
    assert len(runs(stack, target, customer_id)) == 1


async def test_asking_twice_with_the_same_key_starts_one_run(stack: Stack) -> None:
    target, starter = journeys(stack)
    customer_id = customer(stack)
    start = JourneyStartActivities(stack.service).start_journey
    request = StartJourney(
        journey_id=target,
        customer_id=customer_id,
        properties={"order_id": "A-20"},
        parent_journey_id=starter,
        parent_workflow_id=f"journey/{starter}/{customer_id}",
        parent_entry_id="entry-1",
        step_id="hand_over",
        idempotency_key=f"journey/{starter}/{customer_id}/entry-1/hand_over/1",
        at=datetime.now(UTC),
    )

    first = await start(request)
    second = await start(request)

    assert first.status == second.status == "started"
    assert first.workflow_id == second.workflow_id
    assert len(runs(stack, target, customer_id)) == 1
    enrolled = [
        e for e in stack.store.events.for_customer(customer_id) if e.type == "journey_enrolled"
    ]
    assert len(enrolled) == 1


async def test_start_of_a_journey_never_published_is_missing(stack: Stack) -> None:
    customer_id = customer(stack)
    outcome = await JourneyStartActivities(stack.service).start_journey(
        StartJourney(
            journey_id=f"nowhere_{uuid.uuid4().hex[:8]}",
            customer_id=customer_id,
            parent_journey_id="starter",
            parent_workflow_id=f"journey/starter/{customer_id}",
            parent_entry_id="entry-1",
            step_id="hand_over",
            idempotency_key=f"journey/starter/{customer_id}/entry-1/hand_over/1",
            at=datetime.now(UTC),
        )
    )
    assert outcome.status == "missing"
    assert outcome.workflow_id is None
    assert [e.type for e in stack.store.events.for_customer(customer_id)] == []


async def test_a_retry_after_the_target_was_paused_answers_what_the_first_attempt_did(
    stack: Stack,
) -> None:
    target, starter = journeys(stack)
    customer_id = customer(stack)
    start = JourneyStartActivities(stack.service).start_journey
    request = StartJourney(
        journey_id=target,
        customer_id=customer_id,
        parent_journey_id=starter,
        parent_workflow_id=f"journey/{starter}/{customer_id}",
        parent_entry_id="entry-1",
        step_id="hand_over",
        idempotency_key=f"journey/{starter}/{customer_id}/entry-1/hand_over/1",
        at=datetime.now(UTC),
    )
    first = await start(request)
    stack.service.set_status(target, "paused")

    again = await start(request)

    assert (again.status, again.workflow_id) == ("started", first.workflow_id)
    assert len(runs(stack, target, customer_id)) == 1

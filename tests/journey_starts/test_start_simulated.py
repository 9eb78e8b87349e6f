"""A start step in the stand-in runs of the simulation and the workflow tests: it answers
"started" and enrolls nothing, and the run goes on along its steps."""

from __future__ import annotations

from datetime import UTC, datetime

from temporalio.testing import WorkflowEnvironment

from domain.loader import load_journey_text
from domain.simulation import Behaviour, cohort
from tests.workflows.support import FakeServices, customer_event, enroll, journey_worker
from workers.simulator import simulate

WELCOME = """
id: welcome_then_nurture
name: Welcome, then nurture
category: transactional
trigger: {event: signed_up}
templates:
  hi: {subject: "Hi", text: "Welcome"}
steps:
  - {id: hello, send: {channel: email, template: hi}}
  - id: hand_over
    start: {journey: nurture, properties: {source: "{{ trigger.type }}"}}
  - id: route
    branch:
      - {when: "steps.hand_over.status == 'started'", goto: done}
      - {else: not_started}
  - {id: done, end: handed over}
  - {id: not_started, end: not handed over}
"""


async def test_a_simulated_start_step_answers_started_and_the_run_goes_on() -> None:
    journey = load_journey_text(WELCOME)
    result = await simulate(journey, cohort(3, seed=4), 2, Behaviour(order_per_day=0))
    assert result.runs == {"completed": 3}
    assert result.steps["hand_over"]["completed"] == 3
    assert result.steps["done"]["completed"] == 3
    assert "not_started" not in result.steps


async def test_the_run_asks_for_the_start_with_rendered_properties_and_keeps_the_answer(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    journey = load_journey_text(WELCOME)
    services = FakeServices()
    ada = services.customer()
    async with journey_worker(time_skipping_env, services) as queue:
        trigger = customer_event(ada.customer_id, "signed_up", datetime.now(UTC))
        handle = await enroll(time_skipping_env, queue, journey, trigger)
        outcome = await handle.result()
    [asked] = services.started
    assert asked.journey_id == "nurture"
    assert asked.customer_id == ada.customer_id
    assert asked.properties == {"source": "signed_up"}
    assert asked.parent_journey_id == "welcome_then_nurture"
    assert asked.idempotency_key.startswith(handle.id + "/")
    assert asked.idempotency_key.endswith("/hand_over/1")
    assert outcome.status == "completed"
    steps = {(s.step_id, s.status): s.detail for s in services.steps}
    assert steps[("hand_over", "completed")].startswith("nurture started journey/nurture/")
    assert ("done", "completed") in steps


async def test_properties_that_fail_to_render_fail_the_step_and_the_run_goes_on(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    # The trigger lacks what a property reads (the loader's sample had it): no start is asked
    # for, the step fails with the reason, and the route takes the not-started branch.
    journey = load_journey_text(
        WELCOME.replace("{{ trigger.type }}", "{{ trigger.plan }}").replace(
            "trigger: {event: signed_up}",
            "trigger: {event: signed_up}\nsample: {trigger: {plan: pro}}",
        )
    )
    services = FakeServices()
    ada = services.customer()
    async with journey_worker(time_skipping_env, services) as queue:
        trigger = customer_event(ada.customer_id, "signed_up", datetime.now(UTC))
        outcome = await (await enroll(time_skipping_env, queue, journey, trigger)).result()
    assert services.started == []
    assert (outcome.status, outcome.reason) == ("completed", "not handed over")
    [failed] = [e for e in services.steps if (e.step_id, e.status) == ("hand_over", "failed")]
    assert "properties:" in failed.detail and "plan" in failed.detail

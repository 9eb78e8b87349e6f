"""A step that fails for a reason no retry can heal fails with its reason and ends the run:
never a workflow task that fails forever (a poison run)."""

from __future__ import annotations

from temporalio.testing import WorkflowEnvironment

from domain.journey import JourneyDefinition
from tests.workflows.support import FakeServices, customer_event, enroll, journey_worker

# Built without the loader's checks, as a journey published before they existed might be.
BAD_MATCH = JourneyDefinition.model_validate(
    {
        "id": "bad_match",
        "name": "A wait_for match that cannot render",
        "trigger": {"event": "signed_up"},
        "templates": {"note": {"subject": "Note", "text": "Hello"}},
        "steps": [
            {"id": "hello", "send": {"channel": "email", "template": "note"}},
            {
                "id": "wait",
                "wait_for": {
                    "event": "order_completed",
                    "match": {"order_id": "{{ 1 / 0 }}"},
                    "timeout": "1d",
                },
            },
            {"id": "never", "send": {"channel": "email", "template": "note"}},
        ],
    }
)


async def test_a_wait_for_match_that_fails_to_render_fails_the_step_and_ends_the_run(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    env, services = time_skipping_env, FakeServices()
    customer = services.customer("poison-match")
    async with journey_worker(env, services) as task_queue:
        now = await env.get_current_time()
        trigger = customer_event(customer.customer_id, "signed_up", now)
        outcome = await (await enroll(env, task_queue, BAD_MATCH, trigger)).result()
    assert outcome.status == "failed"
    assert outcome.reason.startswith("wait failed:") and "division by zero" in outcome.reason
    assert services.sent_steps(customer.customer_id) == ["hello"]
    [failed] = [e for e in services.steps if e.step_id == "wait" and e.status == "failed"]
    assert "division by zero" in failed.detail
    assert services.ends[-1].status == "failed"

"""Migration of a run in flight (the `migrate_to` update), on the time-skipping server: a run
waiting in version 1 moves to version 2 at the mapped step, keeps its trigger, outputs and the
time it has already waited, and goes on along version 2's steps; what the run's state does not
allow is refused and changes nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest
from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from domain.contracts import OperationResult, RunOperation
from domain.journey import JourneyDefinition
from domain.loader import load_journey_text
from tests.workflows.support import FakeServices, customer_event, enroll, journey_worker
from workflows.journey import JourneyWorkflow

V1 = """
id: mig_demo
name: Migration demo
category: transactional
trigger: {event: signed_up}
templates:
  hi: {subject: "Hi", text: "Hi"}
  fixed: {subject: "Fixed", text: "Fixed"}
steps:
  - {id: hello, send: {channel: email, template: hi}}
  - {id: pause, wait: {for: 2d}}
  - {id: follow_up, send: {channel: email, template: hi}}
  - id: call
    callback: {queue: support, reason: Check in, due_in: 1d, timeout: 2d}
"""
# Version 2: the pause is 3 days, a new step after it, the follow-up sends the fixed template.
V2 = """
id: mig_demo
name: Migration demo
category: transactional
trigger: {event: signed_up}
templates:
  hi: {subject: "Hi", text: "Hi"}
  fixed: {subject: "Fixed", text: "Fixed"}
steps:
  - {id: hello, send: {channel: email, template: hi}}
  - {id: pause, wait: {for: 3d}}
  - {id: extra, send: {channel: email, template: fixed}}
  - {id: follow_up, send: {channel: email, template: fixed}}
"""
OTHER = V2.replace("id: mig_demo", "id: other_demo")


def _op(journey: JourneyDefinition, version: int, mapping: dict[str, str]) -> RunOperation:
    return RunOperation(
        actor="cli:ops",
        reason="fix the follow-up",
        to_version=version,
        journey=journey,
        mapping=mapping,
    )


async def _refused(handle: object, op: RunOperation) -> str:
    with pytest.raises(WorkflowUpdateFailedError) as raised:
        await handle.execute_update(  # type: ignore[attr-defined]
            JourneyWorkflow.migrate_to, op, result_type=OperationResult
        )
    cause = raised.value.cause
    assert isinstance(cause, ApplicationError) and cause.type == "RunOperationRefused"
    return cause.message


async def test_a_waiting_run_moves_to_the_new_version_keeping_the_time_it_has_waited(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    env, services = time_skipping_env, FakeServices()
    v1, v2 = load_journey_text(V1), load_journey_text(V2)
    async with journey_worker(env, services) as task_queue:
        customer = services.customer("mig")
        started = await env.get_current_time()
        trigger = customer_event(customer.customer_id, "signed_up", started, plan="pro")
        handle = await enroll(env, task_queue, v1, trigger)
        await env.sleep(timedelta(days=1))  # a day into v1's two-day pause
        result = await handle.execute_update(
            JourneyWorkflow.migrate_to,
            _op(v2, 2, {"hello": "hello", "pause": "pause", "follow_up": "follow_up"}),
            id="mig-1",
            result_type=OperationResult,
        )
        assert (result.applied, result.position) == (True, "pause")
        assert result.detail == "moved from version 1 at pause to version 2 at pause"
        status = await handle.query(JourneyWorkflow.status)
        assert (status.version, status.journey_id) == (2, "mig_demo")
        outcome = await handle.result()
        assert outcome.status == "completed"
        # Version 2's steps, with version 2's template, after version 2's pause.
        sent = services.sent_to(customer.customer_id)
        assert [(s.step_id, s.version, s.template_name) for s in sent] == [
            ("hello", 1, "hi"),
            ("extra", 2, "fixed"),
            ("follow_up", 2, "fixed"),
        ]
        # Three days from when the pause began, not from the migration a day later.
        entered = next(e for e in services.steps if (e.step_id, e.status) == ("pause", "entered"))
        assert sent[1].requested_at - entered.at < timedelta(days=3, minutes=1)
        assert sent[1].requested_at - entered.at >= timedelta(days=3)
        migrated = next(e for e in services.steps if e.status == "migrated")
        assert migrated.version == 1 and "to version 2 at pause by cli:ops" in migrated.detail
        assert "fix the follow-up" in migrated.detail
        later = [e.version for e in services.steps if e.at > migrated.at]
        assert later and set(later) == {2}
        # The store was told the run's new version with the migration's record.
        assert 2 in services.versions_recorded
        # Its trigger went along (the trigger context of the sends is the first one's).
        assert sent[2].context["trigger"]["plan"] == "pro"


async def test_migrations_the_run_does_not_allow_are_refused_and_change_nothing(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    env, services = time_skipping_env, FakeServices()
    v1, v2 = load_journey_text(V1), load_journey_text(V2)
    async with journey_worker(env, services) as task_queue:
        customer = services.customer("mig-no")
        trigger = customer_event(customer.customer_id, "signed_up", await env.get_current_time())
        handle = await enroll(env, task_queue, v1, trigger)
        await env.sleep(timedelta(hours=1))
        before = await handle.query(JourneyWorkflow.status)
        assert "version 1: migration moves runs to a newer version only" in await _refused(
            handle, _op(v2, 1, {"pause": "pause"})
        )
        assert "runs move between versions of their own journey only" in await _refused(
            handle, _op(load_journey_text(OTHER), 2, {"pause": "pause"})
        )
        assert "step pause has no mapping to version 2: it stays" in await _refused(
            handle, _op(v2, 2, {"hello": "hello"})
        )
        missing = await _refused(handle, _op(v2, 2, {"pause": "nowhere"}))
        assert "version 2 of journey mig_demo has no step 'nowhere'" in missing
        after = await handle.query(JourneyWorkflow.status)
        assert (after.version, after.position, after.history) == (
            before.version,
            before.position,
            before.history,
        )
        # At a callback (not a timer or an event wait): refused too.
        await env.sleep(timedelta(days=2))
        assert (await handle.query(JourneyWorkflow.status)).position == "call"
        at_call = await _refused(handle, _op(v2, 2, {"call": "follow_up"}))
        assert "only a run waiting on a timer or an event" in at_call
        await handle.terminate("test over")

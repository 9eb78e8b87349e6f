"""Run operations as JourneyWorkflow updates, on the time-skipping server: an operator ends a
run, wakes it, retries its failed send or moves it; each validator refuses what the run's
state does not allow (nothing changes), and each operation is in the run's trace."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from temporalio import activity
from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from domain.contracts import (
    SEND_MESSAGE,
    MessageOutcome,
    OperationResult,
    RunOperation,
    SendMessage,
)
from domain.loader import load_journey_text
from tests.workflows.support import (
    FakeServices,
    JourneyHandle,
    customer_event,
    enroll,
    journey_worker,
)
from workflows.journey import JourneyWorkflow

OPS = load_journey_text(
    """
id: ops_demo
name: Run operations demo
category: transactional
trigger: {event: signed_up}
templates:
  hi: {subject: "Hi", text: "Hi"}
steps:
  - {id: hello, send: {channel: email, template: hi}}
  - {id: pause, wait: {for: 2d}}
  - {id: reply, wait_for: {event: replied, timeout: 3d}, on_timeout: nudge}
  - {id: thanks, send: {channel: email, template: hi}}
  - {id: done, end: replied}
  - {id: nudge, send: {channel: email, template: hi}}
  - id: call
    callback: {queue: support, reason: Check in, due_in: 1d, timeout: 2d}
    on_timeout: done
"""
)
OP = RunOperation(actor="cli:ops", reason="customer asked")


async def _start(
    env: WorkflowEnvironment, task_queue: str, services: FakeServices
) -> JourneyHandle:
    customer = services.customer("ops")
    trigger = customer_event(customer.customer_id, "signed_up", await env.get_current_time())
    handle = await enroll(env, task_queue, OPS, trigger)
    await env.sleep(timedelta(hours=1))
    return handle


async def _refused(handle: JourneyHandle, update: str, op: RunOperation = OP) -> str:
    with pytest.raises(WorkflowUpdateFailedError) as raised:
        await handle.execute_update(update, op, result_type=OperationResult)
    cause = raised.value.cause
    assert isinstance(cause, ApplicationError) and cause.type == "RunOperationRefused"
    return cause.message


def _trace(services: FakeServices) -> list[tuple[str, str]]:
    return [(e.step_id, e.status) for e in services.steps]


async def test_skip_wait_wakes_a_timer_wait_and_the_run_goes_on(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    env, services = time_skipping_env, FakeServices()
    async with journey_worker(env, services) as task_queue:
        handle = await _start(env, task_queue, services)
        result = await handle.execute_update(
            JourneyWorkflow.skip_wait, OP, id="skip-1", result_type=OperationResult
        )
        assert (result.operation, result.applied, result.position) == ("skip_wait", True, "pause")
        status = await handle.query(JourneyWorkflow.status)
        assert (status.position, status.waiting) == ("reply", "event replied")
        assert "skip-1" in status.operations
        skipped = next(e for e in services.steps if e.status == "wait_skipped")
        assert skipped.step_id == "pause"
        assert "cli:ops" in skipped.detail and "customer asked" in skipped.detail
        completed = [e for e in services.steps if (e.step_id, e.status) == ("pause", "completed")]
        assert "an operator skipped the wait" in completed[0].detail
        # The same update id again: answered "already", not skipped a second time.
        again = await handle.execute_update(
            JourneyWorkflow.skip_wait, OP, id="skip-1", result_type=OperationResult
        )
        assert again.applied is True or again.already is True
        assert (await handle.query(JourneyWorkflow.status)).position == "reply"
        await handle.terminate("test over")


async def test_skip_wait_on_a_wait_for_takes_the_timeout_path(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    env, services = time_skipping_env, FakeServices()
    async with journey_worker(env, services) as task_queue:
        handle = await _start(env, task_queue, services)
        await handle.execute_update(JourneyWorkflow.skip_wait, OP, result_type=OperationResult)
        await handle.execute_update(JourneyWorkflow.skip_wait, OP, result_type=OperationResult)
        await env.sleep(timedelta(minutes=1))
        status = await handle.query(JourneyWorkflow.status)
        # reply timed out -> nudge sent -> the callback waits for its outcome
        assert status.position == "call", status
        assert services.sent_steps(services.sent[0].customer_id) == ["hello", "nudge"]
        # skip the callback's wait: as if its timeout ran out (no escalation), to on_timeout
        await handle.execute_update(JourneyWorkflow.skip_wait, OP, result_type=OperationResult)
        outcome = await handle.result()
        assert (outcome.status, outcome.reason) == ("completed", "replied")
        assert [c.status for c in services.closed] == ["expired"]
        assert ("call", "escalated") not in _trace(services)


async def test_move_leaves_the_wait_for_a_step_of_the_same_version(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    env, services = time_skipping_env, FakeServices()
    async with journey_worker(env, services) as task_queue:
        handle = await _start(env, task_queue, services)
        op = OP.model_copy(update={"to": "thanks"})
        result = await handle.execute_update(
            JourneyWorkflow.move_to, op, result_type=OperationResult
        )
        assert (result.applied, result.detail) == (True, "moved from pause to thanks")
        outcome = await handle.result()
        assert (outcome.status, outcome.reason) == ("completed", "replied")
        customer = services.sent[0].customer_id
        assert services.sent_steps(customer) == ["hello", "thanks"]
        moved = next(e for e in services.steps if e.status == "moved")
        assert moved.step_id == "pause" and "moved to thanks by cli:ops" in moved.detail
        assert ("reply", "entered") not in _trace(services)


async def test_end_stops_the_run_as_ended_by_an_operator(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    env, services = time_skipping_env, FakeServices()
    async with journey_worker(env, services) as task_queue:
        handle = await _start(env, task_queue, services)
        result = await handle.execute_update(
            JourneyWorkflow.end_run, OP, result_type=OperationResult
        )
        assert (result.applied, result.status, result.position) == (True, "stopped", None)
        outcome = await handle.result()
        assert outcome.status == "stopped"
        assert outcome.reason == "ended by an operator (cli:ops): customer asked"
        [end] = services.ends
        assert (end.status, end.reason) == ("stopped", outcome.reason)
        assert _trace(services)[-1] == ("pause", "stopped")


async def test_retry_sends_the_failed_step_again_then_goes_on_from_it(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    env, services = time_skipping_env, FakeServices()
    services.send_failures["hello"] = "failed"
    async with journey_worker(env, services) as task_queue:
        handle = await _start(env, task_queue, services)
        assert ("hello", "failed") in _trace(services)
        assert (await handle.query(JourneyWorkflow.status)).position == "pause"
        del services.send_failures["hello"]  # the address was fixed
        result = await handle.execute_update(
            JourneyWorkflow.retry_step, OP, result_type=OperationResult
        )
        assert (result.applied, result.detail) == (True, "left pause to take hello again")
        await env.sleep(timedelta(minutes=1))
        status = await handle.query(JourneyWorkflow.status)
        assert status.position == "pause"
        [sent] = services.sent
        assert sent.step_id == "hello" and sent.idempotency_key.endswith("/hello/2")
        retried = next(e for e in services.steps if e.status == "retried")
        assert retried.step_id == "pause" and "retry of hello by cli:ops" in retried.detail
        # It succeeded: nothing has failed any more.
        assert "nothing to retry" in await _refused(handle, "retry_step")
        await handle.terminate("test over")


async def test_operations_the_run_state_does_not_allow_are_refused_and_change_nothing(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    env, services = time_skipping_env, FakeServices()
    async with journey_worker(env, services) as task_queue:
        handle = await _start(env, task_queue, services)
        before = await handle.query(JourneyWorkflow.status)
        unknown = await _refused(handle, "move_to", OP.model_copy(update={"to": "nowhere"}))
        assert "version 1 of journey ops_demo has no step 'nowhere'" in unknown
        assert "its steps: hello, pause" in unknown
        # a step of another journey (post_purchase's) is no step of this version
        other = await _refused(handle, "move_to", OP.model_copy(update={"to": "ask_csat"}))
        assert "has no step 'ask_csat'" in other
        assert "already at step pause" in await _refused(
            handle, "move_to", OP.model_copy(update={"to": "pause"})
        )
        assert "move needs the step" in await _refused(handle, "move_to")
        assert "nothing to retry" in await _refused(handle, "retry_step")
        after = await handle.query(JourneyWorkflow.status)
        assert (after.position, after.waiting, after.history) == (
            before.position,
            before.waiting,
            before.history,
        )
        assert after.operations == []
        await handle.terminate("test over")


async def test_a_held_message_is_mid_send_and_refuses_all_but_an_end(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    env, services = time_skipping_env, FakeServices()
    services.send_failures["hello"] = "defer_once"  # held an hour (quiet hours)
    async with journey_worker(env, services) as task_queue:
        customer = services.customer("held")
        trigger = customer_event(customer.customer_id, "signed_up", await env.get_current_time())
        handle = await enroll(env, task_queue, OPS, trigger)
        await env.sleep(timedelta(minutes=10))
        status = await handle.query(JourneyWorkflow.status)
        assert status.position == "hello" and (status.waiting or "").startswith("deferred")
        refused = await _refused(handle, "skip_wait")
        assert "holds a message at step hello" in refused and "mid-send" in refused
        assert "mid-send" in await _refused(
            handle, "move_to", OP.model_copy(update={"to": "thanks"})
        )
        result = await handle.execute_update(
            JourneyWorkflow.end_run, OP, result_type=OperationResult
        )
        assert result.status == "stopped"
        outcome = await handle.result()
        assert outcome.status == "stopped"
        assert services.sent == []
        assert _trace(services)[-1] == ("hello", "stopped")


async def test_an_ended_run_takes_no_operation(time_skipping_env: WorkflowEnvironment) -> None:
    env, services = time_skipping_env, FakeServices()
    async with journey_worker(env, services) as task_queue:
        handle = await _start(env, task_queue, services)
        await handle.execute_update(JourneyWorkflow.end_run, OP, result_type=OperationResult)
        await handle.result()
        # Temporal itself refuses: a closed workflow runs no handler (the service turns this
        # into "the run has ended", see tests/api/test_run_operations.py).
        with pytest.raises(RPCError):
            await handle.execute_update(JourneyWorkflow.skip_wait, OP, result_type=OperationResult)


class GatedSends(FakeServices):
    """Sends of step `hello` wait at a gate: the run is mid-send until the test opens it."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = asyncio.Event()
        self.entered = asyncio.Event()

    @activity.defn(name=SEND_MESSAGE)
    async def send_message(self, request: SendMessage) -> MessageOutcome:
        if request.step_id == "hello" and not self.gate.is_set():
            self.entered.set()
            await self.gate.wait()
        return await super().send_message(request)


async def test_mid_send_only_an_end_is_taken_and_it_waits_for_the_send(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    env, services = time_skipping_env, GatedSends()
    async with journey_worker(env, services) as task_queue:
        customer = services.customer("midsend")
        trigger = customer_event(customer.customer_id, "signed_up", await env.get_current_time())
        handle = await enroll(env, task_queue, OPS, trigger)
        await asyncio.wait_for(services.entered.wait(), 10)
        refused = await _refused(handle, "skip_wait")
        assert "the run is not waiting: step hello is in progress" in refused
        assert "not waiting" in await _refused(
            handle, "move_to", OP.model_copy(update={"to": "thanks"})
        )
        ending = asyncio.create_task(
            handle.execute_update(JourneyWorkflow.end_run, OP, result_type=OperationResult)
        )
        await asyncio.sleep(0.5)
        assert not ending.done(), "the end waits for the send in progress"
        services.gate.set()
        result = await asyncio.wait_for(ending, 10)
        assert result.status == "stopped"
        outcome = await handle.result()
        assert outcome.status == "stopped"
        assert services.sent_steps(customer.customer_id) == ["hello"]  # sent once, never cut
        assert _trace(services)[-2:] == [("hello", "completed"), ("hello", "stopped")]


async def test_applied_operations_survive_continue_as_new(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    env, services = time_skipping_env, FakeServices()
    async with journey_worker(env, services) as task_queue:
        customer = services.customer("can")
        trigger = customer_event(customer.customer_id, "signed_up", await env.get_current_time())
        handle = await enroll(env, task_queue, OPS, trigger, max_steps_per_run=2)
        await env.sleep(timedelta(hours=1))
        first = (await handle.describe()).run_id
        await handle.execute_update(
            JourneyWorkflow.skip_wait, OP, id="skip-can", result_type=OperationResult
        )
        await env.sleep(timedelta(minutes=1))
        assert (await handle.describe()).run_id != first, "continued as new after the skip"
        status = await handle.query(JourneyWorkflow.status)
        assert (status.position, status.operations) == ("reply", ["skip-can"])
        # The same operation sent to the new run (a resumed bulk command): not done twice.
        again = await handle.execute_update(
            JourneyWorkflow.skip_wait, OP, id="skip-can", result_type=OperationResult
        )
        assert (again.already, again.applied, again.position) == (True, False, "reply")
        assert (await handle.query(JourneyWorkflow.status)).waiting == "event replied"
        await handle.terminate("test over")

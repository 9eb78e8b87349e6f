"""A simulated run's activity calls are answered by the stand-ins inside its workflow task."""

from __future__ import annotations

import uuid
from datetime import timedelta

from temporalio import activity, workflow
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from domain.contracts import LoadProfile, ProfileSnapshot
from domain.customers import CustomerProfile
from workers.simulator import StandInCalls

TIMEOUT = timedelta(seconds=30)
PROFILE = CustomerProfile(customer_id="c1", email="c1@example.com", attributes={"tier": "a"})


@activity.defn(name="where")
async def where(label: str) -> str:
    return f"{label}: {'worker' if activity.in_activity() else 'workflow task'}"


@activity.defn(name="attempt")
async def attempt(label: str) -> str:
    # activity.info() raises outside an activity: such a call goes the ordinary way.
    return f"{label}: attempt {activity.info().attempt}"


@activity.defn(name="profile")
async def profile(request: LoadProfile) -> ProfileSnapshot:
    return ProfileSnapshot(profile=PROFILE if request.customer_id == "c1" else None)


@workflow.defn(sandboxed=False)
class Calls:
    @workflow.run
    async def run(self) -> list[str]:
        snapshot: ProfileSnapshot = await workflow.execute_local_activity(
            "profile",
            LoadProfile(customer_id="c1"),
            result_type=ProfileSnapshot,
            start_to_close_timeout=TIMEOUT,
        )
        assert snapshot.profile is not None
        snapshot.profile.attributes["tier"] = "changed by the run"
        return [
            await workflow.execute_local_activity(where, "local", start_to_close_timeout=TIMEOUT),
            await workflow.execute_activity(where, "regular", start_to_close_timeout=TIMEOUT),
            await workflow.execute_activity(attempt, "raising", start_to_close_timeout=TIMEOUT),
            type(snapshot).__name__,
        ]


async def test_stand_ins_answer_in_the_workflow_task_and_a_failing_one_goes_the_usual_way(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    queue = f"stand-ins-{uuid.uuid4().hex[:8]}"
    async with Worker(
        time_skipping_env.client,
        task_queue=queue,
        workflows=[Calls],
        activities=[where, attempt, profile],
        interceptors=[StandInCalls([where, attempt, profile])],
        workflow_runner=UnsandboxedWorkflowRunner(),
    ):
        said = await time_skipping_env.client.execute_workflow(
            Calls.run, id=f"calls-{queue}", task_queue=queue
        )
    assert said == [
        "local: workflow task",
        "regular: workflow task",
        "raising: attempt 1",  # run by the worker, as a real activity
        "ProfileSnapshot",  # the type the workflow asked for
    ]
    # The run got its own copy, as it would through the data converter.
    assert PROFILE.attributes == {"tier": "a"}


ASKED: list[int] = []
FAILED_ONCE: list[bool] = []


@activity.defn(name="count")
async def count() -> int:
    ASKED.append(len(ASKED) + 1)
    return ASKED[-1]


@workflow.defn(sandboxed=False)
class FailsOnce:
    @workflow.run
    async def run(self) -> int:
        answer: int = await workflow.execute_local_activity(count, start_to_close_timeout=TIMEOUT)
        if not FAILED_ONCE:  # the task fails once: the worker rebuilds the run from history
            FAILED_ONCE.append(True)
            raise RuntimeError("the workflow task fails once")
        return answer


async def test_a_replayed_run_gets_the_answers_it_had(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    queue = f"replayed-{uuid.uuid4().hex[:8]}"
    async with Worker(
        time_skipping_env.client,
        task_queue=queue,
        workflows=[FailsOnce],
        activities=[count],
        interceptors=[StandInCalls([count])],
        workflow_runner=UnsandboxedWorkflowRunner(),
    ):
        answer = await time_skipping_env.client.execute_workflow(
            FailsOnce.run, id=f"fails-once-{queue}", task_queue=queue
        )
    assert FAILED_ONCE == [True]
    assert answer == 1 and ASKED == [1]  # asked once, not again on the replay

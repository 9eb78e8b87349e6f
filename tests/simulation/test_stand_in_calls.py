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

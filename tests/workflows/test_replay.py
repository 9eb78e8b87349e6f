"""Replay the recorded history of every built-in journey against today's JourneyWorkflow.

A change to the workflow that would break runs already in flight (a command added, removed or
reordered without `workflow.patched`) makes these fail. Record the histories with
`python -m scripts.record_histories`.
"""

from __future__ import annotations

import pytest
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from tests.workflows.support import HISTORIES_DIR, JOURNEYS_DIR, built_in, replay_workflow_id
from workflows.journey import JourneyWorkflow
from workflows.sandbox import workflow_runner

BUILT_IN = sorted(path.stem for path in JOURNEYS_DIR.glob("*.yaml"))


def recorded(journey_id: str) -> WorkflowHistory:
    path = HISTORIES_DIR / f"{journey_id}.json"
    assert path.exists(), f"no recorded history for {journey_id}: run scripts/record_histories.py"
    workflow_id = replay_workflow_id(built_in(journey_id))
    return WorkflowHistory.from_json(workflow_id, path.read_text(encoding="utf-8"))


@pytest.mark.parametrize("journey_id", BUILT_IN)
async def test_the_recorded_history_of_a_built_in_journey_replays(journey_id: str) -> None:
    history = recorded(journey_id)
    replayer = Replayer(
        workflows=[JourneyWorkflow],
        data_converter=pydantic_data_converter,
        workflow_runner=workflow_runner(),
    )
    result = await replayer.replay_workflow(history)
    assert result.replay_failure is None
    assert len(history.events) > 20, "a representative path, not a stub"

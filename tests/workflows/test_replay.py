"""Replay the recorded history of every built-in journey against today's JourneyWorkflow.

A change to the workflow that would break runs already in flight (a command added, removed or
reordered without `workflow.patched`) makes these fail. Record the histories with
`python -m scripts.record_histories`.
"""

from __future__ import annotations

import json

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from tests.workflows.support import HISTORIES_DIR, JOURNEYS_DIR, built_in, replay_workflow_id
from workers.data_converter import DATA_CONVERTER
from workflows.journey import JourneyWorkflow
from workflows.patches import LIVE
from workflows.sandbox import workflow_runner

BUILT_IN = sorted(path.stem for path in JOURNEYS_DIR.glob("*.yaml"))
# Histories of particular behaviour: the activities the run scheduled, proving the path.
# (Their patches were folded on 2026-12-01; a live patch names itself in workflows/patches.py.)
BEHAVIOURS = {
    "send_gives_up": ["send_message", "abandon_message", "send_message"],
    "survey_held": ["create_survey", "send_message", "create_survey", "send_message"],
    "call_back_later": ["create_callback", "escalate_callback"],
    "callback_expires": ["create_callback", "escalate_callback", "close_callback"],
    # the welcome fails, is retried and sent; the move to thanks sends it
    "run_operations": ["send_message", "send_message", "send_message"],
    "run_end": ["send_message"],
    # migrated mid-pause to a version with a new step: the welcome, then that step's send
    "run_migration": ["send_message", "send_message"],
    # the welcome, then the start of another journey; its answer routes the run to the wait
    "start_step": ["send_message", "start_journey"],
}
# Histories of runs that took run operations: the updates they accepted, in order.
UPDATES = {
    "run_operations": ["retry_step", "skip_wait", "move_to"],
    "run_end": ["end_run"],
    "run_migration": ["migrate_to"],
}


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
        data_converter=DATA_CONVERTER,
        workflow_runner=workflow_runner(),
    )
    result = await replayer.replay_workflow(history)
    assert result.replay_failure is None
    assert len(history.events) > 20, "a representative path, not a stub"


def _patches_and_activities(history: WorkflowHistory) -> tuple[list[str], list[str]]:
    patches, activities = [], []
    for event in history.events:
        if event.event_type == EventType.EVENT_TYPE_MARKER_RECORDED:
            details = event.marker_recorded_event_attributes.details.get("patch-data")
            if details is not None:
                patches.append(json.loads(details.payloads[0].data)["id"])
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            attributes = event.activity_task_scheduled_event_attributes
            activities.append(attributes.activity_type.name)
    return patches, activities


@pytest.mark.parametrize("name", sorted(BEHAVIOURS))
async def test_the_recorded_history_of_a_patched_behaviour_replays(name: str) -> None:
    path = HISTORIES_DIR / f"behaviour_{name}.json"
    assert path.exists(), f"no recorded history for {name}: run scripts/record_histories.py {name}"
    history = WorkflowHistory.from_json(f"behaviour/{name}", path.read_text(encoding="utf-8"))
    scheduled = BEHAVIOURS[name]
    patches, activities = _patches_and_activities(history)
    assert activities == scheduled, "the history shows the behaviour"
    assert set(patches) <= set(LIVE), "every patch marker in a history is in the ledger"
    replayer = Replayer(
        workflows=[JourneyWorkflow],
        data_converter=DATA_CONVERTER,
        workflow_runner=workflow_runner(),
    )
    result = await replayer.replay_workflow(history)
    assert result.replay_failure is None


@pytest.mark.parametrize("name", sorted(UPDATES))
async def test_a_recorded_run_that_took_run_operations_shows_them_and_replays(name: str) -> None:
    path = HISTORIES_DIR / f"behaviour_{name}.json"
    history = WorkflowHistory.from_json(f"behaviour/{name}", path.read_text(encoding="utf-8"))
    accepted = [
        event.workflow_execution_update_accepted_event_attributes.accepted_request.input.name
        for event in history.events
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED
    ]
    assert accepted == UPDATES[name]
    replayer = Replayer(
        workflows=[JourneyWorkflow],
        data_converter=DATA_CONVERTER,
        workflow_runner=workflow_runner(),
    )
    assert (await replayer.replay_workflow(history)).replay_failure is None

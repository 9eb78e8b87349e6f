"""Replay a recorded complaint case against today's CaseWorkflow, so a change that would break
cases in flight (a command added or reordered without `workflow.patched`) fails here.

Both histories follow an urgent case that breaches its first-response SLA, is answered,
resolved, reopened, resolved again and closed. tests/cases/histories/case.json was recorded
before automatic assignment existed (without a roster it adds no command, so it still
replays); case_assigned.json with a support roster, re-recorded when the auto-assign patch was
folded (2026-12-01; workflows/patches.py). Record the second again only on purpose (the first
cannot be: it is the code of the past):

    python -m tests.cases.test_case_replay
"""

from __future__ import annotations

import asyncio
import tempfile
from datetime import timedelta
from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from domain.cases import Reopen, Resolve, Respond
from workers.data_converter import DATA_CONVERTER
from workflows.case import CaseWorkflow
from workflows.sandbox import workflow_runner

HISTORIES = Path(__file__).with_name("histories")
WORKFLOW_ID = "case/cs-replay"


@pytest.mark.parametrize("recorded", ["case", "case_assigned"])
async def test_a_recorded_case_replays_before_and_after_automatic_assignment(
    recorded: str,
) -> None:
    path = HISTORIES / f"{recorded}.json"
    history = WorkflowHistory.from_json(WORKFLOW_ID, path.read_text(encoding="utf-8"))
    replayer = Replayer(
        workflows=[CaseWorkflow],
        data_converter=DATA_CONVERTER,
        workflow_runner=workflow_runner(),
    )
    result = await replayer.replay_workflow(history)
    assert result.replay_failure is None
    assert len(history.events) > 40, "a representative case, not a stub"


async def _record() -> None:
    from app.journeys import JourneyService
    from domain.cases import StartCase
    from domain.customers import CustomerUpsert
    from store.store import Store
    from tests.api.conftest import RecordingChannel
    from tests.cases.conftest import complaint
    from tests.conftest import time_skipping_server
    from tests.workflows.support import server_clock
    from workers.worker import activities_for, build_worker

    with tempfile.TemporaryDirectory() as tmp:
        store = Store.open(f"sqlite:///{tmp}/store.db")
        async with time_skipping_server() as env:

            async def client() -> object:
                return env.client

            service = JourneyService(store, client, "case-replay")
            now = await env.get_current_time()
            store.customers.upsert(CustomerUpsert(customer_id="ada", email="ada@example.com"), now)
            activities = activities_for(
                store, {"email": RecordingChannel()}, server_clock, journeys=service
            )
            async with build_worker(env.client, "case-replay", activities):
                handle = await env.client.start_workflow(
                    CaseWorkflow.run,
                    StartCase(
                        case_id="cs-replay", request=complaint("urgent"), roster=["lin", "mo"]
                    ),
                    id=WORKFLOW_ID,
                    task_queue="case-replay",
                )
                await env.sleep(timedelta(hours=2))
                await handle.execute_update(CaseWorkflow.respond, Respond(text="Sorry", by="lin"))
                resolve = Resolve(resolution="Replaced", by="lin")
                await handle.execute_update(CaseWorkflow.resolve, resolve)
                await env.sleep(timedelta(days=1))
                await handle.execute_update(CaseWorkflow.reopen, Reopen(reason="No", by="lin"))
                await handle.execute_update(CaseWorkflow.resolve, resolve)
                await handle.result()
                history = (await handle.fetch_history()).to_json()
                (HISTORIES / "case_assigned.json").write_text(history, encoding="utf-8")
        store.close()


if __name__ == "__main__":
    asyncio.run(_record())

"""Record one history of every built-in journey for the replay tests.

Each journey runs along a representative path on the time-skipping test server, with the
activities replaced by the recording fakes of the workflow tests, and its history is written to
tests/histories/<journey>.json. The replay tests (tests/workflows/test_replay.py) replay them,
so a change to JourneyWorkflow that would break runs in flight fails the suite.

Record again only on purpose: when the journeys or the workflow input change in a way that
in-flight runs never see (a new journey version), not to make a failing replay pass.

    python -m scripts.record_histories [--out tests/histories] [journey ...]
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from domain.journey import JourneyDefinition
from tests.workflows.support import (
    HISTORIES_DIR,
    REPLAY_CUSTOMER_ID,
    REPLAY_ORDER_ID,
    FakeServices,
    JourneyHandle,
    built_in,
    customer_event,
    enroll,
    journey_worker,
    replay_workflow_id,
)
from workers.binaries import temporal_test_server

Scenario = Callable[
    [WorkflowEnvironment, str, JourneyDefinition, FakeServices], Awaitable[JourneyHandle]
]


async def _signal(
    env: WorkflowEnvironment, handle: JourneyHandle, type_: str, event_id: str, **properties: Any
) -> None:
    now = await env.get_current_time()
    event = customer_event(REPLAY_CUSTOMER_ID, type_, now, event_id=event_id, **properties)
    await handle.signal("customer_event", event)


async def _start(
    env: WorkflowEnvironment, task_queue: str, journey: JourneyDefinition, **properties: Any
) -> JourneyHandle:
    now = await env.get_current_time()
    trigger = customer_event(
        REPLAY_CUSTOMER_ID, journey.trigger.event, now, event_id="evt-trigger", **properties
    )
    return await enroll(env, task_queue, journey, trigger, entry_id=f"entry-{journey.id}")


async def onboarding(
    env: WorkflowEnvironment, task_queue: str, journey: JourneyDefinition, _: FakeServices
) -> JourneyHandle:
    """A business customer who completes the profile on day 3 and never orders."""
    handle = await _start(env, task_queue, journey)
    await env.sleep(timedelta(days=3))
    await _signal(env, handle, "profile_completed", "evt-profile")
    return handle


async def nurture(
    env: WorkflowEnvironment, task_queue: str, journey: JourneyDefinition, _: FakeServices
) -> JourneyHandle:
    """A lead who browses on day 1 (no goal) and never orders."""
    handle = await _start(env, task_queue, journey, source="webinar")
    await env.sleep(timedelta(days=1))
    await _signal(env, handle, "page_viewed", "evt-page", path="/pricing")
    return handle


async def post_purchase(
    env: WorkflowEnvironment, task_queue: str, journey: JourneyDefinition, _: FakeServices
) -> JourneyHandle:
    """Another order refunded on day 1; this one delivered late, on day 12."""
    handle = await _start(env, task_queue, journey, order_id=REPLAY_ORDER_ID)
    await env.sleep(timedelta(days=1))
    await _signal(env, handle, "order_refunded", "evt-other-refund", order_id="o-other")
    await env.sleep(timedelta(days=11))
    await _signal(env, handle, "order_delivered", "evt-delivered", order_id=REPLAY_ORDER_ID)
    return handle


async def win_back(
    env: WorkflowEnvironment, task_queue: str, journey: JourneyDefinition, _: FakeServices
) -> JourneyHandle:
    """A high-value customer who gets all three offers and does not come back."""
    return await _start(env, task_queue, journey)


async def enrolled(
    env: WorkflowEnvironment, task_queue: str, journey: JourneyDefinition, _: FakeServices
) -> JourneyHandle:
    """A segment member enrolled by the daily audience run who walks every step."""
    return await _start(env, task_queue, journey)


async def complaint_recovery(
    env: WorkflowEnvironment, task_queue: str, journey: JourneyDefinition, fakes: FakeServices
) -> JourneyHandle:
    """A resolved case rated 1; a manager reaches the customer on the callback."""
    handle = await _start(env, task_queue, journey, case_id=REPLAY_ORDER_ID, category="delivery")
    await env.sleep(timedelta(days=2))
    [survey] = fakes.surveys
    await _signal(env, handle, "survey_answered", "evt-csat", survey_id=survey.survey_id, score=1)
    await env.sleep(timedelta(hours=3))
    [task] = fakes.callbacks
    await _signal(
        env, handle, "callback_completed", "evt-call", task_id=task.task_id, outcome="reached"
    )
    return handle


async def detractor_recovery(
    env: WorkflowEnvironment, task_queue: str, journey: JourneyDefinition, _: FakeServices
) -> JourneyHandle:
    """An NPS detractor whose callback nobody takes: escalated when due, then the timeout."""
    return await _start(env, task_queue, journey, survey_id=REPLAY_ORDER_ID, score=3, kind="nps")


SCENARIOS: dict[str, tuple[Scenario, dict[str, object]]] = {
    "onboarding": (onboarding, {"timezone": "America/New_York", "plan": "business"}),
    "nurture": (nurture, {"timezone": "Asia/Shanghai"}),
    "post_purchase": (post_purchase, {"timezone": "Europe/Berlin"}),
    "win_back": (win_back, {"timezone": "America/Sao_Paulo", "value_tier": "high"}),
    "vip_care": (enrolled, {"timezone": "Europe/Berlin"}),
    "birthday": (enrolled, {"timezone": "Asia/Tokyo", "birthday": "1990-06-30"}),
    "signup_anniversary": (enrolled, {"timezone": "America/New_York"}),
    "complaint_recovery": (complaint_recovery, {"timezone": "Europe/Paris"}),
    "detractor_recovery": (detractor_recovery, {"timezone": "UTC"}),
}


async def record(journey_id: str, out: Path) -> Path:
    scenario, profile = SCENARIOS[journey_id]
    journey = built_in(journey_id)
    timezone = str(profile["timezone"])
    attributes = {k: v for k, v in profile.items() if k != "timezone"}
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=pydantic_data_converter,
        test_server_existing_path=temporal_test_server(),
    )
    try:
        services = FakeServices()
        services.customer(customer_id=REPLAY_CUSTOMER_ID, timezone=timezone, attributes=attributes)
        async with journey_worker(env, services) as task_queue:
            handle = await scenario(env, task_queue, journey, services)
            assert handle.id == replay_workflow_id(journey)
            outcome = await handle.result()
            history = await handle.fetch_history()
    finally:
        await env.shutdown()
    path = out / f"{journey_id}.json"
    path.write_text(history.to_json(), encoding="utf-8")
    sent = ", ".join(services.sent_steps(REPLAY_CUSTOMER_ID))
    print(f"{path}: {outcome.status} ({outcome.reason}); sent {sent}")
    return path


async def main(journey_ids: list[str], out: Path) -> None:
    for journey_id in journey_ids:
        await record(journey_id, out)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("journeys", nargs="*", help=f"default: all of {', '.join(SCENARIOS)}")
    parser.add_argument("--out", type=Path, default=HISTORIES_DIR)
    args = parser.parse_args()
    if unknown := sorted(set(args.journeys) - set(SCENARIOS)):
        parser.error(f"no scenario for {', '.join(unknown)}")
    args.out.mkdir(parents=True, exist_ok=True)
    asyncio.run(main(args.journeys or list(SCENARIOS), args.out))

"""Record one history of every built-in journey for the replay tests.

Each journey runs along a representative path on the time-skipping test server, with the
activities replaced by the recording fakes of the workflow tests, and its history is written to
tests/histories/<journey>.json. The replay tests (tests/workflows/test_replay.py) replay them,
so a change to JourneyWorkflow that would break runs in flight fails the suite.

Record again only on purpose: when the journeys or the workflow input change in a way that
in-flight runs never see (a new journey version), not to make a failing replay pass.

Besides the built-in journeys, a few small journeys record behaviour added behind
`workflow.patched` (tests/histories/behaviour_<name>.json): a send that runs out of retries, a
survey held by quiet hours, a callback the customer asks to be called back later, a callback
that times out; a start step that enrolls the customer in another journey (`start_step`); and
runs that took run operations (`run_operations`: a retry, a skip-wait and a
move; `run_end`: an operator's end), whose histories hold the updates. Their histories are the
proof that the patched code and the update handlers keep replaying.

    python -m scripts.record_histories [--out tests/histories] [journey or behaviour ...]
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from temporalio.testing import WorkflowEnvironment

from domain.contracts import OperationResult, RunOperation
from domain.journey import JourneyDefinition
from domain.loader import load_journey_text
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
from workers.data_converter import DATA_CONVERTER

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


BEHAVIOUR_JOURNEY = """
id: behaviour_{name}
name: Patched behaviour {name}
category: transactional
trigger: {{event: signed_up}}
templates:
  hi: {{subject: "Hi", text: "Hi"}}
  ask: {{subject: "How did we do?", text: "{{{{ survey.url }}}}"}}
steps:
{steps}
"""
OPERATED_STEPS = """  - {id: hello, send: {channel: email, template: hi}}
  - {id: pause, wait: {for: 2d}}
  - {id: reply, wait_for: {event: replied, timeout: 3d}, on_timeout: nudge}
  - {id: thanks, send: {channel: email, template: hi}}
  - {id: done, end: replied}
  - {id: nudge, send: {channel: email, template: hi}}
"""
BEHAVIOUR_STEPS = {
    "send_gives_up": """  - {id: text, send: {channel: sms, template: hi, on_failure: by_mail}}
  - {id: done, end: texted}
  - {id: by_mail, send: {channel: email, template: hi}}
""",
    "survey_held": """  - {id: ask, survey: {kind: csat, template: ask, timeout: 2d}}
  - {id: done, end: asked}
""",
    "call_back_later": """  - id: call
    callback: {queue: support, reason: Check in, due_in: 1d, timeout: 2d}
  - {id: done, end: called}
""",
    "callback_expires": """  - id: call
    callback: {queue: support, reason: Check in, due_in: 1d, timeout: 2d}
    on_timeout: done
  - {id: done, end: called}
""",
    "run_operations": OPERATED_STEPS,
    "run_end": OPERATED_STEPS,
    "run_migration": OPERATED_STEPS,
    "start_step": """  - {id: hello, send: {channel: email, template: hi}}
  - id: hand_over
    start: {journey: nurture, properties: {source: "{{ trigger.type }}"}}
  - id: route
    branch:
      - {when: "steps.hand_over.status == 'started'", goto: settle}
      - {else: done}
  - {id: settle, wait: {for: 1d}}
  - {id: done, end: handed over}
""",
}


def behaviour_journey(name: str) -> JourneyDefinition:
    return load_journey_text(BEHAVIOUR_JOURNEY.format(name=name, steps=BEHAVIOUR_STEPS[name]))


async def send_gives_up(
    env: WorkflowEnvironment, task_queue: str, journey: JourneyDefinition, fakes: FakeServices
) -> JourneyHandle:
    """Every SMS attempt errors until the retries run out; the run goes on to by_mail."""
    fakes.send_failures["text"] = "error"
    return await _start(env, task_queue, journey)


async def survey_held(
    env: WorkflowEnvironment, task_queue: str, journey: JourneyDefinition, fakes: FakeServices
) -> JourneyHandle:
    """The survey message is deferred an hour (quiet hours), then sent and answered 5."""
    fakes.send_failures["ask"] = "defer_once"
    handle = await _start(env, task_queue, journey)
    await env.sleep(timedelta(hours=2))
    survey = fakes.surveys[-1]  # created, then refreshed when the hold ended: the same survey
    await _signal(env, handle, "survey_answered", "evt-csat", survey_id=survey.survey_id, score=5)
    return handle


async def call_back_later(
    env: WorkflowEnvironment, task_queue: str, journey: JourneyDefinition, fakes: FakeServices
) -> JourneyHandle:
    """The agent reaches the customer, who asks for a call in two days; then reached."""
    handle = await _start(env, task_queue, journey)
    await env.sleep(timedelta(hours=3))
    [task] = fakes.callbacks
    later = (await env.get_current_time()) + timedelta(days=2)
    await _signal(
        env,
        handle,
        "callback_completed",
        "evt-later",
        task_id=task.task_id,
        outcome="call_back_later",
        call_back_at=later.isoformat(),
        next_task_id=f"{task.task_id}.1",
    )
    await env.sleep(timedelta(days=2, hours=1))
    await _signal(
        env,
        handle,
        "callback_completed",
        "evt-reached",
        task_id=f"{task.task_id}.1",
        outcome="reached",
    )
    return handle


OPERATOR = RunOperation(actor="cli:recorder", reason="recorded for the replay tests")


async def run_operations(
    env: WorkflowEnvironment, task_queue: str, journey: JourneyDefinition, fakes: FakeServices
) -> JourneyHandle:
    """The welcome fails; an operator retries it, skips the 2-day wait, then moves the run
    from the reply wait to thanks (updates of the run, in its history)."""
    fakes.send_failures["hello"] = "failed"
    handle = await _start(env, task_queue, journey)
    await env.sleep(timedelta(hours=1))
    del fakes.send_failures["hello"]
    await handle.execute_update("retry_step", OPERATOR, id="op-retry", result_type=OperationResult)
    await env.sleep(timedelta(hours=1))
    await handle.execute_update("skip_wait", OPERATOR, id="op-skip", result_type=OperationResult)
    await env.sleep(timedelta(hours=1))
    move = OPERATOR.model_copy(update={"to": "thanks"})
    await handle.execute_update("move_to", move, id="op-move", result_type=OperationResult)
    return handle


async def run_end(
    env: WorkflowEnvironment, task_queue: str, journey: JourneyDefinition, _: FakeServices
) -> JourneyHandle:
    """An operator ends the run while it waits: it ends `stopped`."""
    handle = await _start(env, task_queue, journey)
    await env.sleep(timedelta(hours=1))
    await handle.execute_update("end_run", OPERATOR, id="op-end", result_type=OperationResult)
    return handle


MIGRATED_STEPS = """  - {id: hello, send: {channel: email, template: hi}}
  - {id: pause, wait: {for: 3d}}
  - {id: extra, send: {channel: email, template: ask}}
  - {id: done, end: migrated}
"""


async def run_migration(
    env: WorkflowEnvironment, task_queue: str, journey: JourneyDefinition, _: FakeServices
) -> JourneyHandle:
    """A day into the 2-day pause, an operator migrates the run to a version with a 3-day
    pause and a new step: it sends that step two days later and ends."""
    handle = await _start(env, task_queue, journey)
    await env.sleep(timedelta(days=1))
    newer = load_journey_text(BEHAVIOUR_JOURNEY.format(name="run_migration", steps=MIGRATED_STEPS))
    migrate = OPERATOR.model_copy(
        update={"to_version": 2, "journey": newer, "mapping": {"pause": "pause"}}
    )
    await handle.execute_update("migrate_to", migrate, id="op-migrate", result_type=OperationResult)
    return handle


BEHAVIOURS: dict[str, Scenario] = {
    "run_migration": run_migration,
    "run_operations": run_operations,
    "run_end": run_end,
    "send_gives_up": send_gives_up,
    "survey_held": survey_held,
    "call_back_later": call_back_later,
    "callback_expires": enrolled,
    "start_step": enrolled,
}


async def record(journey_id: str, out: Path) -> Path:
    if journey_id in BEHAVIOURS:
        return await _record(
            f"behaviour_{journey_id}",
            behaviour_journey(journey_id),
            BEHAVIOURS[journey_id],
            {"timezone": "UTC"},
            out,
        )
    scenario, profile = SCENARIOS[journey_id]
    return await _record(journey_id, built_in(journey_id), scenario, profile, out)


async def _record(
    name: str,
    journey: JourneyDefinition,
    scenario: Scenario,
    profile: dict[str, object],
    out: Path,
) -> Path:
    timezone = str(profile["timezone"])
    attributes = {k: v for k, v in profile.items() if k != "timezone"}
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=DATA_CONVERTER,
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
    path = out / f"{name}.json"
    path.write_text(history.to_json(), encoding="utf-8")
    sent = ", ".join(services.sent_steps(REPLAY_CUSTOMER_ID))
    print(f"{path}: {outcome.status} ({outcome.reason}); sent {sent}")
    return path


async def main(journey_ids: list[str], out: Path) -> None:
    for journey_id in journey_ids:
        await record(journey_id, out)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    known = [*SCENARIOS, *BEHAVIOURS]
    parser.add_argument("journeys", nargs="*", help=f"default: all of {', '.join(known)}")
    parser.add_argument("--out", type=Path, default=HISTORIES_DIR)
    args = parser.parse_args()
    if unknown := sorted(set(args.journeys) - set(known)):
        parser.error(f"no scenario for {', '.join(unknown)}")
    args.out.mkdir(parents=True, exist_ok=True)
    # Without names: the built-in journeys only; behaviours are recorded by name, once.
    asyncio.run(main(args.journeys or list(SCENARIOS), args.out))

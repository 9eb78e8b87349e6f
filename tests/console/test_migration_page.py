"""The console's migration page: ops sees the plan for moving a journey's runs in flight to a
newer version (nothing changes), then migrates with a reason; the runs move, in both
languages; a support key may not, and a form without the session's token changes nothing."""

from __future__ import annotations

from domain.loader import load_journey_text
from tests.api.conftest import Stack
from tests.console.conftest import ConsoleFactory
from tests.console.test_runs_pages import WAITING, waiting_run

NEWER = """
id: JOURNEY
name: Waiting offer
category: marketing
trigger: {event: never_sent_JOURNEY}
quiet_hours: []
templates:
  offer: {subject: "A better offer", text: "Sale"}
steps:
  - {id: pause, wait: {for: 3h}}
  - {id: reminder, send: {channel: email, template: offer}}
  - {id: offer, send: {channel: email, template: offer}}
"""


async def test_ops_previews_then_migrates_the_runs_in_flight(
    console: ConsoleFactory, console_stack: Stack
) -> None:
    journey_id, _customer, workflow_id = await waiting_run(console_stack)
    assert WAITING.count("JOURNEY") == NEWER.count("JOURNEY")
    console_stack.service.publish_definition(
        load_journey_text(NEWER.replace("JOURNEY", journey_id))
    )
    ops = await console("ops")
    journey = await ops.get(f"/console/journeys/{journey_id}?version=2")
    assert f'href="/console/journeys/{journey_id}/migrate?to=2"' in journey.text
    plan = await ops.get(f"/console/journeys/{journey_id}/migrate?to=2")
    assert plan.status_code == 200, plan.text
    assert "Runs selected: 1. Would move: 1; would stay: 0. Nothing has changed yet." in plan.text
    assert "<code>pause</code>" in plan.text
    [run] = console_stack.store.runs.for_customer(_customer)
    assert run.version == 1

    # A mapping to a step version 2 lacks: the plan says why, nothing changes.
    bad = await ops.get(
        f"/console/journeys/{journey_id}/migrate", params={"to": 2, "map": "pause=nowhere"}
    )
    assert bad.status_code == 200 and "version 2 has no step &#39;nowhere&#39;" in bad.text
    assert 'id="confirm-migrate"' not in bad.text

    # A support key may not migrate; a form without the session's token changes nothing.
    support = await console("support")
    assert (await support.get(f"/console/journeys/{journey_id}/migrate?to=2")).status_code == 403
    forged = await ops.post(
        f"/console/journeys/{journey_id}/migrate", {"to": "2", "reason": "x"}, csrf=False
    )
    assert forged.status_code == 403
    assert console_stack.store.runs.for_customer(_customer)[0].version == 1

    done = await ops.post(
        f"/console/journeys/{journey_id}/migrate", {"to": "2", "map": "", "reason": "new offer"}
    )
    assert done.status_code == 200, done.text
    assert "1 selected: 1 moved, 0 moved before, 0 stayed, 0 refused." in done.text
    [moved] = console_stack.store.runs.for_customer(_customer)
    assert (moved.version, moved.current_step, moved.workflow_id) == (2, "pause", workflow_id)
    audit = console_stack.store.audit.page(action="run.migrate", limit=100).entries
    [entry] = [a for a in audit if a.target == workflow_id]
    assert entry.role == "ops" and entry.details["reason"] == "new offer"

    zh = await console("ops", locale="zh-CN")
    chinese = await zh.get(f"/console/journeys/{journey_id}/migrate?to=2")
    assert "将进行中的运行迁移到版本 2" in chinese.text
    await console_stack.client.get_workflow_handle(workflow_id).terminate("test over")

"""Migration of runs in flight on the real Temporal dev server, over the API and the CLI: runs
waiting in version 1 move to version 2 at the mapped step and go on along version 2's steps
(with its templates); runs at a step version 2 removed stay, with the reason; the store, the
trace and the audit log follow; a dry run and every refused command change nothing."""

from __future__ import annotations

import httpx
import pytest_asyncio

from domain.loader import load_journey_text
from domain.runs import Enrollment
from tests.api.conftest import Stack, event, eventually, journeys, new_customer

JOURNEY = "migrate_api"
V1 = f"""
id: {JOURNEY}
name: Migration over the API
category: transactional
trigger: {{event: migrate_started}}
templates:
  hi: {{subject: "Hi", text: "Hi"}}
  fixed: {{subject: "Fixed follow-up", text: "Fixed"}}
steps:
  - {{id: hello, send: {{channel: email, template: hi}}}}
  - {{id: branch_point, branch: [{{when: "trigger.late == 'yes'", goto: reply}}, {{else: pause}}]}}
  - {{id: pause, wait: {{for: 1h}}}}
  - {{id: follow_up, send: {{channel: email, template: hi}}}}
  - {{id: done, end: done}}
  - {{id: reply, wait_for: {{event: migrate_replied, timeout: 1h}}}}
"""
V2 = f"""
id: {JOURNEY}
name: Migration over the API
category: transactional
trigger: {{event: migrate_started}}
templates:
  hi: {{subject: "Hi", text: "Hi"}}
  fixed: {{subject: "Fixed follow-up", text: "Fixed"}}
steps:
  - {{id: hello, send: {{channel: email, template: hi}}}}
  - {{id: pause, wait: {{for: 1h}}}}
  - {{id: extra, send: {{channel: email, template: fixed}}}}
  - {{id: follow_up, send: {{channel: email, template: fixed}}}}
"""


@pytest_asyncio.fixture(scope="module", autouse=True)
async def published(stack: Stack) -> None:
    stack.service.publish_definition(load_journey_text(V1))


async def _run_at(api: httpx.AsyncClient, stack: Stack, step: str, **props: str) -> Enrollment:
    customer_id = await new_customer(api, prefix="mig")
    response = await api.post("/events", json=event(customer_id, "migrate_started", **props))
    assert response.status_code == 202, response.text

    async def probe() -> Enrollment | None:
        runs = stack.store.runs.for_customer(customer_id)
        return runs[0] if runs and runs[0].current_step == step else None

    return await eventually(probe, what=f"{customer_id} at {step}")


def _runs(stack: Stack) -> list[tuple[str, int, str | None, str]]:
    return sorted(
        (r.entry_id, r.version, r.current_step, r.status)
        for r in stack.store.runs.select_running(JOURNEY)
    )


async def test_runs_mid_wait_move_to_the_new_version_and_go_on_along_its_steps(
    api: httpx.AsyncClient, stack: Stack, cli: None
) -> None:
    waiting = [await _run_at(api, stack, "pause") for _ in range(2)]
    replying = await _run_at(api, stack, "reply", late="yes")
    stack.service.publish_definition(load_journey_text(V2))
    before = _runs(stack)

    # Bad input: each refused naming its field, nothing changes.
    older = await api.post(f"/journeys/{JOURNEY}/migrate", json={"to": 1, "reason": "x"})
    assert older.status_code == 422, older.text
    assert older.json()["detail"][0]["loc"] == ["body", "to"]
    assert "is on version 1 already: nothing to migrate" in older.json()["detail"][0]["msg"]
    missing = await api.post(
        f"/journeys/{JOURNEY}/migrate", json={"to": 2, "reason": "x", "map": {"reply": "gone"}}
    )
    assert missing.status_code == 422 and missing.json()["detail"][0]["loc"] == ["body", "map"]
    assert "version 2 has no step 'gone'" in missing.json()["detail"][0]["msg"]
    unknown_source = await api.post(
        f"/journeys/{JOURNEY}/migrate", json={"to": 2, "reason": "x", "map": {"nope": "pause"}}
    )
    assert unknown_source.status_code == 422, unknown_source.text
    nothing = await api.post(
        f"/journeys/{JOURNEY}/migrate", json={"to": 2, "reason": "x", "step": "follow_up"}
    )
    assert nothing.status_code == 422 and nothing.json()["detail"][0]["loc"] == ["body", "step"]
    no_version = await api.post(f"/journeys/{JOURNEY}/migrate", json={"to": 9, "reason": "x"})
    assert no_version.status_code == 422 and "has no version 9" in no_version.text
    other = await api.post("/journeys/no_such_journey/migrate", json={"to": 2, "reason": "x"})
    assert other.status_code == 404, other.text

    # A dry run: the plan, nothing changed.
    dry = await journeys("migrate", JOURNEY, "--to", "2", "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert "2 would move, 1 would stay; nothing changed" in dry.output
    assert "version 2 has no step reply" in dry.output
    assert _runs(stack) == before

    result = await journeys("migrate", JOURNEY, "--to", "2", "--reason", "fix the follow-up")
    assert result.exit_code == 0, result.output
    assert "3 selected: 2 moved, 0 moved before (skipped), 1 stayed, 0 refused" in result.output
    runs = {r.entry_id: r for r in stack.store.runs.select_running(JOURNEY)}
    for run in waiting:
        assert (runs[run.entry_id].version, runs[run.entry_id].current_step) == (2, "pause")
        trace = [(e.step_id, e.status, e.version) for e in stack.store.runs.steps(run.entry_id)]
        assert ("pause", "migrated", 1) in trace
        audited = stack.store.audit.page(action="run.migrate", limit=100).entries
        [entry] = [a for a in audited if a.target == run.workflow_id]
        assert (entry.details["from_version"], entry.details["to_version"]) == (1, 2)
        assert entry.details["reason"] == "fix the follow-up"
    assert (runs[replying.entry_id].version, runs[replying.entry_id].current_step) == (1, "reply")
    assert not [e for e in stack.store.runs.steps(replying.entry_id) if e.status == "migrated"]

    # Woken, the migrated runs go on along version 2: its new step, its fixed template.
    woke = await api.post(f"/runs/{waiting[0].workflow_id}/skip-wait", json={"reason": "go on now"})
    assert woke.status_code == 200, woke.text

    async def finished() -> Enrollment | None:
        [run] = [r for r in stack.store.runs.for_customer(waiting[0].customer_id)]
        return run if run.status == "completed" else None

    done = await eventually(finished, what="the migrated run completes")
    assert done.version == 2
    sent = stack.store.outbox.for_customer(waiting[0].customer_id)
    assert sorted((m.step_id, m.subject) for m in sent) == [
        ("extra", "Fixed follow-up"),
        ("follow_up", "Fixed follow-up"),
        ("hello", "Hi"),
    ]
    # The same command again: the moved runs are on version 2 now; the other still stays.
    again = await journeys("migrate", JOURNEY, "--to", "2", "--reason", "fix the follow-up")
    assert again.exit_code == 0, again.output
    assert "0 moved" in again.output and "1 stayed" in again.output
    # Runs on versions 1 and 2 now: back to version 1 is refused.
    back = await api.post(f"/journeys/{JOURNEY}/migrate", json={"to": 1, "reason": "x"})
    assert back.status_code == 422 and "newer version only" in back.text, back.text
    for run in [waiting[1], replying]:
        await api.post(f"/runs/{run.workflow_id}/end", json={"reason": "test over"})

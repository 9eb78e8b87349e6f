"""`journeys pause J --hold-sends` on the real Temporal dev server: every run of J waits at its
next send (a deferral in its trace, nothing in the outbox), new entrants are refused as for any
pause, and `resume` releases the held runs at once, with quiet hours applied at release time."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import httpx
import pytest_asyncio

from domain.loader import load_journey_text
from domain.runs import Enrollment
from tests.api.conftest import Stack, event, eventually, journeys, new_customer

HELD = "hold_sends_api"
QUIET = "hold_sends_quiet"


def _definition(journey_id: str, quiet: str = "") -> str:
    return f"""
id: {journey_id}
name: Held sends
category: transactional
trigger: {{event: {journey_id}_started}}
{quiet}
templates:
  hi: {{subject: "Hi", text: "Hi"}}
steps:
  - {{id: pause, wait: {{for: 1h}}}}
  - {{id: hello, send: {{channel: email, template: hi}}}}
  - {{id: later, wait: {{for: 1h}}}}
"""


def _quiet_now() -> str:
    """Quiet hours (UTC customers) from an hour ago to two hours on, for every category."""
    now = datetime.now(UTC)
    start, end = (now - timedelta(hours=1)), (now + timedelta(hours=2))
    window = f'{{start: "{start:%H:%M}", end: "{end:%H:%M}", categories: [transactional]}}'
    return f"quiet_hours:\n  - {window}"


@pytest_asyncio.fixture(scope="module", autouse=True)
async def published(stack: Stack) -> None:
    stack.service.publish_definition(load_journey_text(_definition(HELD)))
    stack.service.publish_definition(load_journey_text(_definition(QUIET, _quiet_now())))


async def _waiting(api: httpx.AsyncClient, stack: Stack, journey_id: str) -> Enrollment:
    customer_id = await new_customer(api, prefix="held", timezone="UTC")
    response = await api.post("/events", json=event(customer_id, f"{journey_id}_started"))
    assert response.status_code == 202, response.text

    async def probe() -> Enrollment | None:
        runs = stack.store.runs.for_customer(customer_id)
        return runs[0] if runs and runs[0].current_step == "pause" else None

    return await eventually(probe, what=f"{customer_id} waiting")


def _deferrals(stack: Stack, run: Enrollment) -> list[str]:
    return [
        e.detail
        for e in stack.store.runs.steps(run.entry_id)
        if (e.step_id, e.status) == ("hello", "deferred")
    ]


async def _held(stack: Stack, api: httpx.AsyncClient, run: Enrollment) -> None:
    woke = await api.post(f"/runs/{run.workflow_id}/skip-wait", json={"reason": "to the send"})
    assert woke.status_code == 200, woke.text

    async def probe() -> list[str] | None:
        return _deferrals(stack, run) or None

    [detail] = await eventually(probe, what="the send held")
    assert "the journey is paused with its sends held" in detail


async def test_a_hold_keeps_every_run_at_its_next_send_until_resume_releases_it(
    api: httpx.AsyncClient, stack: Stack, cli: None
) -> None:
    runs = [await _waiting(api, stack, HELD) for _ in range(2)]
    paused = await journeys("pause", HELD, "--hold-sends")
    assert paused.exit_code == 0, paused.output
    assert f"{HELD}: paused, sends held until resume" in paused.output
    assert stack.store.journeys.get(HELD).hold_sends  # type: ignore[union-attr]
    for run in runs:
        await _held(stack, api, run)
    await asyncio.sleep(1)
    assert [stack.store.outbox.for_customer(run.customer_id) for run in runs] == [[], []]
    # As any pause: no new entrant.
    other = await new_customer(api, prefix="held")
    refused = await api.post(f"/journeys/{HELD}/enrollments", json={"customer_id": other})
    assert refused.status_code == 409, refused.text

    resumed = await journeys("resume", HELD)
    assert resumed.exit_code == 0, resumed.output
    assert "released the held sends of 2 running run(s)" in resumed.output
    assert not stack.store.journeys.get(HELD).hold_sends  # type: ignore[union-attr]

    async def all_sent() -> list[int] | None:
        counts = [
            len([m for m in stack.store.outbox.for_customer(r.customer_id) if m.status == "sent"])
            for r in runs
        ]
        return counts if counts == [1, 1] else None

    # At once, not after the daily re-check of a hold.
    assert await eventually(all_sent, timeout=10, what="the held sends go") == [1, 1]
    for run in runs:
        assert len(_deferrals(stack, run)) == 1
        decisions = [
            (d.decision, d.rule)
            for d in stack.store.ledger.decisions(customer_id=run.customer_id, limit=10)
        ]
        assert ("deferred", "journey_held") in decisions and ("sent", None) in decisions
        audit = stack.store.audit.page(action="journey.pause", limit=100).entries
        assert any(a.target == HELD and a.details.get("hold_sends") for a in audit)
        await api.post(f"/runs/{run.workflow_id}/end", json={"reason": "test over"})


async def test_released_sends_meet_quiet_hours_at_release_time(
    api: httpx.AsyncClient, stack: Stack
) -> None:
    run = await _waiting(api, stack, QUIET)
    paused = await api.post(f"/journeys/{QUIET}/pause", params={"hold_sends": "true"})
    assert paused.status_code == 200 and paused.json()["hold_sends"] is True, paused.text
    await _held(stack, api, run)
    resumed = await api.post(f"/journeys/{QUIET}/resume")
    assert resumed.status_code == 200 and resumed.json()["hold_sends"] is False, resumed.text

    async def quiet() -> list[str] | None:
        details = _deferrals(stack, run)
        return details if len(details) == 2 else None

    held, then = await eventually(quiet, what="the release meets quiet hours")
    assert "sends held" in held and "quiet hours" in then
    assert stack.store.outbox.for_customer(run.customer_id) == []
    await api.post(f"/runs/{run.workflow_id}/end", json={"reason": "test over"})

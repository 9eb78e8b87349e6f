"""Run operations on the real Temporal dev server, over the API and the CLI: end, skip-wait,
retry and move change the run (the store follows, written by the run), appear in its trace
and the audit log; what the run's state does not allow is refused with the reason and changes
nothing; bulk operations select from the store, report, and resume. A run terminated or
cancelled outside the product is noticed by `journeys runs reconcile`."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
import pytest_asyncio

from activities.channels import PermanentDeliveryError, RenderedMessage
from domain.loader import load_journey_text
from domain.runs import Enrollment, RunEnd
from tests.api.conftest import Stack, event, eventually, journeys, new_customer

JOURNEY = "run_ops_api"
DEFINITION = f"""
id: {JOURNEY}
name: Run operations over the API
category: transactional
trigger: {{event: ops_started}}
templates:
  hi: {{subject: "Hi", text: "Hi"}}
steps:
  - {{id: hello, send: {{channel: email, template: hi}}}}
  - {{id: pause, wait: {{for: 1h}}}}
  - {{id: reply, wait_for: {{event: ops_replied, timeout: 1h}}, on_timeout: nudge}}
  - {{id: thanks, send: {{channel: email, template: hi}}}}
  - {{id: done, end: replied}}
  - {{id: nudge, send: {{channel: email, template: hi}}}}
"""
GIVES_UP = """
id: run_ops_gives_up
name: Ends when the welcome fails
category: transactional
trigger: {event: ops_gives_up}
templates:
  hi: {subject: "Hi", text: "Hi"}
steps:
  - {id: hello, send: {channel: email, template: hi, on_failure: end}}
  - {id: pause, wait: {for: 1h}}
"""


@pytest_asyncio.fixture(scope="module", autouse=True)
async def published(stack: Stack) -> None:
    stack.service.publish_definition(load_journey_text(DEFINITION))
    stack.service.publish_definition(load_journey_text(GIVES_UP))


async def _at(stack: Stack, customer_id: str, step: str) -> Enrollment:
    async def probe() -> Enrollment | None:
        runs = stack.store.runs.for_customer(customer_id)
        return runs[0] if runs and runs[0].current_step == step else None

    return await eventually(probe, what=f"{customer_id} at {step}")


async def _waiting_run(api: httpx.AsyncClient, stack: Stack) -> Enrollment:
    customer_id = await new_customer(api, prefix="ops")
    response = await api.post("/events", json=event(customer_id, "ops_started"))
    assert response.status_code == 202, response.text
    return await _at(stack, customer_id, "pause")


def _trace(stack: Stack, run: Enrollment) -> list[tuple[str, str, str]]:
    return [(e.step_id, e.status, e.detail) for e in stack.store.runs.steps(run.entry_id)]


def _audited(stack: Stack, action: str, workflow_id: str) -> list[dict[str, Any]]:
    entries = stack.store.audit.page(action=action, limit=1000).entries
    return [e.details for e in entries if e.target == workflow_id]


async def test_skip_wait_wakes_the_run_and_the_store_trace_and_audit_follow(
    api: httpx.AsyncClient, stack: Stack
) -> None:
    run = await _waiting_run(api, stack)
    response = await api.post(
        f"/runs/{run.workflow_id}/skip-wait", json={"reason": "customer asked"}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["outcome"], body["operation"], body["status"]) == ("done", "skip_wait", "running")
    assert "pause" in body["detail"] and "skipped" in body["detail"]
    await _at(stack, run.customer_id, "reply")
    skipped = [t for t in _trace(stack, run) if t[1] == "wait_skipped"]
    assert len(skipped) == 1 and skipped[0][0] == "pause"
    assert "customer asked" in skipped[0][2] and "by " in skipped[0][2]
    [audit] = _audited(stack, "run.skip_wait", run.workflow_id)
    assert (audit["reason"], audit["entry_id"]) == ("customer asked", run.entry_id)
    # The same key twice: done once, then "already".
    again = {"reason": "customer asked", "key": "k-1"}
    first = await api.post(f"/runs/{run.workflow_id}/skip-wait", json=again)
    assert first.json()["outcome"] == "done", first.text
    second = await api.post(f"/runs/{run.workflow_id}/skip-wait", json=again)
    assert (second.status_code, second.json()["outcome"]) == (200, "already"), second.text
    assert len(_audited(stack, "run.skip_wait", run.workflow_id)) == 2
    await api.post(f"/runs/{run.workflow_id}/end", json={"reason": "test over"})


async def test_move_takes_the_run_to_another_step_of_its_version(
    api: httpx.AsyncClient, stack: Stack
) -> None:
    run = await _waiting_run(api, stack)
    response = await api.post(
        f"/runs/{run.workflow_id}/move", json={"reason": "replied by phone", "to": "thanks"}
    )
    assert response.status_code == 200, response.text
    assert response.json()["detail"] == "moved from pause to thanks"

    async def ended() -> Enrollment | None:
        found = stack.store.runs.get(run.entry_id)
        return found if found is not None and found.status != "running" else None

    final = await eventually(ended, what="the moved run to end")
    assert (final.status, final.end_reason) == ("completed", "replied")
    trace = _trace(stack, run)
    assert any(t[:2] == ("pause", "moved") and "replied by phone" in t[2] for t in trace)
    assert ("reply", "entered") not in [t[:2] for t in trace]
    assert [m.subject for m in stack.channel.to(f"{run.customer_id}@example.com")] == ["Hi", "Hi"]
    [audit] = _audited(stack, "run.move", run.workflow_id)
    assert audit["to"] == "thanks"


async def test_end_stops_the_run_and_funnels_count_it_as_stopped(
    api: httpx.AsyncClient, stack: Stack
) -> None:
    run = await _waiting_run(api, stack)
    response = await api.post(f"/runs/{run.workflow_id}/end", json={"reason": "wrong audience"})
    assert response.status_code == 200, response.text
    assert (response.json()["status"], response.json()["position"]) == ("stopped", None)
    stored = stack.store.runs.get(run.entry_id)
    assert stored is not None and stored.status == "stopped"
    assert "ended by an operator" in (stored.end_reason or "")
    assert "wrong audience" in (stored.end_reason or "")
    assert _trace(stack, run)[-1][:2] == ("pause", "stopped")
    [counts] = stack.store.reports.run_counts(JOURNEY, [])
    assert counts.stopped >= 1
    steps = {s.step_id: s for s in stack.store.reports.step_counts(JOURNEY)}
    assert steps["pause"].stopped >= 1
    assert _audited(stack, "run.end", run.workflow_id)

    # An ended run takes no operation: refused with the reason, nothing changes.
    for path, body in (
        ("end", {"reason": "again"}),
        ("skip-wait", {"reason": "again"}),
        ("move", {"reason": "again", "to": "thanks"}),
        ("retry", {"reason": "again"}),
    ):
        refused = await api.post(f"/runs/{run.workflow_id}/{path}", json=body)
        assert refused.status_code == 409, refused.text
        assert "the run has ended (stopped" in refused.json()["detail"]
    assert stack.store.runs.get(run.entry_id) == stored


async def test_refused_operations_say_why_and_change_nothing(
    api: httpx.AsyncClient, stack: Stack
) -> None:
    run = await _waiting_run(api, stack)
    before = _trace(stack, run)
    unknown = await api.post(f"/runs/{run.workflow_id}/move", json={"reason": "r", "to": "nowhere"})
    assert unknown.status_code == 409
    assert "has no step 'nowhere'" in unknown.json()["detail"]
    # A step of another journey (onboarding's) is not a step of this run's version.
    other = await api.post(f"/runs/{run.workflow_id}/move", json={"reason": "r", "to": "welcome"})
    assert other.status_code == 409 and "has no step 'welcome'" in other.json()["detail"]
    nothing = await api.post(f"/runs/{run.workflow_id}/retry", json={"reason": "r"})
    assert nothing.status_code == 409 and "nothing to retry" in nothing.json()["detail"]
    missing = await api.post("/runs/journey/nope/nobody/end", json={"reason": "r"})
    assert missing.status_code == 404
    no_reason = await api.post(f"/runs/{run.workflow_id}/end", json={"reason": ""})
    assert no_reason.status_code == 422
    assert _trace(stack, run) == before
    stored = stack.store.runs.get(run.entry_id)
    assert stored is not None and (stored.status, stored.current_step) == ("running", "pause")
    assert not _audited(stack, "run.move", run.workflow_id)
    await api.post(f"/runs/{run.workflow_id}/end", json={"reason": "test over"})


async def test_retry_sends_the_failed_step_again(
    api: httpx.AsyncClient, stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    customer_id = await new_customer(api, prefix="ops")
    address = f"{customer_id}@example.com"
    deliver = stack.channel.deliver
    broken = {address}

    async def failing(message: RenderedMessage) -> str:
        if message.recipient in broken:
            raise PermanentDeliveryError("mailbox does not exist")
        return await deliver(message)

    monkeypatch.setattr(stack.channel, "deliver", failing)
    await api.post("/events", json=event(customer_id, "ops_started"))
    run = await _at(stack, customer_id, "pause")
    assert ("hello", "failed") in [(t[0], t[1]) for t in _trace(stack, run)]
    broken.clear()  # the mailbox was fixed
    response = await api.post(f"/runs/{run.workflow_id}/retry", json={"reason": "fixed"})
    assert response.status_code == 200, response.text
    assert response.json()["detail"] == "left pause to take hello again"

    async def sent() -> list[RenderedMessage]:
        return stack.channel.to(address)

    await eventually(sent, what="the retried send")
    assert [m.subject for m in stack.channel.to(address)] == ["Hi"]
    await _at(stack, customer_id, "pause")
    assert _audited(stack, "run.retry", run.workflow_id)
    await api.post(f"/runs/{run.workflow_id}/end", json={"reason": "test over"})


async def test_a_run_terminated_in_temporal_is_refused_and_the_store_says_so(
    api: httpx.AsyncClient, stack: Stack
) -> None:
    run = await _waiting_run(api, stack)
    await stack.client.get_workflow_handle(run.workflow_id).terminate("by hand in the UI")
    refused = await api.post(f"/runs/{run.workflow_id}/skip-wait", json={"reason": "r"})
    assert refused.status_code == 409, refused.text
    assert "had ended in Temporal (terminated)" in refused.json()["detail"]
    stored = stack.store.runs.get(run.entry_id)
    assert stored is not None and stored.status == "failed"
    assert "terminated" in (stored.end_reason or "")


async def test_reconcile_notices_a_run_cancelled_outside_the_product(
    api: httpx.AsyncClient, stack: Stack, cli: None
) -> None:
    run = await _waiting_run(api, stack)
    handle = stack.client.get_workflow_handle(run.workflow_id)
    await handle.cancel()

    async def closed() -> bool:
        described = await handle.describe()
        return described.status is not None and described.status.name == "CANCELED"

    await eventually(closed, what="the run to be cancelled")
    result = await journeys("runs", "reconcile", "--journey", JOURNEY)
    assert result.exit_code == 0, result.output
    assert run.workflow_id in result.output and "canceled" in result.output
    stored = stack.store.runs.get(run.entry_id)
    assert stored is not None and stored.status == "failed"
    assert "canceled" in (stored.end_reason or "")


async def test_bulk_operations_select_from_the_store_report_and_resume(
    api: httpx.AsyncClient, stack: Stack, cli: None
) -> None:
    runs = [await _waiting_run(api, stack) for _ in range(2)]
    for other in stack.store.runs.select_running(JOURNEY):
        if other.entry_id not in {r.entry_id for r in runs}:
            await api.post(f"/runs/{other.workflow_id}/end", json={"reason": "tidy"})
    version = str(runs[0].version)
    select = ["--journey", JOURNEY, "--version", version]
    result = await journeys("runs", "skip-wait", *select, "--reason", "campaign moved up")
    assert result.exit_code == 0, result.output
    assert "2 selected: 2 done, 0 done before (skipped), 0 refused" in result.output
    for run in runs:
        await _at(stack, run.customer_id, "reply")
        [audit] = _audited(stack, "run.skip_wait", run.workflow_id)
        assert audit["reason"] == "campaign moved up"

    # The same command again resumes it: the runs it already did are skipped, not woken twice.
    again = await journeys("runs", "skip-wait", *select, "--reason", "campaign moved up")
    assert again.exit_code == 0, again.output
    assert "2 selected: 0 done, 2 done before (skipped), 0 refused" in again.output
    for run in runs:
        assert len(_audited(stack, "run.skip_wait", run.workflow_id)) == 1
        assert stack.store.runs.get(run.entry_id).current_step == "reply"  # type: ignore[union-attr]

    # A selection that matches nothing: said so, exit 1.
    empty = await journeys("runs", "skip-wait", *select, "--where", "step=pause", "--reason", "x")
    assert empty.exit_code == 1
    assert f"no running run of journey '{JOURNEY}' version {version} at step 'pause'" in (
        empty.output
    )

    # Refusals are counted with their reason; nothing changes; exit 1.
    refused = await journeys("runs", "move", *select, "--to", "nowhere", "--reason", "x")
    assert refused.exit_code == 1, refused.output
    assert "2 selected: 0 done, 0 done before (skipped), 2 refused" in refused.output
    assert "has no step 'nowhere'" in refused.output

    ended = await journeys(
        "runs", "end", "--journey", JOURNEY, "--where", "step=reply", "--reason", "pilot over"
    )
    assert ended.exit_code == 0, ended.output
    assert "2 selected: 2 done" in ended.output
    for run in runs:
        stored = stack.store.runs.get(run.entry_id)
        assert stored is not None and stored.status == "stopped"

    single_run = await _waiting_run(api, stack)
    single = await journeys(
        "runs", "move", single_run.workflow_id, "--to", "nudge", "--reason", "x"
    )
    assert single.exit_code == 0 and "moved from pause to nudge" in single.output, single.output

    async def single_ended() -> Enrollment | None:
        found = stack.store.runs.get(single_run.entry_id)
        return found if found is not None and found.status != "running" else None

    await eventually(single_ended, what="the moved run to end")
    done = await journeys("runs", "end", single_run.workflow_id, "--reason", "x")
    assert done.exit_code == 1 and "the run has ended (completed" in done.output, done.output
    gone = await journeys("runs", "end", "journey/nope/nobody", "--reason", "x")
    assert gone.exit_code == 1 and "no run 'journey/nope/nobody' in the store" in gone.output
    both = await journeys(
        "runs", "end", single_run.workflow_id, "--journey", JOURNEY, "--reason", "x"
    )
    assert both.exit_code == 1 and "name one run" in both.output


async def test_a_run_that_ended_on_its_failed_send_cannot_be_retried(
    api: httpx.AsyncClient, stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    customer_id = await new_customer(api, prefix="ops")

    async def failing(message: RenderedMessage) -> str:
        raise PermanentDeliveryError("mailbox does not exist")

    monkeypatch.setattr(stack.channel, "deliver", failing)
    await api.post("/events", json=event(customer_id, "ops_gives_up"))

    async def ended() -> Enrollment | None:
        runs = stack.store.runs.for_customer(customer_id)
        return runs[0] if runs and runs[0].status != "running" else None

    run = await eventually(ended, what="the run to end on its failed send")
    assert run.status == "completed" and "hello failed" in (run.end_reason or "")
    refused = await api.post(f"/runs/{run.workflow_id}/retry", json={"reason": "fixed"})
    assert refused.status_code == 409
    assert "closed in Temporal and cannot be retried" in refused.json()["detail"]
    assert stack.store.runs.get(run.entry_id) == run


async def test_a_run_not_yet_in_temporal_is_refused_and_left_to_its_start(
    api: httpx.AsyncClient, stack: Stack
) -> None:
    customer_id = await new_customer(api, prefix="ops")
    run = Enrollment(
        entry_id=uuid.uuid4().hex,
        workflow_id=f"journey/{JOURNEY}/{customer_id}",
        journey_id=JOURNEY,
        version=1,
        customer_id=customer_id,
        entered_at=stack.service.clock(),
    )
    assert stack.store.runs.enroll(run)
    refused = await api.post(f"/runs/{run.workflow_id}/end", json={"reason": "r"})
    assert refused.status_code == 409, refused.text
    assert "not in Temporal yet" in refused.json()["detail"]
    stored = stack.store.runs.get(run.entry_id)
    assert stored is not None and stored.status == "running"
    stack.store.runs.finish(
        run.entry_id,
        RunEnd(
            workflow_id=run.workflow_id, status="exited", reason="test", at=stack.service.clock()
        ),
    )

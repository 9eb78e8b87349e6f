"""The callback queue and task page over the real stack: a journey of the test's own waits on
a callback; the console claims and completes it and the run moves on. Every refusal (CSRF,
role, state, unknown id, cursor, a bad call-back time) changes nothing."""

from __future__ import annotations

import html
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from domain.callbacks import CallbackTask
from domain.loader import load_journey_text
from domain.runs import Enrollment
from tests.api.conftest import Stack, eventually
from tests.console.conftest import ConsoleFactory
from tests.console.test_cases_pages import new_console_customer

CALLBACK_JOURNEY = """
id: {journey_id}
name: Console callback
category: transactional
trigger: {{event: console_callback_due}}
templates: {{}}
steps:
  - id: call
    callback: {{queue: {queue}, reason: "Delivery complaint: call back", due_in: 1m, timeout: 1h}}
    on_outcome: {{no_answer: missed}}
    on_timeout: missed
  - {{id: reached, end: called}}
  - {{id: missed, end: missed}}
"""


@dataclass
class Waiting:
    journey_id: str
    queue: str
    customer_id: str
    task: CallbackTask


async def waiting_callback(stack: Stack, timezone: str = "America/New_York") -> Waiting:
    """A run of a journey of its own, waiting on its callback task (in a queue of its own)."""
    tag = uuid.uuid4().hex[:8]
    journey_id, queue = f"console_cb_{tag}", f"console_{tag}"
    stack.service.publish_definition(
        load_journey_text(CALLBACK_JOURNEY.format(journey_id=journey_id, queue=queue))
    )
    customer = new_console_customer(stack, timezone)
    await stack.service.enroll(journey_id, customer)

    async def task() -> CallbackTask | None:
        found = [t for t in stack.store.callbacks.list(queue) if t.customer_id == customer]
        return found[0] if found else None

    return Waiting(journey_id, queue, customer, await eventually(task, what="the callback"))


def run_of(stack: Stack, waiting: Waiting) -> Enrollment:
    [run] = [r for r in stack.store.runs.for_customer(waiting.customer_id)]
    return run


async def test_support_claims_and_completes_a_callback_and_the_run_moves_on(
    console_stack: Stack, console: ConsoleFactory
) -> None:
    waiting = await waiting_callback(console_stack)
    support = await console("support")
    queue = await support.get("/console/callbacks", params={"queue": waiting.queue})
    assert queue.status_code == 200
    assert waiting.task.task_id in queue.text and "Delivery complaint" in queue.text
    task_path = f"/console/callbacks/{waiting.task.task_id}"
    claimed = await support.post(f"{task_path}/claim")
    assert claimed.status_code == 200, claimed.text
    assert "You hold this callback now" in claimed.text
    assert "America/New_York" in claimed.text  # the picker says whose clock it is
    done = await support.post(
        f"{task_path}/complete", {"outcome": "reached", "notes": "Sorted it out"}
    )
    assert done.status_code == 200, done.text
    assert "Callback completed" in done.text
    task = console_stack.store.callbacks.get(waiting.task.task_id)
    assert task is not None and (task.status, task.outcome) == ("done", "reached")

    async def ended() -> Enrollment | None:
        run = run_of(console_stack, waiting)
        return run if run.status != "running" else None

    run = await eventually(ended, what="the run past its callback")
    assert run.end_reason == "called"
    steps = console_stack.store.runs.steps(run.entry_id)
    assert any(s.step_id == "reached" for s in steps)
    again = await support.post(f"{task_path}/complete", {"outcome": "no_answer"})
    assert again.status_code == 409 and "already completed" in again.text


async def test_call_back_later_is_read_on_the_customers_clock(
    console_stack: Stack, console: ConsoleFactory
) -> None:
    waiting = await waiting_callback(console_stack, "Asia/Tokyo")
    support = await console("support")
    task_path = f"/console/callbacks/{waiting.task.task_id}"
    await support.post(f"{task_path}/claim")
    tomorrow = datetime.now(ZoneInfo("Asia/Tokyo")) + timedelta(days=1)
    wall_clock = tomorrow.strftime("%Y-%m-%dT15:30")
    bad = await support.post(
        f"{task_path}/complete", {"outcome": "call_back_later", "call_back_at": "soon"}
    )
    assert bad.status_code == 400 and "call-back time is not valid" in bad.text
    past = await support.post(
        f"{task_path}/complete",
        {"outcome": "call_back_later", "call_back_at": "2020-01-01T10:00"},
    )
    assert past.status_code == 409 and "not in the future" in past.text
    still = console_stack.store.callbacks.get(waiting.task.task_id)
    assert still is not None and still.status == "claimed"
    done = await support.post(
        f"{task_path}/complete",
        {"outcome": "call_back_later", "call_back_at": wall_clock, "notes": "after lunch"},
    )
    assert done.status_code == 200, done.text
    task = console_stack.store.callbacks.get(waiting.task.task_id)
    assert task is not None and task.call_back_at is not None
    expected = datetime.fromisoformat(wall_clock).replace(tzinfo=ZoneInfo("Asia/Tokyo"))
    assert task.call_back_at == expected.astimezone(UTC)
    follow_up = console_stack.store.callbacks.follow_up(task)
    assert follow_up is not None and follow_up.due_at == task.call_back_at


async def test_forms_without_their_csrf_token_change_nothing(
    console_stack: Stack, console: ConsoleFactory
) -> None:
    waiting = await waiting_callback(console_stack)
    support = await console("support")
    task_path = f"/console/callbacks/{waiting.task.task_id}"
    await support.get(task_path)
    for action, fields in (("claim", {}), ("complete", {"outcome": "reached"})):
        for forged in ({**fields}, {**fields, "csrf_token": "forged"}):
            page = await support.post(f"{task_path}/{action}", forged, csrf=False)
            assert page.status_code == 403, action
    task = console_stack.store.callbacks.get(waiting.task.task_id)
    assert task is not None and (task.status, task.claimed_by) == ("open", None)


async def test_a_viewer_cannot_claim_or_complete(
    console_stack: Stack, console: ConsoleFactory
) -> None:
    waiting = await waiting_callback(console_stack)
    viewer = await console("viewer")
    task_path = f"/console/callbacks/{waiting.task.task_id}"
    page = await viewer.get(task_path)
    assert page.status_code == 200 and "may read this callback but not work it" in page.text
    queue = await viewer.get("/console/callbacks", params={"queue": waiting.queue})
    assert ">Claim<" not in queue.text
    assert (await viewer.post(f"{task_path}/claim")).status_code == 403
    refused = await viewer.post(f"{task_path}/complete", {"outcome": "reached"})
    assert refused.status_code == 403
    task = console_stack.store.callbacks.get(waiting.task.task_id)
    assert task is not None and (task.status, task.claimed_by) == ("open", None)


async def test_another_agents_callback_is_refused_with_its_reason(
    console_stack: Stack, console: ConsoleFactory
) -> None:
    waiting = await waiting_callback(console_stack)
    first, second = await console("support"), await console("support")
    task_path = f"/console/callbacks/{waiting.task.task_id}"
    assert (await first.post(f"{task_path}/claim")).status_code == 200
    await second.get(task_path)
    taken = await second.post(f"{task_path}/claim")
    assert taken.status_code == 409 and "claimed by" in taken.text
    assert "Another agent holds this callback." in taken.text
    not_yours = await second.post(f"{task_path}/complete", {"outcome": "reached"})
    assert not_yours.status_code == 409
    task = console_stack.store.callbacks.get(waiting.task.task_id)
    assert task is not None and task.status == "claimed"


async def test_unknown_task_bad_cursor_and_bad_filter(console: ConsoleFactory) -> None:
    support = await console("support")
    page = await support.get("/console/callbacks/cb-nosuchtask")
    assert page.status_code == 404 and "There is no such callback task." in page.text
    assert (await support.post("/console/callbacks/cb-nosuchtask/claim")).status_code == 404
    posted = await support.post("/console/callbacks/cb-nosuchtask/complete", {"outcome": "reached"})
    assert posted.status_code == 404
    assert (await support.get("/console/callbacks", params={"cursor": "zzz"})).status_code == 400
    assert (await support.get("/console/callbacks", params={"state": "lost"})).status_code == 400


async def test_the_queue_pages_by_due_time(console_stack: Stack, console: ConsoleFactory) -> None:
    from entrypoints.console import callbacks as pages

    waiting = await waiting_callback(console_stack)
    support = await console("support", locale="zh-CN")
    original = pages.PAGE_SIZE
    pages.PAGE_SIZE = 1
    try:
        first = await support.get("/console/callbacks")
        assert first.status_code == 200 and "按到期时间排序" in first.text
        assert 'rel="next"' in first.text
        later = await support.get("/console/callbacks", params={"queue": waiting.queue})
        assert waiting.task.task_id in later.text
    finally:
        pages.PAGE_SIZE = original


async def test_callbacks_i_hold(console_stack: Stack, console: ConsoleFactory) -> None:
    waiting = await waiting_callback(console_stack)
    support = await console("support")
    await support.post(f"/console/callbacks/{waiting.task.task_id}/claim")
    queue = await support.get("/console/callbacks")
    mine = html.unescape(queue.text.split('">Callbacks I hold<')[0].rsplit('href="', 1)[1])
    held = await support.get(mine)
    assert held.status_code == 200 and waiting.task.task_id in held.text
    assert "Record the outcome" in held.text

"""Post-purchase over simulated weeks: delivery on time or late, refunds of this or other orders."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from temporalio.testing import WorkflowEnvironment

from domain.events import CustomerEvent
from tests.workflows.support import (
    FakeServices,
    JourneyHandle,
    built_in,
    clock,
    close_to,
    customer_event,
    enroll,
    journey_worker,
    next_clock,
)
from workflows.journey import JourneyWorkflow

POST_PURCHASE = built_in("post_purchase")
TOKYO = "Asia/Tokyo"


def order_event(customer_id: str, type_: str, at: datetime, order_id: str) -> CustomerEvent:
    return customer_event(customer_id, type_, at, order_id=order_id, total=59.9)


async def start_order(
    env: WorkflowEnvironment, task_queue: str, customer_id: str, order_id: str
) -> tuple[JourneyHandle, datetime]:
    start = await env.get_current_time()
    trigger = order_event(customer_id, "order_completed", start, order_id)
    return await enroll(env, task_queue, POST_PURCHASE, trigger), start


async def signal_at(
    env: WorkflowEnvironment, handle: JourneyHandle, customer_id: str, type_: str, order_id: str
) -> datetime:
    at = await env.get_current_time()
    await handle.signal("customer_event", order_event(customer_id, type_, at, order_id))
    return at


async def test_an_order_delivered_in_time_gets_a_csat_at_once_then_a_review_request_at_ten(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    env, services = time_skipping_env, FakeServices()
    buyer = services.customer("buyer", timezone=TOKYO)
    async with journey_worker(env, services) as task_queue:
        handle, start = await start_order(env, task_queue, buyer.customer_id, "o-100")
        await env.sleep(timedelta(days=4))
        delivered_at = await signal_at(env, handle, buyer.customer_id, "order_delivered", "o-100")
        outcome = await handle.result()

    assert (outcome.status, outcome.reason) == ("completed", "delivered and review requested")
    sent = {m.step_id: m for m in services.sent_to(buyer.customer_id)}
    assert list(sent) == ["thanks", "ask_csat", "review_request"]
    assert close_to(sent["thanks"].requested_at, start)
    assert close_to(sent["ask_csat"].requested_at, delivered_at)
    assert sent["thanks"].category == "transactional"
    assert sent["thanks"].context["trigger"]["order_id"] == "o-100"
    # No answer: the survey's five days run out, then three more days to 10:00.
    review_at = sent["review_request"].requested_at
    asked_at = sent["ask_csat"].requested_at
    assert close_to(review_at, next_clock(asked_at + timedelta(days=8), "10:00", TOKYO))
    assert clock(review_at, TOKYO) == "10:00"
    assert not services.updates
    assert sent["thanks"].workflow_id == f"journey/post_purchase/{buyer.customer_id}/o-100"


async def test_an_order_not_delivered_in_ten_days_gets_an_apology_and_is_flagged(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    env, services = time_skipping_env, FakeServices()
    buyer = services.customer("late", timezone=TOKYO)
    async with journey_worker(env, services) as task_queue:
        handle, start = await start_order(env, task_queue, buyer.customer_id, "o-200")
        outcome = await handle.result()

    assert outcome.status == "completed"
    sent = {m.step_id: m.requested_at for m in services.sent_to(buyer.customer_id)}
    assert list(sent) == ["thanks", "late_delivery"]
    assert close_to(sent["late_delivery"], start + timedelta(days=10))
    [update] = services.updates
    assert (update.set, update.add_tags) == ({"last_late_order": "o-200"}, ["late_delivery"])
    profile = services.profiles[buyer.customer_id]
    assert profile.attributes["last_late_order"] == "o-200"
    assert "late_delivery" in profile.tags
    [end] = services.ends
    assert close_to(end.at, start + timedelta(days=24))


async def test_a_late_order_delivered_later_still_gets_its_survey_and_review_request(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    env, services = time_skipping_env, FakeServices()
    buyer = services.customer("later", timezone="America/Los_Angeles")
    async with journey_worker(env, services) as task_queue:
        handle, _ = await start_order(env, task_queue, buyer.customer_id, "o-300")
        await env.sleep(timedelta(days=12))
        delivered_at = await signal_at(env, handle, buyer.customer_id, "order_delivered", "o-300")
        outcome = await handle.result()

    assert (outcome.status, outcome.reason) == ("completed", "delivered and review requested")
    sent = {m.step_id: m.requested_at for m in services.sent_to(buyer.customer_id)}
    assert list(sent) == ["thanks", "late_delivery", "ask_csat", "review_request"]
    assert close_to(sent["ask_csat"], delivered_at)
    expected = next_clock(sent["ask_csat"] + timedelta(days=8), "10:00", "America/Los_Angeles")
    assert close_to(sent["review_request"], expected)


async def test_a_refund_of_the_same_order_ends_the_run_at_once(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    env, services = time_skipping_env, FakeServices()
    buyer = services.customer("refund", timezone=TOKYO)
    async with journey_worker(env, services) as task_queue:
        handle, _ = await start_order(env, task_queue, buyer.customer_id, "o-400")
        await env.sleep(timedelta(days=2))
        refunded_at = await signal_at(env, handle, buyer.customer_id, "order_refunded", "o-400")
        outcome = await handle.result()

    assert outcome.status == "exited"
    assert outcome.goal is not None
    assert (outcome.goal.goal, outcome.goal.converted) == ("refunded", False)
    assert services.sent_steps(buyer.customer_id) == ["thanks"]
    [end] = services.ends
    assert end.status == "exited" and close_to(end.at, refunded_at, timedelta(minutes=1))
    exits = [e for e in services.steps if e.status == "exited"]
    assert [(e.step_id, e.kind) for e in exits] == [("delivered", "wait_for")]


async def test_a_refund_or_delivery_of_another_order_does_not_touch_this_run(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    env, services = time_skipping_env, FakeServices()
    buyer = services.customer("two", timezone=TOKYO)
    async with journey_worker(env, services) as task_queue:
        handle, _ = await start_order(env, task_queue, buyer.customer_id, "o-500")
        await env.sleep(timedelta(days=1))
        await signal_at(env, handle, buyer.customer_id, "order_refunded", "o-999")
        await signal_at(env, handle, buyer.customer_id, "order_delivered", "o-999")
        await env.sleep(timedelta(days=1))
        status = await handle.query(JourneyWorkflow.status)
        assert (status.position, status.goal) == ("delivered", None)
        assert status.waiting == "event order_delivered"
        delivered_at = await signal_at(env, handle, buyer.customer_id, "order_delivered", "o-500")
        outcome = await handle.result()

    assert outcome.status == "completed"
    assert services.sent_steps(buyer.customer_id) == ["thanks", "ask_csat", "review_request"]
    [review] = [m for m in services.sent_to(buyer.customer_id) if m.step_id == "review_request"]
    assert review.requested_at > delivered_at + timedelta(days=3) - timedelta(minutes=1)


async def answer_csat(
    env: WorkflowEnvironment,
    task_queue: str,
    services: FakeServices,
    customer_id: str,
    order_id: str,
    score: int,
) -> JourneyHandle:
    """A delivered order whose CSAT survey (asked on delivery) is answered `score` an hour on."""
    handle, _ = await start_order(env, task_queue, customer_id, order_id)
    await env.sleep(timedelta(days=1))
    await signal_at(env, handle, customer_id, "order_delivered", order_id)
    await env.sleep(timedelta(hours=1))
    [survey] = [s for s in services.surveys if s.customer_id == customer_id]
    assert (survey.kind, survey.step_id) == ("csat", "ask_csat")
    at = await env.get_current_time()
    answer = customer_event(
        customer_id, "survey_answered", at, survey_id=survey.survey_id, score=score
    )
    await handle.signal("customer_event", answer)
    await env.sleep(timedelta(minutes=5))
    return handle


@pytest.mark.parametrize("score", [1, 2])
async def test_a_csat_of_one_or_two_books_a_service_recovery_callback(
    time_skipping_env: WorkflowEnvironment, score: int
) -> None:
    env, services = time_skipping_env, FakeServices()
    buyer = services.customer("unhappy", timezone=TOKYO)
    async with journey_worker(env, services) as task_queue:
        handle = await answer_csat(env, task_queue, services, buyer.customer_id, "o-600", score)
        [task] = services.callbacks
        assert (task.queue, task.reason) == ("service_recovery", "CSAT 1-2 after an order")
        assert (task.customer_id, task.step_id) == (buyer.customer_id, "book_callback")
        assert task.context["steps"]["ask_csat"]["score"] == score  # type: ignore[index]
        assert close_to(task.due_at, task.created_at + timedelta(days=1))
        at = await env.get_current_time()
        done = customer_event(
            buyer.customer_id, "callback_completed", at, task_id=task.task_id, outcome="reached"
        )
        await handle.signal("customer_event", done)
        outcome = await handle.result()
        status = await handle.query(JourneyWorkflow.status)

    assert (outcome.status, outcome.reason) == ("completed", "unhappy customer called back")
    assert status.outputs["book_callback"]["outcome"] == "reached"
    assert services.closed == []  # the task was done, nothing to close


@pytest.mark.parametrize("score", [3, 5])
async def test_a_csat_of_three_or_more_ends_without_a_callback(
    time_skipping_env: WorkflowEnvironment, score: int
) -> None:
    env, services = time_skipping_env, FakeServices()
    buyer = services.customer("happy", timezone=TOKYO)
    async with journey_worker(env, services) as task_queue:
        handle = await answer_csat(env, task_queue, services, buyer.customer_id, "o-700", score)
        outcome = await handle.result()
        status = await handle.query(JourneyWorkflow.status)

    assert (outcome.status, outcome.reason) == ("completed", "delivered and review requested")
    assert services.callbacks == []
    assert status.outputs["ask_csat"]["score"] == score
    route = [e for e in services.steps if e.step_id == "by_satisfaction"]
    assert route[-1].detail == "else -> settle"
    assert services.sent_steps(buyer.customer_id) == ["thanks", "ask_csat", "review_request"]


async def test_an_unanswered_csat_still_gets_the_review_request(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    env, services = time_skipping_env, FakeServices()
    buyer = services.customer("silent", timezone=TOKYO)
    async with journey_worker(env, services) as task_queue:
        handle, _ = await start_order(env, task_queue, buyer.customer_id, "o-800")
        await env.sleep(timedelta(days=1))
        delivered_at = await signal_at(env, handle, buyer.customer_id, "order_delivered", "o-800")
        outcome = await handle.result()

    assert (outcome.status, outcome.reason) == ("completed", "delivered and review requested")
    assert services.callbacks == []
    sent = {m.step_id: m.requested_at for m in services.sent_to(buyer.customer_id)}
    assert list(sent) == ["thanks", "ask_csat", "review_request"]
    # Five days without an answer, then the next 10:00 three days on.
    assert close_to(sent["ask_csat"], delivered_at)
    expected = next_clock(sent["ask_csat"] + timedelta(days=8), "10:00", TOKYO)
    assert close_to(sent["review_request"], expected)

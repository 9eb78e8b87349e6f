"""Post-purchase over simulated weeks: delivery on time or late, refunds of this or other orders."""

from __future__ import annotations

from datetime import datetime, timedelta

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


async def test_an_order_delivered_in_time_gets_a_review_request_three_days_later_at_ten(
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
    assert list(sent) == ["thanks", "review_request", "ask_csat"]
    assert close_to(sent["thanks"].requested_at, start)
    assert sent["thanks"].category == "transactional"
    assert sent["thanks"].context["trigger"]["order_id"] == "o-100"
    review_at = sent["review_request"].requested_at
    assert close_to(review_at, next_clock(delivered_at + timedelta(days=3), "10:00", TOKYO))
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


async def test_a_late_order_delivered_later_still_gets_its_review_request(
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
    assert list(sent) == ["thanks", "late_delivery", "review_request", "ask_csat"]
    expected = next_clock(delivered_at + timedelta(days=3), "10:00", "America/Los_Angeles")
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
    assert services.sent_steps(buyer.customer_id) == ["thanks", "review_request", "ask_csat"]
    [review] = [m for m in services.sent_to(buyer.customer_id) if m.step_id == "review_request"]
    assert review.requested_at > delivered_at + timedelta(days=3) - timedelta(minutes=1)

"""The built-in onboarding journey over two simulated weeks."""

from __future__ import annotations

from datetime import timedelta

from temporalio.testing import WorkflowEnvironment

from tests.workflows.support import (
    FakeServices,
    built_in,
    clock,
    close_to,
    customer_event,
    enroll,
    journey_worker,
    next_clock,
)

ONBOARDING = built_in("onboarding")
BERLIN = "Europe/Berlin"


async def test_a_customer_who_never_completes_the_profile_is_nudged_and_gets_everyday_tips(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    env, services = time_skipping_env, FakeServices()
    customer = services.customer("new", timezone=BERLIN)
    async with journey_worker(env, services) as task_queue:
        start = await env.get_current_time()
        trigger = customer_event(customer.customer_id, "signed_up", start)
        outcome = await (await enroll(env, task_queue, ONBOARDING, trigger)).result()

    assert (outcome.status, outcome.reason) == (
        "completed",
        "onboarding finished without a first order",
    )
    sent = {m.step_id: m.requested_at for m in services.sent_to(customer.customer_id)}
    # The welcome answers the sign-up itself: transactional, in a marketing journey.
    categories = {m.step_id: m.category for m in services.sent_to(customer.customer_id)}
    assert categories.pop("welcome") == "transactional"
    assert set(categories.values()) == {"marketing"}
    assert list(sent) == [
        "welcome",
        "getting_started",
        "complete_profile",
        "everyday_tips",
        "first_order_offer",
        "ask_nps",
    ]
    assert close_to(sent["welcome"], start)
    getting_started = next_clock(sent["welcome"] + timedelta(days=2), "10:00", BERLIN)
    assert close_to(sent["getting_started"], getting_started)
    # The nudge goes when the three days' wait for the profile runs out: 10:00 again.
    assert close_to(sent["complete_profile"], getting_started + timedelta(days=3))
    tips = next_clock(sent["complete_profile"] + timedelta(days=1, hours=12), "10:00", BERLIN)
    assert close_to(sent["everyday_tips"], tips)
    offer = next_clock(tips + timedelta(days=5), "10:00", BERLIN)
    assert close_to(sent["first_order_offer"], offer)
    assert all(clock(at, BERLIN) == "10:00" for step, at in sent.items() if step != "welcome")
    # Counted in whole minutes: a start at 10:00:00.078 makes an offer at 10:00 twelve days
    # later, 71 ms short of twelve days (seen in CI).
    elapsed = sent["first_order_offer"] - start.replace(second=0, microsecond=0)
    assert timedelta(days=12) <= elapsed <= timedelta(days=14)

    [update] = services.updates
    assert update.add_tags == ["onboarded"]
    assert services.profiles[customer.customer_id].attributes["onboarding"] == (
        "finished_without_order"
    )


async def test_a_business_customer_who_completes_the_profile_skips_the_nudge(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    env, services = time_skipping_env, FakeServices()
    customer = services.customer(
        "biz", timezone="America/New_York", attributes={"plan": "business", "first_name": "Bo"}
    )
    async with journey_worker(env, services) as task_queue:
        start = await env.get_current_time()
        trigger = customer_event(customer.customer_id, "signed_up", start)
        handle = await enroll(env, task_queue, ONBOARDING, trigger)
        await env.sleep(timedelta(days=3))
        completed_at = await env.get_current_time()
        await handle.signal(
            "customer_event",
            customer_event(customer.customer_id, "profile_completed", completed_at),
        )
        outcome = await handle.result()

    assert outcome.status == "completed"
    sent = {m.step_id: m.requested_at for m in services.sent_to(customer.customer_id)}
    assert list(sent) == [
        "welcome",
        "getting_started",
        "business_tips",
        "first_order_offer",
        "ask_nps",
    ]
    tips = next_clock(completed_at + timedelta(days=1, hours=12), "10:00", "America/New_York")
    assert close_to(sent["business_tips"], tips)
    steps = [(e.step_id, e.status) for e in services.steps if e.step_id == "profile_completed"]
    assert steps == [("profile_completed", "entered"), ("profile_completed", "completed")]
    branch = next(e for e in services.steps if e.step_id == "by_plan" and e.status == "completed")
    assert "business_tips" in branch.detail


async def test_a_customer_who_finishes_onboarding_on_their_own_leaves_before_the_offer(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    env, services = time_skipping_env, FakeServices()
    customer = services.customer("self", timezone="Asia/Shanghai")
    async with journey_worker(env, services) as task_queue:
        start = await env.get_current_time()
        handle = await enroll(
            env, task_queue, ONBOARDING, customer_event(customer.customer_id, "signed_up", start)
        )
        await env.sleep(timedelta(days=9))
        done = customer_event(
            customer.customer_id, "onboarding_completed", await env.get_current_time()
        )
        await handle.signal("customer_event", done)
        outcome = await handle.result()

    assert outcome.status == "exited"
    assert outcome.goal is not None and outcome.goal.goal == "onboarding_completed"
    sent = services.sent_steps(customer.customer_id)
    assert sent[:2] == ["welcome", "getting_started"]
    assert "first_order_offer" not in sent
    assert not services.updates

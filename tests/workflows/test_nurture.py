"""The built-in nurture journey over simulated weeks: from lead to first order, or not."""

from __future__ import annotations

from datetime import timedelta

import pytest
from temporalio.testing import WorkflowEnvironment

from tests.workflows.support import (
    WEEKDAYS,
    FakeServices,
    built_in,
    clock,
    close_to,
    customer_event,
    enroll,
    journey_worker,
    local,
    next_clock,
)

NURTURE = built_in("nurture")
EVERY_MESSAGE = ["intro", "best_sellers", "reviews", "first_order_discount", "last_reminder"]


async def test_a_lead_who_orders_on_day_5_leaves_nurture_at_once(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    env, services = time_skipping_env, FakeServices()
    lead = services.customer("lead", timezone="Asia/Shanghai")
    async with journey_worker(env, services) as task_queue:
        start = await env.get_current_time()
        handle = await enroll(
            env, task_queue, NURTURE, customer_event(lead.customer_id, "lead_created", start)
        )
        await env.sleep(timedelta(days=5))
        ordered_at = await env.get_current_time()
        order = customer_event(lead.customer_id, "order_completed", ordered_at, order_id="o-1")
        await handle.signal("customer_event", order)
        outcome = await handle.result()

    assert outcome.status == "exited"
    assert outcome.goal is not None
    assert (outcome.goal.goal, outcome.goal.event_id, outcome.goal.converted) == (
        "first_order",
        order.event_id,
        True,
    )
    sent = services.sent_to(lead.customer_id)
    assert [m.step_id for m in sent] == EVERY_MESSAGE[: len(sent)]
    assert "intro" in services.sent_steps(lead.customer_id)
    assert all(m.requested_at < ordered_at for m in sent)
    assert not services.updates, "a converted lead is not tagged as unconverted"
    [end] = services.ends
    assert end.status == "exited"
    assert close_to(end.at, ordered_at, timedelta(minutes=1)), "left at once, not at a timer"


@pytest.mark.parametrize("timezone", ["Asia/Shanghai", "America/New_York"])
async def test_a_lead_who_never_orders_gets_every_message_each_at_the_right_local_time(
    time_skipping_env: WorkflowEnvironment, timezone: str
) -> None:
    env, services = time_skipping_env, FakeServices()
    lead = services.customer("lead", timezone=timezone, attributes={"first_name": "Li"})
    async with journey_worker(env, services) as task_queue:
        start = await env.get_current_time()
        trigger = customer_event(lead.customer_id, "lead_created", start, source="webinar")
        outcome = await (await enroll(env, task_queue, NURTURE, trigger)).result()

    assert (outcome.status, outcome.reason) == (
        "completed",
        "nurture finished without a first order",
    )
    sent = {m.step_id: m.requested_at for m in services.sent_to(lead.customer_id)}
    assert list(sent) == EVERY_MESSAGE
    assert close_to(sent["intro"], start), "the introduction goes out at once"
    expected = {
        "best_sellers": next_clock(sent["intro"] + timedelta(days=2), "10:00", timezone, WEEKDAYS),
        "reviews": next_clock(
            sent["best_sellers"] + timedelta(days=3), "10:00", timezone, WEEKDAYS
        ),
        "first_order_discount": next_clock(
            sent["reviews"] + timedelta(days=4), "10:00", timezone, WEEKDAYS
        ),
        "last_reminder": next_clock(
            sent["first_order_discount"] + timedelta(days=3), "18:00", timezone
        ),
    }
    for step_id, when in expected.items():
        assert close_to(sent[step_id], when), (step_id, local(sent[step_id], timezone), when)
    for step_id in ("best_sellers", "reviews", "first_order_discount"):
        assert local(sent[step_id], timezone).strftime("%a").lower() in WEEKDAYS
        assert clock(sent[step_id], timezone) == "10:00"
    assert clock(sent["last_reminder"], timezone) == "18:00"
    assert sent["last_reminder"] - sent["intro"] >= timedelta(days=12)

    [update] = services.updates
    assert update.add_tags == ["nurture_unconverted"]
    assert "nurture_unconverted" in services.profiles[lead.customer_id].tags
    assert close_to(update.at, sent["last_reminder"] + timedelta(days=2))


async def test_nurture_messages_carry_the_journey_and_the_trigger_for_rendering(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    env, services = time_skipping_env, FakeServices()
    lead = services.customer("lead", timezone="Europe/Berlin")
    async with journey_worker(env, services) as task_queue:
        start = await env.get_current_time()
        trigger = customer_event(lead.customer_id, "lead_created", start, source="webinar")
        handle = await enroll(env, task_queue, NURTURE, trigger)
        await env.sleep(timedelta(hours=1))
        await handle.signal(
            "customer_event", customer_event(lead.customer_id, "order_completed", start)
        )
        await handle.result()

    [intro] = services.sent_to(lead.customer_id)
    assert (intro.category, intro.channel, intro.template_name) == ("marketing", "email", "intro")
    assert intro.template == NURTURE.templates["intro"]
    assert intro.context["trigger"]["source"] == "webinar"
    assert intro.context["journey"] == {"id": "nurture", "version": 1, "name": "Lead nurture"}
    assert intro.workflow_id == f"journey/nurture/{lead.customer_id}"


async def test_leads_in_three_timezones_each_hear_from_us_at_ten_their_time(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    env, services = time_skipping_env, FakeServices()
    zones = ["Asia/Shanghai", "Europe/Berlin", "America/New_York"]
    leads = {services.customer("lead", timezone=zone).customer_id: zone for zone in zones}
    async with journey_worker(env, services) as task_queue:
        start = await env.get_current_time()
        handles = [
            await enroll(env, task_queue, NURTURE, customer_event(lead, "lead_created", start))
            for lead in leads
        ]
        # Several runs at once: advance time by hand, a day at a time (see DESIGN.md).
        for _ in range(21):
            await env.sleep(timedelta(days=1))
        with env.auto_time_skipping_disabled():
            outcomes = [await handle.result() for handle in handles]

    assert [outcome.status for outcome in outcomes] == ["completed"] * 3
    for lead, zone in leads.items():
        sent = services.sent_to(lead)
        assert [m.step_id for m in sent] == EVERY_MESSAGE
        assert [clock(m.requested_at, zone) for m in sent[1:]] == [
            "10:00",
            "10:00",
            "10:00",
            "18:00",
        ]
    first_tips = sorted(
        (m.requested_at, leads[m.customer_id]) for m in services.sent if m.step_id == "best_sellers"
    )
    assert len({at for at, _ in first_tips}) == 3, "each lead on their own clock"

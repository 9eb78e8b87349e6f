"""The built-in win-back journey: three escalating offers, the last one chosen by value tier."""

from __future__ import annotations

from datetime import timedelta

import pytest
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

WIN_BACK = built_in("win_back")
SAO_PAULO = "America/Sao_Paulo"


@pytest.mark.parametrize(
    ("attributes", "third_offer"),
    [
        pytest.param({"value_tier": "high"}, "vip_offer", id="high tier"),
        pytest.param({"value_tier": "medium"}, "final_offer", id="medium tier"),
        pytest.param({}, "final_offer", id="no tier"),
    ],
)
async def test_a_lapsed_customer_gets_three_offers_the_last_one_by_value_tier(
    time_skipping_env: WorkflowEnvironment, attributes: dict[str, str], third_offer: str
) -> None:
    env, services = time_skipping_env, FakeServices()
    customer = services.customer("lapsed", timezone=SAO_PAULO, attributes=attributes)
    async with journey_worker(env, services) as task_queue:
        start = await env.get_current_time()
        trigger = customer_event(customer.customer_id, "customer_lapsed", start)
        outcome = await (await enroll(env, task_queue, WIN_BACK, trigger)).result()

    assert (outcome.status, outcome.reason) == ("completed", "no order after three offers")
    sent = {m.step_id: m.requested_at for m in services.sent_to(customer.customer_id)}
    assert list(sent) == ["we_miss_you", "better_offer", third_offer]
    first = next_clock(start, "10:00", SAO_PAULO)
    second = next_clock(first + timedelta(days=7), "10:00", SAO_PAULO)
    third = next_clock(second + timedelta(days=7), "10:00", SAO_PAULO)
    for step_id, want in zip(sent, [first, second, third], strict=True):
        assert close_to(sent[step_id], want), (step_id, sent[step_id], want)
    assert all(clock(at, SAO_PAULO) == "10:00" for at in sent.values())
    # A high-value customer is also booked a personal call; the run waits up to 7 days for it.
    calls = [c.queue for c in services.callbacks if c.customer_id == customer.customer_id]
    assert calls == (["retention"] if third_offer == "vip_offer" else [])
    [update] = services.updates
    waited = timedelta(days=14 + (7 if calls else 0))
    assert close_to(update.at, third + waited)
    assert "churned" in services.profiles[customer.customer_id].tags


async def test_a_customer_who_orders_after_the_second_offer_is_won_back(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    env, services = time_skipping_env, FakeServices()
    customer = services.customer("back", timezone=SAO_PAULO, attributes={"value_tier": "high"})
    async with journey_worker(env, services) as task_queue:
        start = await env.get_current_time()
        handle = await enroll(
            env,
            task_queue,
            WIN_BACK,
            customer_event(customer.customer_id, "customer_lapsed", start),
        )
        await env.sleep(timedelta(days=10))
        order = customer_event(
            customer.customer_id, "order_completed", await env.get_current_time(), order_id="o-7"
        )
        await handle.signal("customer_event", order)
        outcome = await handle.result()

    assert outcome.status == "exited"
    assert outcome.goal is not None
    assert (outcome.goal.goal, outcome.goal.converted) == ("won_back", True)
    assert services.sent_steps(customer.customer_id) == ["we_miss_you", "better_offer"]
    assert not services.updates

"""Splits and holdouts inside real runs on the time-skipping server."""

from __future__ import annotations

from datetime import UTC, datetime

from temporalio.testing import WorkflowEnvironment

from domain.experiments import bucket, choose, held_out
from domain.journey import SplitStep
from domain.loader import load_journey_text
from tests.workflows.support import FakeServices, customer_event, enroll, journey_worker
from workflows.journey import JourneyWorkflow

PROMO = load_journey_text(
    """
id: promo_test
name: Promo test
trigger: {event: signed_up}
exit_when: [{event: order_completed, name: ordered}]
templates:
  discount: {subject: "10% off", text: "Save 10%"}
  shipping: {subject: "Free shipping", text: "Ships free"}
  reminder: {subject: "Still thinking?", text: "Come back"}
steps:
  - {id: control, holdout: {percent: 40}}
  - id: offer
    split:
      - {name: discount, weight: 1, goto: send_discount}
      - {name: shipping, weight: 1, goto: send_shipping}
  - {id: send_discount, send: {channel: email, template: discount}}
  - {id: to_reminder, goto: pause}
  - {id: send_shipping, send: {channel: email, template: shipping}}
  - {id: pause, wait: {for: 3d}}
  - {id: remind, send: {channel: email, template: reminder}}
"""
)
START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


async def test_holdout_customers_walk_the_journey_but_are_sent_nothing(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    services = FakeServices()
    customers = [services.customer("promo") for _ in range(12)]
    held = [c for c in customers if held_out(40, bucket("promo_test", "control", c.customer_id))]
    assert 0 < len(held) < len(customers)  # the ids above give both groups
    async with journey_worker(time_skipping_env, services) as queue:
        for customer in customers:
            handle = await enroll(
                time_skipping_env,
                queue,
                PROMO,
                customer_event(customer.customer_id, "signed_up", START),
            )
            outcome = await handle.result()
            assert outcome.status == "completed"
            status = await handle.query(JourneyWorkflow.status)
            group = status.outputs["control"]["group"]
            if customer in held:
                assert group == "holdout"
                assert services.sent_to(customer.customer_id) == []
                skipped = [s.step_id for s in status.history if s.status == "skipped"]
                assert len(skipped) == 2 and skipped[-1] == "remind"
            else:
                assert group == "treatment"
                split = PROMO.steps[1]
                assert isinstance(split, SplitStep)
                variant = choose(split.split, bucket("promo_test", "offer", customer.customer_id))
                assert status.outputs["offer"] == {"variant": variant}
                assert services.sent_steps(customer.customer_id) == [f"send_{variant}", "remind"]


async def test_a_customer_gets_the_same_variant_on_every_entry(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    services = FakeServices()
    customer = services.customer("again")
    variants = []
    async with journey_worker(time_skipping_env, services) as queue:
        for _ in range(3):
            handle = await enroll(
                time_skipping_env,
                queue,
                PROMO,
                customer_event(customer.customer_id, "signed_up", START),
            )
            await handle.result()
            status = await handle.query(JourneyWorkflow.status)
            variants.append(
                (status.outputs["control"]["group"], status.outputs["offer"]["variant"])
            )
    assert len(set(variants)) == 1

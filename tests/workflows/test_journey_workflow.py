"""How the interpreter behaves whatever the journey: status, duplicate events, continue-as-new."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from temporalio import activity
from temporalio.testing import WorkflowEnvironment

from activities.run_log import RunLogActivities
from domain.contracts import RECORD_STEPS, RecordSteps
from domain.loader import load_journey_text
from domain.runs import Enrollment, StepEvent
from store.store import Store
from tests.workflows.support import (
    FakeServices,
    built_in,
    close_to,
    customer_event,
    enroll,
    journey_worker,
)
from workflows.journey import JourneyWorkflow

TWO_CLICKS = load_journey_text(
    """
id: two_clicks
name: Two clicks
trigger: {event: signed_up}
templates:
  note: {subject: "Note", text: "Hello"}
steps:
  - {id: first_click, wait_for: {event: link_clicked, timeout: 2d}, on_timeout: end}
  - {id: after_first, send: {channel: email, template: note}}
  - {id: second_click, wait_for: {event: link_clicked, timeout: 2d}, on_timeout: no_second}
  - {id: after_second, send: {channel: email, template: note}}
  - {id: done, end: clicked twice}
  - {id: no_second, send: {channel: email, template: note}}
"""
)

REMINDERS = load_journey_text(
    """
id: invoice_reminders
name: Invoice reminders
category: transactional
trigger: {event: invoice_issued, correlate_on: invoice_id}
templates:
  remind: {subject: "Invoice {{ trigger.invoice_id }} is due", text: "Please pay."}
  thanks: {subject: "Paid, thank you", text: "Thanks."}
steps:
  - {id: remind, send: {channel: email, template: remind}}
  - id: paid
    wait_for: {event: invoice_paid, match: {invoice_id: "{{ trigger.invoice_id }}"}, timeout: 1d}
    on_timeout: remind
  - {id: thanks, send: {channel: email, template: thanks}}
"""
)

BROKEN_CONDITION = load_journey_text(
    """
id: scores
name: Scores
trigger: {event: survey_answered}
templates:
  sorry: {subject: "Sorry", text: "We are sorry."}
  glad: {subject: "Glad", text: "Glad to hear it."}
steps:
  - id: route
    branch:
      - {when: "profile.score <= 2", goto: sorry}
  - {id: glad, send: {channel: email, template: glad}}
  - {id: stop, end: glad}
  - {id: sorry, send: {channel: email, template: sorry}}
"""
)


async def test_the_status_query_shows_the_position_and_the_history(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    env, services = time_skipping_env, FakeServices()
    buyer = services.customer("status", timezone="Europe/Berlin")
    async with journey_worker(env, services) as task_queue:
        start = await env.get_current_time()
        trigger = customer_event(buyer.customer_id, "order_completed", start, order_id="o-1")
        handle = await enroll(env, task_queue, built_in("post_purchase"), trigger)
        await env.sleep(timedelta(hours=1))

        status = await handle.query(JourneyWorkflow.status)
        assert (status.journey_id, status.version, status.customer_id) == (
            "post_purchase",
            1,
            buyer.customer_id,
        )
        assert (status.position, status.waiting, status.goal) == (
            "delivered",
            "event order_delivered",
            None,
        )
        assert [(r.step_id, r.kind, r.status) for r in status.history] == [
            ("thanks", "send", "entered"),
            ("thanks", "send", "completed"),
            ("delivered", "wait_for", "entered"),
        ]
        assert status.outputs["thanks"]["status"] == "sent"

        delivered = customer_event(
            buyer.customer_id, "order_delivered", await env.get_current_time(), order_id="o-1"
        )
        await handle.signal("customer_event", delivered)
        await env.sleep(timedelta(hours=1))
        status = await handle.query(JourneyWorkflow.status)
        assert status.position == "ask_csat"
        assert status.waiting is not None and status.waiting.startswith("survey sv-")
        assert status.outputs["delivered"]["received"] is True
        assert status.outputs["delivered"]["event"]["event_id"] == delivered.event_id
        assert status.history[-1].step_id == "ask_csat"
        assert [e.step_id for e in services.steps][-2:] == ["delivered", "ask_csat"]
        await handle.result()

        final = await handle.query(JourneyWorkflow.status)
        assert final.position == "end"
        assert [r.step_id for r in final.history if r.status == "completed"] == [
            "thanks",
            "delivered",
            "ask_csat",
            "settle",
            "review_request",
            "done",
        ]


async def test_the_same_event_signalled_twice_has_one_effect(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    env, services = time_skipping_env, FakeServices()
    customer = services.customer("dup")
    async with journey_worker(env, services) as task_queue:
        start = await env.get_current_time()
        handle = await enroll(
            env, task_queue, TWO_CLICKS, customer_event(customer.customer_id, "signed_up", start)
        )
        await env.sleep(timedelta(hours=12))
        click = customer_event(customer.customer_id, "link_clicked", await env.get_current_time())
        await handle.signal("customer_event", click)
        await handle.signal("customer_event", click)
        outcome = await handle.result()

    assert outcome.status == "completed"
    assert services.sent_steps(customer.customer_id) == ["after_first", "no_second"]


async def test_two_different_events_of_the_same_type_each_count(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    env, services = time_skipping_env, FakeServices()
    customer = services.customer("twice")
    async with journey_worker(env, services) as task_queue:
        start = await env.get_current_time()
        handle = await enroll(
            env, task_queue, TWO_CLICKS, customer_event(customer.customer_id, "signed_up", start)
        )
        await env.sleep(timedelta(hours=12))
        for _ in range(2):
            now = await env.get_current_time()
            await handle.signal(
                "customer_event", customer_event(customer.customer_id, "link_clicked", now)
            )
        outcome = await handle.result()

    assert (outcome.status, outcome.reason) == ("completed", "clicked twice")
    assert services.sent_steps(customer.customer_id) == ["after_first", "after_second"]


async def test_continue_as_new_keeps_the_state_and_sends_each_message_once(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    env, services = time_skipping_env, FakeServices()
    customer = services.customer("can", timezone="Asia/Shanghai")
    onboarding = built_in("onboarding")
    async with journey_worker(env, services) as task_queue:
        start = await env.get_current_time()
        trigger = customer_event(customer.customer_id, "signed_up", start)
        handle = await enroll(env, task_queue, onboarding, trigger, max_steps_per_run=2)
        outcome = await handle.result()
        latest = await env.client.get_workflow_handle(handle.id).describe()
        final = await handle.query(JourneyWorkflow.status)

    assert latest.run_id != handle.result_run_id, "the run continued as new"
    assert outcome.status == "completed"
    assert outcome.steps_taken == 14
    sent = services.sent_to(customer.customer_id)
    assert [m.step_id for m in sent] == [
        "welcome",
        "getting_started",
        "complete_profile",
        "everyday_tips",
        "first_order_offer",
        "ask_nps",
    ]
    keys = [m.idempotency_key for m in sent]
    assert len(set(keys)) == len(keys)
    assert all(key.startswith(f"{handle.id}/") and key.endswith("/1") for key in keys)
    assert len({m.entry_id for m in sent}) == 1
    entered = [e.step_id for e in services.steps if e.status == "entered"]
    assert len(entered) == len(set(entered)) == 14, "no step ran twice across runs"
    assert [r.step_id for r in final.history if r.status == "entered"] == entered
    assert len(services.updates) == 1
    seqs = [e.seq for e in services.steps]
    assert seqs == list(range(len(seqs))), "records are numbered on across continue-as-new"


async def test_a_reminder_loop_keys_each_visit_apart_across_continue_as_new(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    env, services = time_skipping_env, FakeServices()
    customer = services.customer("invoice")
    async with journey_worker(env, services) as task_queue:
        start = await env.get_current_time()
        trigger = customer_event(customer.customer_id, "invoice_issued", start, invoice_id="i-9")
        handle = await enroll(env, task_queue, REMINDERS, trigger, max_steps_per_run=2)
        await env.sleep(timedelta(days=3, hours=12))
        paid = customer_event(
            customer.customer_id, "invoice_paid", await env.get_current_time(), invoice_id="i-9"
        )
        await handle.signal("customer_event", paid)
        outcome = await handle.result()

    assert outcome.status == "completed"
    sent = services.sent_to(customer.customer_id)
    assert [m.step_id for m in sent] == ["remind"] * 4 + ["thanks"]
    assert [m.idempotency_key.rsplit("/", 2)[-2:] for m in sent] == [
        ["remind", "1"],
        ["remind", "2"],
        ["remind", "3"],
        ["remind", "4"],
        ["thanks", "1"],
    ]
    for day, message in enumerate(sent[:4]):
        assert close_to(message.requested_at, start + timedelta(days=day))


async def test_a_condition_that_cannot_be_evaluated_falls_through_and_says_why(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    env, services = time_skipping_env, FakeServices()
    customer = services.customer("score")
    async with journey_worker(env, services) as task_queue:
        start = await env.get_current_time()
        trigger = customer_event(customer.customer_id, "survey_answered", start)
        outcome = await (await enroll(env, task_queue, BROKEN_CONDITION, trigger)).result()

    assert (outcome.status, outcome.reason) == ("completed", "glad")
    assert services.sent_steps(customer.customer_id) == ["glad"]
    [route] = [e for e in services.steps if e.step_id == "route" and e.status == "completed"]
    assert "profile.score <= 2" in route.detail and "no case held -> glad" in route.detail


THANK_THEN_WAIT = load_journey_text(
    """
id: thank_then_wait
name: Thank, then wait
trigger: {event: signed_up}
templates:
  note: {subject: "Thanks", text: "Hello"}
steps:
  - {id: thanks, send: {channel: email, template: note}}
  - {id: pause, wait: {for: 1d}}
  - {id: done, end: thanked}
"""
)


class LostFirstAnswer(FakeServices):
    """The real run log over a real store, whose first answer never reaches the workflow.

    The first flush is written, then the workflow task fails (as when the worker dies after the
    write and before the task completes): the retried task replays, notes the same steps again
    at a later workflow time, and flushes them again.
    """

    def __init__(self, store: Store) -> None:
        super().__init__()
        self.run_log = RunLogActivities(store)
        self.deliveries: list[list[StepEvent]] = []

    @activity.defn(name=RECORD_STEPS)
    async def record_steps(self, request: RecordSteps) -> Any:
        recorded = self.run_log.record_steps(request)
        self.deliveries.append(request.events)
        if len(self.deliveries) == 1:
            return {"not": "a Recorded"}  # the workflow cannot read it: its task fails
        return recorded


async def test_a_retried_workflow_task_records_each_step_once(
    time_skipping_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    env = time_skipping_env
    store = Store.open(f"sqlite:///{tmp_path}/store.sqlite3")
    try:
        services = LostFirstAnswer(store)
        customer = services.customer("retried")
        entry_id = f"entry-{customer.customer_id}"
        async with journey_worker(env, services) as task_queue:
            start = await env.get_current_time()
            trigger = customer_event(customer.customer_id, "signed_up", start)
            store.runs.enroll(
                Enrollment(
                    entry_id=entry_id,
                    workflow_id=f"journey/thank_then_wait/{customer.customer_id}",
                    journey_id="thank_then_wait",
                    version=1,
                    customer_id=customer.customer_id,
                    entered_at=start,
                )
            )
            handle = await enroll(env, task_queue, THANK_THEN_WAIT, trigger, entry_id=entry_id)
            outcome = await handle.result()
        recorded = store.runs.steps(entry_id)
        run = store.runs.get(entry_id)
    finally:
        store.close()

    assert outcome.status == "completed"
    first, again = services.deliveries[0], services.deliveries[1]
    assert [(e.seq, e.step_id, e.status) for e in again] == [
        (e.seq, e.step_id, e.status) for e in first
    ], "the retried task flushed the same records again"
    assert [e.at for e in again] != [e.at for e in first], "at a later workflow time"
    assert [(e.seq, e.step_id, e.status) for e in recorded] == [
        (0, "thanks", "entered"),
        (1, "thanks", "completed"),
        (2, "pause", "entered"),
        (3, "pause", "completed"),
        (4, "done", "entered"),
        (5, "done", "completed"),
    ]
    assert run is not None and run.status == "completed"
    assert len(services.sent_to(customer.customer_id)) == 1

"""Giving up on a message whose retries ran out: `abandon_message` settles its outbox row.

At activity level against a real store (SQLite, and PostgreSQL when configured): a pending row
fails with the reason and gives back its frequency-cap slot; a row cut off mid-DATA becomes
uncertain and keeps it; a row an attempt already settled keeps its status; each is recorded
once however often the activity runs. In a run: an SMS provider that answers 503 to every
attempt, over real HTTP, until the send's retries run out on the time-skipping server.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from temporalio.client import WorkflowExecutionStatus, WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from activities.http_channel import HttpChannel
from activities.messaging import MessagingActivities
from app.journeys import JourneyService
from domain.contracts import ABANDON_MESSAGE, AbandonMessage
from domain.customers import CustomerUpsert
from domain.loader import load_journey_text
from domain.messages import MessageStatus, OutboxMessage
from domain.send_policy import FrequencyCap, SendPolicy
from entrypoints.api import running
from store.store import Store
from tests.store.conftest import T0
from workers.provider_sink import provider_sink
from workers.worker import activities_for, build_worker, utc_now
from workflows.journey import SEND_OPTIONS

CAP = FrequencyCap(
    name="one_a_day", max=1, per=timedelta(days=1), categories=["transactional", "marketing"]
)
REASON = "gave up after retries: provider answered 503"


def abandon(key: str, customer: str, reason: str = REASON) -> AbandonMessage:
    return AbandonMessage(
        idempotency_key=key,
        customer_id=customer,
        journey_id="reach",
        step_id="text",
        channel="sms",
        category="transactional",
        reason=reason,
        at=T0,
    )


def reserve(store: Store, key: str, customer: str, status: MessageStatus = "pending") -> None:
    """A reserved outbox row with the cap slot its send claimed, as the send leaves them."""
    assert store.ledger.claim(key, customer, "sms", "transactional", [CAP], T0).allowed
    message = OutboxMessage(
        idempotency_key=key,
        customer_id=customer,
        journey_id="reach",
        step_id="text",
        channel="sms",
        template="hi",
        recipient="+4915112345678",
        body_text="Hi",
        requested_at=T0,
    )
    store.outbox.reserve(message)
    if status != "pending":
        store.outbox.mark(key, status, sent_at=T0 if status == "sent" else None)


def slot_free(store: Store, customer: str, at: datetime = T0) -> bool:
    """Whether another message to the customer fits the one-a-day cap (and then gives it back)."""
    probe = f"probe-{uuid.uuid4().hex}"
    allowed = store.ledger.claim(probe, customer, "sms", "transactional", [CAP], at).allowed
    store.ledger.release(probe)
    return allowed


def recorded(store: Store, customer: str) -> tuple[list[tuple[str, str]], list[tuple[str, Any]]]:
    """(decision, reason) in the ledger and (type, reason) of message events in the log."""
    decisions = [(d.decision, d.reason) for d in store.ledger.decisions(customer_id=customer)]
    events = [
        (e.type, e.properties.get("reason"))
        for e in store.events.for_customer(customer)
        if e.type.startswith("message_")
    ]
    return decisions, events


def activities(store: Store) -> MessagingActivities:
    return MessagingActivities(store, {}, lambda: T0 + timedelta(minutes=5))


async def test_a_pending_message_fails_with_the_reason_and_gives_back_its_cap_slot(
    store: Store, customer: str
) -> None:
    reserve(store, "k-pending", customer)
    assert not slot_free(store, customer), "the reserved message holds the day's only slot"
    messaging = activities(store)
    await messaging.abandon_message(abandon("k-pending", customer))
    await messaging.abandon_message(abandon("k-pending", customer))  # a retried activity

    message = store.outbox.get("k-pending")
    assert message is not None and message.status == "failed" and message.detail == REASON
    assert slot_free(store, customer)
    assert recorded(store, customer) == ([("failed", REASON)], [("message_failed", REASON)])


async def test_a_message_cut_off_mid_send_is_uncertain_and_keeps_its_slot(
    store: Store, customer: str
) -> None:
    reserve(store, "k-sending", customer, "sending")
    messaging = activities(store)
    await messaging.abandon_message(abandon("k-sending", customer))
    await messaging.abandon_message(abandon("k-sending", customer))

    message = store.outbox.get("k-sending")
    assert message is not None and message.status == "uncertain"
    assert "provider may have it" in message.detail and REASON in message.detail
    assert not slot_free(store, customer), "it most likely went out: it still counts"
    decisions, events = recorded(store, customer)
    assert [d for d, _ in decisions] == ["uncertain"]
    assert [e for e, _ in events] == ["message_uncertain"]
    assert decisions[0][1] == message.detail


async def test_a_message_an_attempt_already_sent_stays_sent(store: Store, customer: str) -> None:
    reserve(store, "k-sent", customer, "sent")
    await activities(store).abandon_message(abandon("k-sent", customer))

    message = store.outbox.get("k-sent")
    assert message is not None and message.status == "sent"
    assert not slot_free(store, customer)
    decisions, events = recorded(store, customer)
    assert [d for d, _ in decisions] == ["sent"] and [e for e, _ in events] == ["message_sent"]


async def test_a_message_that_never_reached_the_outbox_is_recorded_failed_once(
    store: Store, customer: str
) -> None:
    # The cap is claimed before the outbox row is reserved: an error in between left a claim.
    assert store.ledger.claim("k-none", customer, "sms", "transactional", [CAP], T0).allowed
    messaging = activities(store)
    await messaging.abandon_message(abandon("k-none", customer))
    await messaging.abandon_message(abandon("k-none", customer))

    assert store.outbox.get("k-none") is None
    assert slot_free(store, customer)
    assert recorded(store, customer) == ([("failed", REASON)], [("message_failed", REASON)])


# --- in a run ------------------------------------------------------------------------------


async def finished(env: WorkflowEnvironment, handle: WorkflowHandle[Any, Any]) -> None:
    """Advance time past the send's retry backoff (about four hours for its thirty attempts)
    step by step until the run ends, then collect its result."""
    for _ in range(200):
        description = await handle.describe()
        if description.status != WorkflowExecutionStatus.RUNNING:
            break
        await env.sleep(timedelta(minutes=10))
    with env.auto_time_skipping_disabled():
        await handle.result()


REACH = load_journey_text(
    """
id: reach_by_text
name: Reach by text
category: transactional
trigger: {event: signed_up}
templates:
  hi: {text: "Hi from us"}
steps:
  - {id: text, send: {channel: sms, template: hi}}
  - {id: mark, update: {add_tags: [went_on]}}
"""
)


def _name(fn: Callable[..., Any]) -> str | None:
    definition = getattr(fn, "__temporal_activity_definition", None)
    return None if definition is None else str(definition.name)


async def test_a_provider_that_always_answers_503_fails_the_message_and_the_run_goes_on(
    time_skipping_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    store = Store.open(f"sqlite:///{tmp_path}/store.db")
    queue = f"abandon-{uuid.uuid4().hex[:8]}"

    async def connect() -> Any:
        return time_skipping_env.client

    service = JourneyService(store, connect, queue)
    service.publish_definition(REACH)
    customer = f"c-{uuid.uuid4().hex[:8]}"
    store.customers.upsert(CustomerUpsert(customer_id=customer, phone="+4915112345678"), T0)
    sink = provider_sink()
    state = sink.state.sink
    attempts = SEND_OPTIONS["retry_policy"].maximum_attempts
    state.fail_status, state.fail_times = 503, attempts + 10
    try:
        async with running(sink) as url:
            channel = HttpChannel("sms", f"{url}/sms", timeout=5.0)
            listed = activities_for(store, {"sms": channel}, policy=SendPolicy(caps=[CAP]))
            assert ABANDON_MESSAGE in {_name(fn) for fn in listed}, "the worker runs it"
            async with build_worker(time_skipping_env.client, queue, listed):
                delivery = await service.enroll(REACH.id, customer)
                assert delivery.workflow_id is not None
                handle = time_skipping_env.client.get_workflow_handle(delivery.workflow_id)
                await finished(time_skipping_env, handle)

        assert state.requests == attempts, "every attempt reached the provider"
        assert state.messages("sms") == []
        [message] = store.outbox.for_customer(customer)
        assert message.status == "failed" and "gave up after retries" in message.detail
        assert "503" in message.detail
        decisions, events = recorded(store, customer)
        assert [d for d, _ in decisions] == ["failed"]
        assert [e for e, _ in events] == ["message_failed"]
        assert slot_free(store, customer, utc_now()), "the failed message gave its cap slot back"
        profile = store.customers.get(customer)
        assert profile is not None and "went_on" in profile.tags, "the run went on"
        [run] = store.runs.for_customer(customer)
        assert run.status == "completed"
    finally:
        store.close()

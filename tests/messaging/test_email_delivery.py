"""Email in real runs: the SMTP capture (aiosmtpd) over TCP, the real send activity and store.

Each test runs a journey on the time-skipping server against a capture told to refuse, stall
or hold its replies, and checks what the customer received, the outbox row and the log.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest_asyncio
from temporalio.testing import WorkflowEnvironment

from activities.email_channel import SmtpEmailChannel
from app.journeys import JourneyService
from domain.customers import CustomerUpsert
from domain.loader import load_journey_text
from domain.messages import OutboxMessage
from domain.unsubscribe import UnsubscribeLinks
from store.store import Store
from workers.mail_capture import MailCapture
from workers.worker import activities_for, build_worker

RECEIPT = load_journey_text(
    """
id: mail_receipt
name: Receipt by email
category: transactional
trigger: {event: order_paid}
templates:
  receipt: {subject: "Your receipt", text: "Thanks for your order"}
steps:
  - {id: receipt, send: {channel: email, template: receipt}}
  - {id: mark, update: {add_tags: [receipt_done]}}
"""
)


@dataclass
class Mail:
    env: WorkflowEnvironment
    store: Store
    service: JourneyService
    capture: MailCapture
    queue: str

    async def run(
        self,
        customer_id: str = "ada",
        *,
        timeout: float = 30.0,
        journey: str = "mail_receipt",
        links: UnsubscribeLinks | None = None,
        **fields: Any,
    ) -> OutboxMessage:
        """Run a journey to its end; the customer's one outbox row."""
        fields.setdefault("email", f"{customer_id}@example.com")
        self.store.customers.upsert(
            CustomerUpsert(customer_id=customer_id, **fields), datetime.now(UTC)
        )
        channel = SmtpEmailChannel(
            self.capture.host, self.capture.port, "shop@example.com", timeout=timeout
        )
        activities = activities_for(self.store, {"email": channel}, links=links)
        async with build_worker(self.env.client, self.queue, activities):
            delivery = await self.service.enroll(journey, customer_id)
            assert delivery.workflow_id is not None
            await self.env.client.get_workflow_handle(delivery.workflow_id).result()
        [run] = self.store.runs.for_customer(customer_id)
        assert run.status == "completed"
        profile = self.store.customers.get(customer_id)
        assert profile is not None and "receipt_done" in profile.tags, "the journey went on"
        [message] = self.store.outbox.for_customer(customer_id)
        return message

    def events(self, customer_id: str = "ada") -> list[tuple[str, Any]]:
        return [
            (e.type, e.properties.get("reason"))
            for e in self.store.events.for_customer(customer_id)
            if e.type.startswith("message_")
        ]


@pytest_asyncio.fixture
async def mail(time_skipping_env: WorkflowEnvironment, tmp_path: Path) -> AsyncIterator[Mail]:
    store = Store.open(f"sqlite:///{tmp_path}/store.db")
    queue = f"mail-{uuid.uuid4().hex[:8]}"

    async def connect() -> Any:
        return time_skipping_env.client

    service = JourneyService(store, connect, queue)
    service.publish_definition(RECEIPT)
    capture = MailCapture(tmp_path / "mail")
    capture.start()
    try:
        yield Mail(time_skipping_env, store, service, capture, queue)
    finally:
        capture.release()
        capture.stop()
        store.close()


async def test_a_5xx_refusal_of_the_recipient_fails_the_message_for_good(mail: Mail) -> None:
    mail.capture.fail("RCPT", "550 5.1.1 no such mailbox", times=5)
    message = await mail.run()
    assert mail.capture.commands("RCPT") == 1, "a permanent refusal is not retried"
    assert mail.capture.count() == 0
    assert message.status == "failed" and "550" in message.detail
    [(kind, reason)] = mail.events()
    assert kind == "message_failed" and "no such mailbox" in reason


async def test_a_4xx_refusal_of_the_recipient_is_retried_and_sent_once(mail: Mail) -> None:
    mail.capture.fail("RCPT", "450 4.2.1 mailbox busy, try later", times=2)
    message = await mail.run()
    assert mail.capture.commands("RCPT") == 3
    [received] = mail.capture.mails()
    assert received.idempotency_key == message.idempotency_key
    assert message.status == "sent"
    assert [kind for kind, _ in mail.events()] == ["message_sent"]


async def test_a_4xx_answer_to_data_puts_the_message_back_and_it_goes_once(mail: Mail) -> None:
    mail.capture.fail("DATA", "451 4.3.0 local problem, try later", times=1)
    message = await mail.run()
    assert mail.capture.commands("DATA") == 2
    assert mail.capture.count() == 1
    assert message.status == "sent"


async def test_a_5xx_answer_to_data_fails_the_message(mail: Mail) -> None:
    mail.capture.fail("DATA", "554 5.6.0 message content rejected", times=3)
    message = await mail.run()
    assert mail.capture.commands("DATA") == 1 and mail.capture.count() == 0
    assert message.status == "failed" and "554" in message.detail


async def test_a_timeout_before_data_is_retried_by_the_run_and_sent_once(mail: Mail) -> None:
    mail.capture.stall("RCPT", 1.5, times=2)  # longer than the channel waits, twice
    message = await mail.run(timeout=0.5)
    assert mail.capture.commands("RCPT") == 3
    assert mail.capture.count() == 1, "a timeout before DATA hands nothing over"
    assert message.status == "sent"
    assert [kind for kind, _ in mail.events()] == ["message_sent"]


async def test_a_timeout_during_data_is_uncertain_and_never_sent_again(mail: Mail) -> None:
    mail.capture.hold(30)  # takes the message, keeps the final reply back
    message = await mail.run(timeout=1.0)
    assert mail.capture.commands("DATA") == 1 and mail.capture.count() == 1
    assert message.status == "uncertain" and "during DATA" in message.detail
    [(kind, reason)] = mail.events()
    assert kind == "message_uncertain" and "SMTP cut off during DATA" in reason
    [decision] = mail.store.ledger.decisions(customer_id="ada")
    assert decision.decision == "uncertain"
    [view] = mail.service.timeline("ada").runs
    notes = [(s.step_id, s.status, s.detail) for s in view.steps]
    assert any(
        step == "receipt" and status == "completed" and "sent unconfirmed" in detail
        for step, status, detail in notes
    ), notes

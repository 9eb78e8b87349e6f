"""Exactly-once effect: a real worker process killed mid-send, and a provider that fails.

The kill tests run the product as deployed: the Temporal dev server, `journeys worker` as a
separate process, the SQLite store, the SMS provider over HTTP and the SMTP capture. The
provider accepts the message and holds its answer; the worker is killed with SIGKILL before it
hears back; a second worker retries the send under the same idempotency key; the customer gets
one message. SMS relies on the provider honouring the key; email, which has none, on the
outbox row being `sending` from DATA on, so the retry records the outcome as uncertain.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest_asyncio
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from activities.http_channel import HttpChannel
from app.journeys import JourneyService
from domain.customers import CustomerUpsert
from domain.loader import load_journey_text
from entrypoints.api import running
from store.store import Store
from tests.messaging.test_email_delivery import RECEIPT as MAIL_RECEIPT
from workers.data_converter import DATA_CONVERTER
from workers.dev_server import DevServer
from workers.mail_capture import MailCapture, free_port
from workers.provider_sink import SinkState, provider_sink
from workers.worker import activities_for, build_worker

REPO = Path(__file__).resolve().parents[2]
RECEIPT = load_journey_text(
    """
id: receipt
name: Receipt by SMS
category: transactional
trigger: {event: order_paid}
templates:
  receipt: {text: "Thanks for your order"}
steps:
  - {id: receipt, send: {channel: sms, template: receipt}}
  - {id: mark, update: {add_tags: [receipt_done]}}
"""
)


async def eventually(check: Callable[[], bool], what: str, timeout: float = 90.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.2)


@dataclass
class Deployment:
    tmp: Path
    server: DevServer
    store: Store
    service: JourneyService
    sink: SinkState
    sink_url: str
    queue: str
    capture: MailCapture

    def worker(self) -> subprocess.Popen[bytes]:
        policy = self.tmp / "policy.yaml"
        policy.write_text("{}\n")
        env = {
            **os.environ,
            "JOURNEYS_TEMPORAL_ADDRESS": self.server.address,
            "JOURNEYS_TEMPORAL_TASK_QUEUE": self.queue,
            "JOURNEYS_DATABASE_URL": f"sqlite:///{self.tmp}/store.db",
            "JOURNEYS_DATA_DIR": str(self.tmp / "data"),
            "JOURNEYS_SECRET_KEY": "exactly-once-secret-key",
            "JOURNEYS_SMS_URL": f"{self.sink_url}/sms",
            "JOURNEYS_SMTP_HOST": self.capture.host,
            "JOURNEYS_SMTP_PORT": str(self.capture.port),
            "JOURNEYS_POLICY_FILE": str(policy),
        }
        log = (self.tmp / "worker.log").open("ab")
        return subprocess.Popen(
            [sys.executable, "-m", "entrypoints.cli", "worker"],
            cwd=REPO,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )

    async def kill_mid_send(
        self,
        journey: str,
        customer: str,
        arrived: Callable[[], bool],
        *,
        release: Callable[[], None],
        before_kill: Callable[[], None] = lambda: None,
    ) -> None:
        """Enroll; SIGKILL the worker once the provider has the message; a second worker
        finishes the run."""
        first = self.worker()
        second: subprocess.Popen[bytes] | None = None
        try:
            await self.service.enroll(journey, customer)
            await eventually(arrived, "the provider to receive the message")
            before_kill()
            first.send_signal(signal.SIGKILL)
            first.wait(timeout=10)
            release()
            second = self.worker()

            def completed() -> bool:
                runs = self.store.runs.for_customer(customer)
                return [run.status for run in runs] == ["completed"]

            await eventually(completed, "the run to complete on the second worker")
        finally:
            for process in (first, second):
                if process is not None and process.poll() is None:
                    process.terminate()
                    process.wait(timeout=20)


@pytest_asyncio.fixture
async def deployment(tmp_path: Path) -> AsyncIterator[Deployment]:
    server = DevServer(tmp_path / "temporal.db", "127.0.0.1", free_port(), free_port())
    await server.start(tmp_path / "temporal.log")
    store = Store.open(f"sqlite:///{tmp_path}/store.db")
    app = provider_sink()
    capture = MailCapture(tmp_path / "mail")
    capture.start()
    try:
        client = await Client.connect(server.address, data_converter=DATA_CONVERTER)

        async def connect() -> Client:
            return client

        queue = f"exactly-once-{uuid.uuid4().hex[:6]}"
        service = JourneyService(store, connect, queue)
        service.publish_definition(RECEIPT)
        service.publish_definition(MAIL_RECEIPT)
        async with running(app) as url:
            yield Deployment(tmp_path, server, store, service, app.state.sink, url, queue, capture)
    finally:
        capture.release()
        capture.stop()
        store.close()
        server.stop()


async def test_a_worker_killed_mid_send_does_not_send_twice(deployment: Deployment) -> None:
    d = deployment
    d.store.customers.upsert(
        CustomerUpsert(customer_id="ada", phone="+4915112345678"), datetime.now(UTC)
    )
    d.sink.hold_seconds = 600  # the provider takes the message and does not answer
    await d.kill_mid_send("receipt", "ada", lambda: d.sink.requests >= 1, release=d.sink.release)
    assert d.sink.requests == 2, "the second worker sent the message again (same key)"
    [accepted] = d.sink.messages("sms")
    [message] = d.store.outbox.for_customer("ada")
    assert message.status == "sent" and message.provider_message_id == accepted["id"]
    assert accepted["key"] == message.idempotency_key
    profile = d.store.customers.get("ada")
    assert profile is not None and "receipt_done" in profile.tags


async def test_a_worker_killed_during_smtp_data_does_not_email_twice(
    deployment: Deployment,
) -> None:
    d = deployment
    d.store.customers.upsert(
        CustomerUpsert(customer_id="eve", email="eve@example.com"), datetime.now(UTC)
    )
    d.capture.hold(600)  # the capture takes the whole message and keeps its reply to DATA back

    def sending() -> None:
        [row] = d.store.outbox.for_customer("eve")
        assert row.status == "sending", "the row is committed as sending before DATA"

    await d.kill_mid_send(
        "mail_receipt",
        "eve",
        lambda: d.capture.count() >= 1,
        release=d.capture.release,
        before_kill=sending,
    )
    assert d.capture.commands("DATA") == 1, "the second worker sent the email again"
    [received] = d.capture.to("eve@example.com")
    [message] = d.store.outbox.for_customer("eve")
    assert received.idempotency_key == message.idempotency_key
    assert message.status == "uncertain" and "SMTP DATA" in message.detail
    kinds = [e.type for e in d.store.events.for_customer("eve") if e.type.startswith("message_")]
    assert kinds == ["message_uncertain"]
    [decision] = d.store.ledger.decisions(customer_id="eve")
    assert decision.decision == "uncertain" and "not sent again" in decision.reason
    profile = d.store.customers.get("eve")
    assert profile is not None and "receipt_done" in profile.tags, "the journey went on"


@dataclass
class Local:
    env: WorkflowEnvironment
    store: Store
    service: JourneyService
    sink: SinkState
    sink_url: str
    queue: str


@pytest_asyncio.fixture
async def local(time_skipping_env: WorkflowEnvironment, tmp_path: Path) -> AsyncIterator[Local]:
    store = Store.open(f"sqlite:///{tmp_path}/store.db")
    queue = f"provider-{uuid.uuid4().hex[:6]}"

    async def connect() -> Any:
        return time_skipping_env.client

    service = JourneyService(store, connect, queue)
    service.publish_definition(RECEIPT)
    store.customers.upsert(
        CustomerUpsert(customer_id="bo", phone="+4915112345679"), datetime.now(UTC)
    )
    app = provider_sink()
    try:
        async with running(app) as url:
            yield Local(time_skipping_env, store, service, app.state.sink, url, queue)
    finally:
        store.close()


async def _run_receipt(local: Local) -> None:
    channels = {"sms": HttpChannel("sms", f"{local.sink_url}/sms")}
    async with build_worker(local.env.client, local.queue, activities_for(local.store, channels)):
        await local.service.enroll("receipt", "bo")
        await local.env.sleep(timedelta(minutes=5))
    [run] = local.store.runs.for_customer("bo")
    assert run.status == "completed"


async def test_provider_5xx_is_retried_with_backoff_and_sends_once(local: Local) -> None:
    local.sink.fail_status, local.sink.fail_times = 503, 2
    await _run_receipt(local)
    assert local.sink.requests == 3
    assert len(local.sink.messages("sms")) == 1
    [message] = local.store.outbox.for_customer("bo")
    assert message.status == "sent"


async def test_a_permanent_refusal_is_recorded_and_the_journey_goes_on(local: Local) -> None:
    local.sink.fail_status, local.sink.fail_times = 400, 1
    await _run_receipt(local)
    assert local.sink.requests == 1 and local.sink.messages("sms") == []
    [message] = local.store.outbox.for_customer("bo")
    assert message.status == "failed" and "refused the message (400)" in message.detail
    profile = local.store.customers.get("bo")
    assert profile is not None and "receipt_done" in profile.tags  # the next step ran
    failed = [e for e in local.store.events.for_customer("bo") if e.type == "message_failed"]
    assert len(failed) == 1 and "400" in str(failed[0].properties["reason"])

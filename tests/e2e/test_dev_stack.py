"""End to end: `journeys dev` as a user starts it, driven only through its HTTP API.

The stack runs in its own process on free ports with a file-backed Temporal dev server, the
SQLite store, the SMTP capture, the SMS/webhook provider sink, the worker and the API.
Customers and events go in over real HTTP; the emails must arrive at the capture and the SMS
and webhook at the provider sink exactly once; the run's history is read back from Temporal.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from workers.data_converter import DATA_CONVERTER
from workers.mail_capture import free_port

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
API_KEY = "e2e-test-key"
ORDER_ALERTS = """
id: order_alerts
name: Order alerts
category: transactional
trigger: {event: order_shipped, correlate_on: order_id}
templates:
  shipped_sms: {text: "Order {{ trigger.order_id }} is on its way"}
  shipped_hook: {subject: "shipped", text: "order {{ trigger.order_id }} shipped"}
steps:
  - {id: text, send: {channel: sms, template: shipped_sms}}
  - {id: hook, send: {channel: webhook, template: shipped_hook}}
"""


@dataclass
class Stack:
    data: Path
    api: str
    temporal: str
    process: subprocess.Popen[bytes]
    provider: str = ""

    def mails(self) -> list[EmailMessage]:
        found = []
        for path in sorted((self.data / "mail").glob("*.eml")):
            message = message_from_bytes(path.read_bytes(), policy=policy.default)
            assert isinstance(message, EmailMessage)
            found.append(message)
        return found

    def log(self) -> str:
        return (self.data / "stack.log").read_text(errors="replace")


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    data = tmp_path_factory.mktemp("dev-stack")
    ports = {name: free_port() for name in ("temporal", "ui", "smtp", "api", "provider")}
    # The workspace caps, without quiet hours: the test must pass at any hour of the day.
    policy_file = data / "policy.yaml"
    policy_file.write_text("caps:\n  - {name: marketing_daily, max: 2, per: 24h}\n")
    # The built-in journeys and one that texts the customer and calls a webhook.
    journeys_dir = data / "journeys"
    journeys_dir.mkdir()
    for path in (REPO / "journeys").glob("*.yaml"):
        (journeys_dir / path.name).write_text(path.read_text(encoding="utf-8"), encoding="utf-8")
    (journeys_dir / "order_alerts.yaml").write_text(ORDER_ALERTS, encoding="utf-8")
    env = {
        **os.environ,
        "JOURNEYS_DATA_DIR": str(data),
        "JOURNEYS_DATABASE_URL": "",
        "JOURNEYS_TEMPORAL_ADDRESS": f"127.0.0.1:{ports['temporal']}",
        "JOURNEYS_TEMPORAL_UI_PORT": str(ports["ui"]),
        "JOURNEYS_TEMPORAL_TASK_QUEUE": "e2e",
        "JOURNEYS_SMTP_PORT": str(ports["smtp"]),
        "JOURNEYS_API_PORT": str(ports["api"]),
        "JOURNEYS_API_KEY": API_KEY,
        "JOURNEYS_PROVIDER_PORT": str(ports["provider"]),
        "JOURNEYS_POLICY_FILE": str(policy_file),
        "JOURNEYS_JOURNEYS_DIR": str(journeys_dir),
        "JOURNEYS_WEBHOOK_SECRET": "e2e-webhook-secret",
    }
    log = (data / "stack.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "entrypoints.cli", "dev"],
        cwd=REPO,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    running = Stack(
        data,
        f"http://127.0.0.1:{ports['api']}",
        env["JOURNEYS_TEMPORAL_ADDRESS"],
        process,
        f"http://127.0.0.1:{ports['provider']}",
    )
    try:
        _wait_until_healthy(running)
        yield running
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


def _wait_until_healthy(stack: Stack, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if stack.process.poll() is not None:
            pytest.fail(f"journeys dev exited early:\n{stack.log()}")
        try:
            if httpx.get(f"{stack.api}/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    pytest.fail(f"journeys dev did not become healthy:\n{stack.log()}")


@pytest_asyncio.fixture
async def api(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        base_url=stack.api, headers={"X-API-Key": API_KEY}, timeout=30
    ) as client:
        yield client


async def _eventually(check: Any, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result or time.monotonic() > deadline:
            return result
        await asyncio.sleep(0.2)


def _event(event_id: str, customer: str, type_: str, **properties: Any) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "customer_id": customer,
        "type": type_,
        "occurred_at": "2026-11-25T09:30:00+01:00",
        "properties": properties,
    }


async def test_dev_stack_prints_its_addresses_and_refuses_requests_without_a_key(
    stack: Stack,
) -> None:
    log = stack.log()
    assert "Temporal Web UI" in log and "HTTP API" in log and "SMTP capture" in log
    assert f"Web console       {stack.api}/console/" in log
    async with httpx.AsyncClient(base_url=stack.api) as anonymous:
        response = await anonymous.get("/journeys")
        sign_in = await anonymous.get("/console/")
    assert response.status_code == 401
    # The console it names is there: a visitor is shown the sign-in form.
    assert sign_in.status_code == 303 and "/console/sign-in" in sign_in.headers["location"]


async def test_events_through_the_api_send_each_email_once_and_leave_a_readable_history(
    stack: Stack, api: httpx.AsyncClient
) -> None:
    journeys = (await api.get("/journeys")).json()
    assert {"onboarding", "nurture", "post_purchase", "win_back"} <= {
        j["journey_id"] for j in journeys
    }
    customer = "e2e-ada"
    put = await api.put(
        f"/customers/{customer}",
        json={
            "customer_id": customer,
            "email": "ada@example.com",
            "timezone": "Europe/Berlin",
            "attributes": {"first_name": "Ada"},
        },
    )
    assert put.status_code == 200, put.text

    signed_up = await api.post("/events", json=_event("e2e-1", customer, "signed_up"))
    assert signed_up.status_code == 202, signed_up.text
    [onboarding] = [d for d in signed_up.json()["deliveries"] if d["journey_id"] == "onboarding"]
    assert onboarding["action"] == "started"

    order = _event("e2e-2", customer, "order_completed", order_id="o-77")
    first = await api.post("/events", json=order)
    again = await api.post("/events", json=order)  # a retried request: one effect
    assert first.json()["duplicate"] is False
    assert again.json()["duplicate"] is True
    await api.post(
        "/events/batch",
        json={"events": [_event("e2e-3", customer, "order_delivered", order_id="o-77")]},
    )

    def to_ada() -> list[EmailMessage]:
        return [m for m in stack.mails() if m["To"] == "ada@example.com"]

    await _eventually(lambda: len(to_ada()) >= 3)
    await asyncio.sleep(2)  # long enough for a duplicate send to show up
    subjects = sorted(str(m["Subject"]) for m in to_ada())
    assert subjects == [
        "How satisfied are you with order o-77?",  # the CSAT survey, on delivery
        "Thank you for order o-77",
        "Welcome aboard, Ada",
    ]

    timeline = (await api.get(f"/customers/{customer}/timeline")).json()
    runs = {view["run"]["journey_id"]: view["run"] for view in timeline["runs"]}
    assert set(runs) == {"onboarding", "post_purchase"}
    ours = [e["event_id"] for e in timeline["events"] if e["event_id"].startswith("e2e-")]
    assert ours == ["e2e-1", "e2e-2", "e2e-3"]
    sent = sorted(
        e["properties"]["step_id"] for e in timeline["events"] if e["type"] == "message_sent"
    )
    assert sent == ["ask_csat", "thanks", "welcome"]  # each delivery is in the log, once
    assert sorted(m["status"] for m in timeline["messages"]) == ["sent", "sent", "sent"]

    client = await Client.connect(stack.temporal, data_converter=DATA_CONVERTER)
    post_purchase = runs["post_purchase"]["workflow_id"]
    status = (await api.get(f"/runs/{post_purchase}")).json()
    assert status["position"] == "ask_csat"  # delivered: now waiting for the CSAT answer
    history = await client.get_workflow_handle(post_purchase).fetch_history()
    kinds = [event.event_type for event in history.events]
    assert EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED in kinds
    assert EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED in kinds
    assert EventType.EVENT_TYPE_TIMER_STARTED in kinds

    # The order was onboarding's goal: that run ended at once, whatever step it was in.
    onboarding_run = client.get_workflow_handle(runs["onboarding"]["workflow_id"])
    outcome = await asyncio.wait_for(onboarding_run.result(), timeout=30)
    assert outcome["goal"]["goal"] == "first_order"


async def test_an_sms_and_a_webhook_reach_the_provider_sink_once_each(
    stack: Stack, api: httpx.AsyncClient
) -> None:
    customer = "e2e-sam"
    put = await api.put(
        f"/customers/{customer}", json={"customer_id": customer, "phone": "+4915112345600"}
    )
    assert put.status_code == 200, put.text
    shipped = _event("e2e-ship-1", customer, "order_shipped", order_id="o-9")
    response = await api.post("/events", json=shipped)
    assert response.status_code == 202, response.text

    async def received(channel: str) -> list[dict[str, Any]]:
        async with httpx.AsyncClient(base_url=stack.provider, timeout=10) as sink:
            found: list[dict[str, Any]] = (
                await sink.get("/messages", params={"channel": channel})
            ).json()
        return [m for m in found if customer in m["key"]]

    for _ in range(150):
        if await received("webhook"):
            break
        await asyncio.sleep(0.2)
    await asyncio.sleep(1)  # long enough for a duplicate to show up
    [sms] = await received("sms")
    [hook] = await received("webhook")
    assert sms["payload"] == {
        "to": "+4915112345600",
        "text": "Order o-9 is on its way",
        "key": sms["key"],
    }
    assert hook["payload"]["customer_id"] == customer
    assert hook["payload"]["text"] == "order o-9 shipped"  # its signature checked by the sink
    lines = (stack.data / "provider" / "sms.jsonl").read_text().splitlines()
    assert sum(customer in line for line in lines) == 1
    timeline = (await api.get(f"/customers/{customer}/timeline")).json()
    outbox = {m["channel"]: m for m in timeline["messages"]}
    assert outbox["sms"]["status"] == outbox["webhook"]["status"] == "sent"
    assert outbox["sms"]["provider_message_id"] == sms["id"]

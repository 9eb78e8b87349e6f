"""Provider feedback on a message that was really sent: bounces and complaints as events.

A real Temporal dev server, worker and store (the API tests' stack); the report names the
message by its key, so the customer's log, the send ledger and the funnel learn of it, and a
running journey waiting for `message_bounced` resumes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest_asyncio

from domain.loader import load_journey_text
from entrypoints.api import create_app
from tests.api.conftest import API_KEY, Stack, event, eventually, new_customer

WATCHED = load_journey_text(
    """
id: bounce_watch
name: Bounce watch
category: transactional
trigger: {event: account_opened}
templates:
  hello: {subject: "Hello", text: "Your account is open"}
steps:
  - {id: hello, send: {channel: email, template: hello}}
  - id: bounced
    wait_for: {event: message_bounced, timeout: 30d}
    on_timeout: end
  - {id: fix, update: {add_tags: [fix_address]}}
"""
)


@pytest_asyncio.fixture
async def api(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_app(stack.service, API_KEY))
    async with httpx.AsyncClient(
        transport=transport, base_url="http://api", headers={"X-API-Key": API_KEY}
    ) as client:
        yield client


async def sent_message(api: httpx.AsyncClient, customer: str) -> dict[str, Any]:
    async def sent() -> dict[str, Any] | None:
        found = (await api.get("/messages", params={"customer_id": customer})).json()
        return next((m for m in found if m["status"] == "sent"), None)

    return await eventually(sent, what="the message to be sent")


async def report_on(
    api: httpx.AsyncClient, message: dict[str, Any], **fields: Any
) -> dict[str, Any]:
    """Report feedback about a sent message; the answer's body."""
    body = {"recipient": message["recipient"], "message_key": message["idempotency_key"]}
    answer = await api.post("/providers/feedback", json=body | fields)
    assert answer.status_code == 200, answer.text
    result: dict[str, Any] = answer.json()
    return result


def feedback_events(stack: Stack, customer: str) -> list[tuple[str, Any]]:
    return [
        (e.type, dict(e.properties))
        for e in stack.store.events.for_customer(customer)
        if e.type in ("message_bounced", "message_complained")
    ]


async def test_a_bounce_naming_its_message_is_logged_and_counted_once(
    stack: Stack, api: httpx.AsyncClient
) -> None:
    customer = await new_customer(api)
    assert (await api.post("/events", json=event(customer, "signed_up"))).status_code == 202
    message = await sent_message(api, customer)
    before = {
        (c.step_id, c.status): c.count for c in stack.store.reports.message_counts("onboarding")
    }
    for _ in range(2):  # a provider repeating its report has one effect
        body = await report_on(api, message, type="bounce", detail="550 5.1.1 no such user")
    assert body["suppressed"] is True and body["scope"] == "all" and body["bounce"] == "hard"
    [(kind, properties)] = feedback_events(stack, customer)
    assert kind == "message_bounced" and properties["bounce"] == "hard"
    assert properties["message_key"] == message["idempotency_key"]
    assert properties["step_id"] == message["step_id"] and "no such user" in properties["reason"]
    after = {
        (c.step_id, c.status): c.count for c in stack.store.reports.message_counts("onboarding")
    }
    step = message["step_id"]
    assert after.get((step, "bounced"), 0) == before.get((step, "bounced"), 0) + 1


async def test_a_soft_bounce_is_recorded_but_suppresses_nothing(
    stack: Stack, api: httpx.AsyncClient
) -> None:
    customer = await new_customer(api)
    assert (await api.post("/events", json=event(customer, "signed_up"))).status_code == 202
    message = await sent_message(api, customer)
    answer = await report_on(api, message, type="bounce", bounce="soft", detail="452 full")
    assert answer["suppressed"] is False
    assert stack.store.suppressions.get("email", message["recipient"]) is None
    [(kind, properties)] = feedback_events(stack, customer)
    assert kind == "message_bounced" and properties["bounce"] == "soft"
    decisions = (await api.get("/decisions", params={"customer_id": customer})).json()
    assert "soft_bounced" in [d["decision"] for d in decisions]
    wrong = await api.post(
        "/providers/feedback", json={"type": "bounce", "bounce": "medium", "recipient": "a@b.co"}
    )
    assert wrong.status_code == 422


async def test_a_complaint_naming_its_message_is_logged_and_blocks_marketing(
    stack: Stack, api: httpx.AsyncClient
) -> None:
    customer = await new_customer(api)
    assert (await api.post("/events", json=event(customer, "signed_up"))).status_code == 202
    message = await sent_message(api, customer)
    answer = await report_on(api, message, type="complaint")
    assert answer["scope"] == "marketing"
    [(kind, properties)] = feedback_events(stack, customer)
    assert kind == "message_complained" and "bounce" not in properties
    counts = {(c.step_id, c.status) for c in stack.store.reports.message_counts("onboarding")}
    assert (message["step_id"], "complained") in counts


async def test_a_journey_waiting_for_message_bounced_resumes_on_the_report(
    stack: Stack, api: httpx.AsyncClient
) -> None:
    stack.service.publish_definition(WATCHED)
    customer = await new_customer(api)
    opened = await api.post("/events", json=event(customer, "account_opened"))
    assert opened.status_code == 202, opened.text
    message = await sent_message(api, customer)
    [run] = stack.store.runs.for_customer(customer)
    assert run.status == "running"
    await report_on(api, message, type="bounce")

    async def tagged() -> bool:
        profile = stack.store.customers.get(customer)
        return profile is not None and "fix_address" in profile.tags

    await eventually(tagged, what="the waiting run to resume on message_bounced")
    [run] = stack.store.runs.for_customer(customer)
    assert run.status == "completed"

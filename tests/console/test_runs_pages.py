"""The run page: a run's trace, where it is and what it waits for until when (in the
customer's timezone), its journey version and its place in the Temporal Web UI."""

from __future__ import annotations

import re
from datetime import datetime
from types import SimpleNamespace
from typing import Any
from urllib.parse import quote

from domain.customers import CustomerUpsert
from domain.loader import load_journey_text
from entrypoints.console.customers import moments_in
from entrypoints.console.i18n import Formats
from tests.api.conftest import Stack, eventually, new_id
from tests.console.conftest import ConsoleFactory

WAITING = """
id: JOURNEY
name: Waiting offer
category: marketing
trigger: {event: never_sent_JOURNEY}
quiet_hours: []
templates:
  offer: {subject: "An offer", text: "Sale"}
steps:
  - {id: pause, wait: {for: 2h}}
  - {id: offer, send: {channel: email, template: offer}}
"""
TIMEZONE = "America/New_York"


async def waiting_run(stack: Stack) -> tuple[str, str, str]:
    """(journey id, customer id, workflow id) of a run waiting at its first step."""
    journey_id = new_id("wait").replace("-", "_")
    stack.service.publish_definition(load_journey_text(WAITING.replace("JOURNEY", journey_id)))
    customer_id = new_id("rc")
    stack.service.upsert_customer(
        CustomerUpsert(
            customer_id=customer_id, email=f"{customer_id}@example.com", timezone=TIMEZONE
        )
    )
    delivery = await stack.service.enroll(journey_id, customer_id)
    assert delivery.action == "started" and delivery.workflow_id
    workflow_id = delivery.workflow_id

    async def waiting() -> bool:
        snapshot = await stack.service.run_status(workflow_id)
        return bool(snapshot.waiting)

    await eventually(waiting, what="the run to wait")
    return journey_id, customer_id, workflow_id


async def test_a_waiting_run_shows_its_trace_what_it_waits_for_until_when_and_its_links(
    console: ConsoleFactory, console_stack: Stack
) -> None:
    journey_id, customer_id, workflow_id = await waiting_run(console_stack)
    snapshot = await console_stack.service.run_status(workflow_id)
    assert snapshot.waiting
    until = datetime.fromisoformat(snapshot.waiting.removeprefix("until "))
    viewer = await console("viewer")
    page = await viewer.get(f"/console/runs/{workflow_id}")
    assert page.status_code == 200, page.text
    text = page.text
    assert "a timer" in text
    assert Formats("en", "Asia/Shanghai").moment(until, TIMEZONE) in text  # customer's time
    assert f'href="/console/journeys/{journey_id}?version=1"' in text
    assert f"/namespaces/default/workflows/{quote(workflow_id, safe='')}" in text
    assert re.search(r"<td>pause</td><td>wait</td><td>entered</td>", text)
    assert f'href="/console/customers/{customer_id}"' in text
    # The customer page links to it and says what the run waits for.
    customer = await viewer.get(f"/console/customers/{customer_id}")
    assert f'href="/console/runs/{workflow_id}"' in customer.text
    assert "Waits for step pause (wait)" in customer.text
    assert "Runs in flight" in customer.text
    zh = await console("viewer", locale="zh-CN")
    chinese = await zh.get(f"/console/runs/{workflow_id}")
    assert "逐步记录" in chinese.text and "定时等待" in chinese.text


async def test_an_unknown_run_is_a_404_page(console: ConsoleFactory) -> None:
    viewer = await console("viewer")
    page = await viewer.get(f"/console/runs/journey/nothing/{new_id()}")
    assert page.status_code == 404
    assert "There is no such run" in page.text


async def test_a_case_workflow_id_leads_to_the_case_page(console: ConsoleFactory) -> None:
    viewer = await console("viewer")
    page = await viewer.get("/console/runs/case/cs-0123456789ab", follow_redirects=False)
    assert page.status_code == 303
    assert page.headers["location"] == "/console/cases/cs-0123456789ab"


async def test_the_run_page_needs_a_session(console: ConsoleFactory) -> None:
    visitor = await console(None)
    page = await visitor.get("/console/runs/journey/x/y", follow_redirects=False)
    assert page.status_code == 303
    assert page.headers["location"].startswith("/console/sign-in")


async def test_ops_skips_a_wait_and_support_gets_no_forms_and_a_403_for_a_forged_one(
    console: ConsoleFactory, console_stack: Stack
) -> None:
    _journey_id, customer_id, workflow_id = await waiting_run(console_stack)
    support = await console("support")
    page = await support.get(f"/console/runs/{workflow_id}")
    assert "Operate on this run" not in page.text
    forged = await support.post(f"/console/runs/{workflow_id}/skip-wait", {"reason": "forged"})
    assert forged.status_code == 403
    snapshot = await console_stack.service.run_status(workflow_id)
    assert snapshot.position == "pause" and snapshot.waiting
    ops = await console("ops")
    shown = await ops.get(f"/console/runs/{workflow_id}")
    assert "Operate on this run" in shown.text
    done = await ops.post(f"/console/runs/{workflow_id}/skip-wait", {"reason": "customer asked"})
    assert done.status_code == 200, done.text
    assert "Done:" in done.text

    async def sent() -> bool:
        return bool(console_stack.channel.to(f"{customer_id}@example.com"))

    await eventually(sent, what="the offer after the skipped wait")


async def test_ending_a_run_asks_for_confirmation_first_and_an_ended_run_refuses_with_why(
    console: ConsoleFactory, console_stack: Stack
) -> None:
    _journey_id, _customer_id, workflow_id = await waiting_run(console_stack)
    ops = await console("ops")
    asked = await ops.post(f"/console/runs/{workflow_id}/end", {"reason": "wrong segment"})
    assert asked.status_code == 200 and "End the run?" in asked.text
    assert 'name="confirmed" value="yes"' in asked.text
    running = console_stack.store.runs.running(workflow_id)
    assert running is not None
    ended = await ops.post(
        f"/console/runs/{workflow_id}/end", {"reason": "wrong segment", "confirmed": "yes"}
    )
    assert ended.status_code == 200, ended.text
    assert "Done:" in ended.text

    async def stopped() -> bool:
        return console_stack.store.runs.running(workflow_id) is None

    await eventually(stopped, what="the run to stop")
    again = await ops.post(f"/console/runs/{workflow_id}/skip-wait", {"reason": "too late"})
    assert again.status_code == 409
    assert "Refused:" in again.text and "ended" in again.text
    unknown = await ops.post(f"/console/runs/{workflow_id}/jump", {"reason": "x"})
    assert unknown.status_code == 404
    no_reason = await ops.post(f"/console/runs/{workflow_id}/skip-wait", {"reason": ""})
    assert no_reason.status_code == 400


def test_moments_in_engine_text_are_written_in_the_customers_time_and_nonsense_is_left() -> None:
    user: Any = SimpleNamespace(formats=Formats("en", "UTC"))
    text = "until 2026-12-16T09:31:05.453128+00:00: open case cs-1; 2026-99-99T00:00:00Z stays"
    assert moments_in(user, text, "Asia/Shanghai") == (
        "until Dec 16, 2026, 5:31:05\u202fPM: open case cs-1; 2026-99-99T00:00:00Z stays"
    )

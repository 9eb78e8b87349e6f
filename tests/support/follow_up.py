"""Helpers for the support tests over the HTTP API: a customer in the `follow_up` journey
(tests/support/test_support_steps.py) with the CSAT link of their survey email, and the
callback task a low score books."""

from __future__ import annotations

import re
from typing import Any

import httpx

from domain.loader import load_journey_text
from tests.api.conftest import Stack, eventually, new_customer
from tests.support.test_support_steps import FOLLOW_UP

FORM = {"Content-Type": "application/x-www-form-urlencoded"}


async def surveyed_customer(api: httpx.AsyncClient, stack: Stack, **fields: Any) -> tuple[str, str]:
    """A new customer enrolled in follow_up, and the path of the survey link they were sent."""
    stack.service.publish_definition(load_journey_text(FOLLOW_UP))
    customer = await new_customer(api, **fields)
    enrolled = await api.post("/journeys/follow_up/enrollments", json={"customer_id": customer})
    assert enrolled.status_code == 201, enrolled.text

    async def link() -> str | None:
        for message in stack.channel.to(f"{customer}@example.com"):
            if found := re.search(r"http://api(/s/\S+)", message.text):
                return found.group(1)
        return None

    return customer, await eventually(link, what="the survey email")


async def booked_task(api: httpx.AsyncClient, customer: str) -> dict[str, Any]:
    """The customer's task in the managers' queue, once the run has booked it."""

    async def task() -> list[dict[str, Any]] | None:
        queue = (await api.get("/callbacks", params={"queue": "managers"})).json()
        return [t for t in queue if t["customer_id"] == customer] or None

    [booked] = await eventually(task, what="the callback task")
    return booked


def event_types(stack: Stack, customer: str, type_: str) -> list[dict[str, Any]]:
    """The properties of the customer's logged events of one type."""
    return [e.properties for e in stack.store.events.for_customer(customer) if e.type == type_]

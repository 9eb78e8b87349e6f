"""Journeys over HTTP: list, read a version, pause and resume, enroll by hand."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest_asyncio

from domain.events import MAX_PROPERTIES_BYTES
from entrypoints.api import create_app
from tests.api.conftest import API_KEY, Stack, event, new_customer, new_id

# Every file in journeys/ is published by the fixture; these must be among them.
BUILT_IN = sorted(p.stem for p in (Path(__file__).resolve().parents[2] / "journeys").glob("*.yaml"))


@pytest_asyncio.fixture
async def win_back(api: httpx.AsyncClient) -> AsyncIterator[str]:
    """The win-back journey, left active again whatever the test did to it."""
    try:
        yield "win_back"
    finally:
        await api.post("/journeys/win_back/resume")


async def test_the_built_in_journeys_are_listed(api: httpx.AsyncClient) -> None:
    response = await api.get("/journeys")
    assert response.status_code == 200
    journeys = {j["journey_id"]: j for j in response.json()}
    # Other tests of this session publish journeys of their own beside the built-in ones.
    assert set(BUILT_IN) <= set(journeys)
    assert {"nurture", "onboarding", "post_purchase", "win_back", "vip_care"} <= set(journeys)
    onboarding = journeys["onboarding"]
    assert onboarding["trigger_event"] == "signed_up"
    assert onboarding["category"] == "marketing"
    assert onboarding["latest_version"] >= 1


async def test_a_journey_is_read_with_its_definition(api: httpx.AsyncClient) -> None:
    response = await api.get("/journeys/post_purchase")
    assert response.status_code == 200
    detail = response.json()
    assert detail["summary"]["journey_id"] == "post_purchase"
    assert detail["version"] == detail["summary"]["latest_version"]
    definition = detail["definition"]
    assert definition["trigger"]["correlate_on"] == "order_id"
    assert [s["id"] for s in definition["steps"]][:2] == ["thanks", "delivered"]
    # Published form: aliases, no nulls (`for`, not `for_`).
    settle = next(s for s in definition["steps"] if s["id"] == "settle")
    assert settle["wait"] == {"for": "3d", "until": "10:00"}


async def test_a_journey_version_can_be_asked_for(api: httpx.AsyncClient) -> None:
    assert (await api.get("/journeys/onboarding?version=1")).json()["version"] == 1
    missing = await api.get("/journeys/onboarding?version=999")
    assert missing.status_code == 404
    assert "no version 999" in missing.json()["detail"]


async def test_an_unknown_journey_is_not_found_everywhere(api: httpx.AsyncClient) -> None:
    customer_id = await new_customer(api)
    for method, path, body in [
        ("GET", "/journeys/nope", None),
        ("POST", "/journeys/nope/pause", None),
        ("POST", "/journeys/nope/resume", None),
        ("POST", "/journeys/nope/enrollments", {"customer_id": customer_id}),
    ]:
        response = await api.request(method, path, json=body)
        assert response.status_code == 404, path
        assert "unknown journey 'nope'" in response.json()["detail"]


async def test_enrolling_an_unknown_customer_is_not_found(api: httpx.AsyncClient) -> None:
    ghost = new_id("ghost")
    response = await api.post("/journeys/onboarding/enrollments", json={"customer_id": ghost})
    assert response.status_code == 404
    assert f"unknown customer {ghost!r}" in response.json()["detail"]


async def test_a_manual_enrollment_starts_a_run(api: httpx.AsyncClient, stack: Stack) -> None:
    customer_id = await new_customer(api)
    response = await api.post(
        "/journeys/post_purchase/enrollments",
        json={"customer_id": customer_id, "properties": {"order_id": "o-7"}},
    )
    assert response.status_code == 201, response.text
    assert response.json() == {
        "journey_id": "post_purchase",
        "workflow_id": f"journey/post_purchase/{customer_id}/o-7",
        "action": "started",
        "reason": "first entry",
    }
    [run] = stack.store.runs.for_customer(customer_id)
    assert run.correlation_key == "o-7"


async def test_the_same_idempotency_key_twice_has_one_effect(
    api: httpx.AsyncClient, stack: Stack
) -> None:
    customer_id = await new_customer(api)
    request = {"customer_id": customer_id}
    headers = {"Idempotency-Key": "req-42"}
    first = await api.post("/journeys/onboarding/enrollments", json=request, headers=headers)
    again = await api.post("/journeys/onboarding/enrollments", json=request, headers=headers)
    assert (first.status_code, first.json()["action"]) == (201, "started")
    assert again.status_code == 200
    assert again.json()["workflow_id"] == first.json()["workflow_id"]
    assert len(stack.store.runs.for_customer(customer_id)) == 1
    # (The run's own sends add message_* events to the log as they go out.)
    logged = [e.type for e in stack.store.events.for_customer(customer_id)]
    assert [t for t in logged if not t.startswith("message_")] == ["journey_enrolled"]


async def test_the_request_id_in_the_body_also_makes_a_retry_harmless(
    api: httpx.AsyncClient, stack: Stack
) -> None:
    customer_id = await new_customer(api)
    request = {"customer_id": customer_id, "request_id": "req-1"}
    for _ in range(2):
        await api.post("/journeys/onboarding/enrollments", json=request)
    logged = [e.type for e in stack.store.events.for_customer(customer_id)]
    assert logged.count("journey_enrolled") == 1


async def test_an_idempotency_key_that_contradicts_the_request_id_is_refused(
    api: httpx.AsyncClient, stack: Stack
) -> None:
    customer_id = await new_customer(api)
    response = await api.post(
        "/journeys/onboarding/enrollments",
        json={"customer_id": customer_id, "request_id": "a"},
        headers={"Idempotency-Key": "b"},
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "request_id"]
    assert stack.store.runs.for_customer(customer_id) == []


async def test_a_paused_journey_refuses_enrollment_until_resumed(
    api: httpx.AsyncClient, stack: Stack, win_back: str
) -> None:
    customer_id = await new_customer(api)
    paused = await api.post(f"/journeys/{win_back}/pause")
    assert paused.status_code == 200
    assert paused.json()["status"] == "paused"

    refused = await api.post(f"/journeys/{win_back}/enrollments", json={"customer_id": customer_id})
    assert refused.status_code == 409
    assert "paused" in refused.json()["detail"]
    assert stack.store.runs.for_customer(customer_id) == []

    # Its trigger does not start it either, while paused.
    lapsed = await api.post("/events", json=event(customer_id, "customer_lapsed"))
    assert lapsed.status_code == 202
    assert lapsed.json()["deliveries"] == []

    resumed = await api.post(f"/journeys/{win_back}/resume")
    assert resumed.json()["status"] == "active"
    enrolled = await api.post(
        f"/journeys/{win_back}/enrollments", json={"customer_id": customer_id}
    )
    assert enrolled.status_code == 201
    assert enrolled.json()["workflow_id"] == f"journey/win_back/{customer_id}"


async def test_pausing_twice_is_harmless(api: httpx.AsyncClient, win_back: str) -> None:
    first = await api.post(f"/journeys/{win_back}/pause")
    again = await api.post(f"/journeys/{win_back}/pause")
    assert again.status_code == 200
    assert again.json() == first.json()


async def test_enrollment_properties_over_the_event_limit_are_refused(
    api: httpx.AsyncClient, stack: Stack
) -> None:
    customer_id = await new_customer(api)
    roomy = create_app(stack.service, api_key=API_KEY, max_request_bytes=MAX_PROPERTIES_BYTES * 2)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=roomy),
        base_url="http://api",
        headers={"X-API-Key": API_KEY},
    ) as client:
        response = await client.post(
            "/journeys/onboarding/enrollments",
            json={"customer_id": customer_id, "properties": {"blob": "z" * MAX_PROPERTIES_BYTES}},
        )
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "properties"]
    assert stack.store.runs.for_customer(customer_id) == []

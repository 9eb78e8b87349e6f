"""Request limits: body size (declared or streamed) and events per batch."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx

from tests.api.conftest import (
    MAX_BATCH_EVENTS,
    MAX_REQUEST_BYTES,
    Stack,
    event,
    logged,
    new_customer,
)

JSON = {"Content-Type": "application/json"}


async def test_a_body_over_the_limit_is_refused_and_nothing_is_stored(
    api: httpx.AsyncClient, stack: Stack
) -> None:
    customer_id = await new_customer(api)
    padding = "x" * (MAX_REQUEST_BYTES // 4)
    batch = [event(customer_id, note=padding) for _ in range(4)]
    response = await api.post("/events/batch", json={"events": batch})
    assert response.status_code == 413
    assert response.json() == {
        "detail": f"request body is larger than {MAX_REQUEST_BYTES} bytes "
        "(JOURNEYS_MAX_REQUEST_BYTES); send less per request"
    }
    assert logged(stack, customer_id) == []


async def test_a_chunked_body_is_counted_as_it_streams_and_refused_past_the_limit(
    api: httpx.AsyncClient, stack: Stack
) -> None:
    customer_id = await new_customer(api)
    body = httpx.Request("POST", "/", json={"events": [event(customer_id, note="y" * 2000)] * 3})
    # Valid JSON, but padded with whitespace past the limit and sent without Content-Length.
    content = body.content + b" " * MAX_REQUEST_BYTES

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(content), 4096):
            yield content[start : start + 4096]

    response = await api.post("/events/batch", content=chunks(), headers=JSON)
    assert response.request.headers["transfer-encoding"] == "chunked"
    assert response.status_code == 413
    assert logged(stack, customer_id) == []


async def test_a_chunked_body_under_the_limit_is_served(
    api: httpx.AsyncClient, stack: Stack
) -> None:
    customer_id = await new_customer(api)
    body = event(customer_id)
    content = httpx.Request("POST", "/", json=body).content

    async def chunks() -> AsyncIterator[bytes]:
        yield content[:10]
        yield content[10:]

    response = await api.post("/events", content=chunks(), headers=JSON)
    assert response.status_code == 202, response.text
    assert logged(stack, customer_id) == [body["event_id"]]


async def test_a_batch_over_the_event_limit_is_refused_and_nothing_is_stored(
    api: httpx.AsyncClient, stack: Stack
) -> None:
    customer_id = await new_customer(api)
    batch = [event(customer_id) for _ in range(MAX_BATCH_EVENTS + 1)]
    response = await api.post("/events/batch", json={"events": batch})
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["loc"] == ["body", "events"]
    assert f"at most {MAX_BATCH_EVENTS} events" in error["msg"]
    assert logged(stack, customer_id) == []


async def test_a_batch_at_the_event_limit_is_accepted(api: httpx.AsyncClient, stack: Stack) -> None:
    customer_id = await new_customer(api)
    batch = [event(customer_id) for _ in range(MAX_BATCH_EVENTS)]
    response = await api.post("/events/batch", json={"events": batch})
    assert response.status_code == 202
    assert len(logged(stack, customer_id)) == MAX_BATCH_EVENTS


async def test_a_malformed_content_length_is_a_bad_request(api: httpx.AsyncClient) -> None:
    response = await api.post(
        "/events", content=b"{}", headers={"Content-Length": "lots", "Content-Type": "json"}
    )
    assert response.status_code == 400
    assert "Content-Length" in response.json()["detail"]

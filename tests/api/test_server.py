"""The app under a real uvicorn server in this process, over real sockets."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from entrypoints.api import create_app_from_settings, running, serve
from tests.api.conftest import API_KEY, MAX_REQUEST_BYTES, Stack, event, make_app, new_id
from workers.settings import Settings


async def test_the_served_api_answers_over_http_and_stops_when_the_block_ends(
    stack: Stack,
) -> None:
    async with (
        running(make_app(stack)) as url,
        httpx.AsyncClient(base_url=url, headers={"X-API-Key": API_KEY}) as client,
    ):
        assert (await client.get("/health")).json() == {"status": "ok"}
        customer_id = new_id()
        put = await client.put(f"/customers/{customer_id}", json={"locale": "de"})
        assert put.status_code == 200
        assert (await client.get(f"/customers/{customer_id}")).json()["locale"] == "de"
        assert (await client.get("/journeys", headers={"X-API-Key": "no"})).status_code == 401
    with pytest.raises(httpx.ConnectError):
        async with httpx.AsyncClient(base_url=url) as client:
            await client.get("/health")


async def test_a_declared_oversize_body_is_refused_before_it_is_sent(stack: Stack) -> None:
    async with running(make_app(stack)) as url:
        host, port = url.removeprefix("http://").rsplit(":", 1)
        reader, writer = await asyncio.open_connection(host, int(port))
        writer.write(
            b"POST /events HTTP/1.1\r\nHost: api\r\nContent-Type: application/json\r\n"
            + f"X-API-Key: {API_KEY}\r\nContent-Length: {10 * MAX_REQUEST_BYTES}\r\n\r\n".encode()
        )
        await writer.drain()
        # No body follows: the answer must come from the headers alone.
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=5)
        writer.close()
        await writer.wait_closed()
    assert head.startswith(b"HTTP/1.1 413 ")


async def test_a_chunked_oversize_body_is_refused_by_the_served_api(stack: Stack) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"events": ['
        for _ in range(MAX_REQUEST_BYTES // 1000 + 1):
            yield b" " * 1000

    async with (
        running(make_app(stack)) as url,
        httpx.AsyncClient(base_url=url, headers={"X-API-Key": API_KEY}) as client,
    ):
        response = await client.post(
            "/events/batch", content=chunks(), headers={"Content-Type": "application/json"}
        )
    assert response.status_code == 413
    assert "JOURNEYS_MAX_REQUEST_BYTES" in response.json()["detail"]


async def test_serving_on_a_port_in_use_fails_with_an_os_error(stack: Stack) -> None:
    app = make_app(stack)
    async with running(app) as url:
        port = int(url.rsplit(":", 1)[1])
        with pytest.raises(OSError):
            await serve(app, "127.0.0.1", port)


async def test_an_app_built_from_settings_serves_with_the_configured_key(tmp_path: Path) -> None:
    settings = Settings(
        database_url=f"sqlite:///{tmp_path}/journeys.db", api_key="settings-key", max_batch_events=2
    )
    async with (
        running(create_app_from_settings(settings)) as url,
        httpx.AsyncClient(base_url=url, headers={"X-API-Key": "settings-key"}) as client,
    ):
        assert (await client.get("/journeys")).json() == []
        batch = {"events": [event("nobody") for _ in range(3)]}
        assert (await client.post("/events/batch", json=batch)).status_code == 422


def test_an_app_from_settings_refuses_to_start_without_a_key(tmp_path: Path) -> None:
    settings = Settings(database_url=f"sqlite:///{tmp_path}/journeys.db", api_key=None)
    with pytest.raises(ValueError, match="JOURNEYS_API_KEY"):
        create_app_from_settings(settings)

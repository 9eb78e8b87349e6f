"""Every endpoint x every role: 401 without a key, 403 (naming the role needed) with a role
that may not, neither with one that may. Endpoints are read from the app itself, so a new
endpoint that declares no permission fails here. Also: keys made, listed and revoked over
the API, and per-key rate limits."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import pytest_asyncio
from fastapi.routing import APIRoute

from app.audit import Auditor
from app.journeys import JourneyService
from app.keys import KeyService
from domain.roles import ROLES, roles_for
from entrypoints.api import create_app
from entrypoints.api_common import GuardedRoute, RateLimiter
from store.store import Store
from tests.api.conftest import API_KEY, Stack, make_app


def _bare_app() -> Any:
    """The app over an empty in-memory store: enough to read its routes."""
    store = Store.open("sqlite://")
    return create_app(JourneyService(store, lambda: None, "roles"), api_key="x")


def _routes(routes: list[Any]) -> list[Any]:
    """Every route, those of included routers too (FastAPI keeps them inside the router)."""
    flat = []
    for route in routes:
        inner = getattr(route, "original_router", None)
        flat.extend(_routes(inner.routes) if inner is not None else [route])
    return flat


def _operations() -> list[tuple[str, str, str]]:
    """(method, path with placeholders filled, permission) for every protected operation."""
    app = _bare_app()
    found = []
    for route in _routes(app.routes):
        if not isinstance(route, APIRoute) or not isinstance(route, GuardedRoute):
            continue
        assert route.permission is not None, f"{route.path} declares no permission (requires)"
        path = re.sub(r"\{([^}:]+)(:path)?\}", lambda m: f"roles-{m.group(1)}", route.path)
        for method in sorted(route.methods or ()):
            found.append((method, path, route.permission))
    return found


OPERATIONS = _operations()


def test_every_api_route_but_the_public_ones_is_guarded() -> None:
    app = _bare_app()
    public = {"/health", "/health/ready", "/metrics", "/unsubscribe", "/s/{token}"}
    for route in _routes(app.routes):
        if isinstance(route, APIRoute) and route.include_in_schema:
            assert isinstance(route, GuardedRoute) or route.path in public, route.path


@pytest_asyncio.fixture(scope="module")
async def role_keys(stack: Stack) -> dict[str, str]:
    keys = KeyService(Auditor(stack.store, stack.service.clock))
    tag = uuid.uuid4().hex[:8]
    return {role: keys.create(f"roles-{role}-{tag}", role).key for role in ROLES}


@pytest_asyncio.fixture
async def client(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=make_app(stack))
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
        yield client


async def _call(
    client: httpx.AsyncClient, method: str, path: str, key: str | None
) -> httpx.Response:
    headers = {"X-API-Key": key} if key else {}
    body: dict[str, Any] | None = {} if method in ("POST", "PUT") else None
    return await client.request(method, path, json=body, headers=headers)


@pytest.mark.parametrize(("method", "path", "permission"), OPERATIONS)
async def test_each_endpoint_answers_each_role_as_its_permission_says(
    client: httpx.AsyncClient,
    role_keys: dict[str, str],
    method: str,
    path: str,
    permission: str,
) -> None:
    response = await _call(client, method, path, None)
    assert response.status_code == 401, (method, path, response.text)
    allowed = roles_for(permission)
    for role in ROLES:
        response = await _call(client, method, path, role_keys[role])
        if role in allowed:
            assert response.status_code not in (401, 403), (role, method, path, response.text)
        else:
            assert response.status_code == 403, (role, method, path, response.text)
            detail = response.json()["detail"]
            assert f"has role '{role}'" in detail and "needs role admin" in detail, detail


async def test_viewer_reads_but_does_not_write_and_ingest_only_sends(
    client: httpx.AsyncClient, role_keys: dict[str, str]
) -> None:
    viewer = {"X-API-Key": role_keys["viewer"]}
    assert (await client.get("/journeys", headers=viewer)).status_code == 200
    assert (await client.post("/journeys/onboarding/pause", headers=viewer)).status_code == 403
    ingest = {"X-API-Key": role_keys["ingest"]}
    assert (await client.get("/journeys", headers=ingest)).status_code == 403
    put = await client.put(
        "/customers/roles-ingest", json={"email": "r@example.com"}, headers=ingest
    )
    assert put.status_code == 200, put.text


async def test_metrics_need_their_own_permission_unless_made_public(
    stack: Stack, role_keys: dict[str, str]
) -> None:
    """ops and viewer scrape /metrics, support and ingest get 403; made public, anyone."""
    for public in (False, True):
        app = create_app(stack.service, api_key=API_KEY, metrics_public=public)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
            codes = {
                role: (await client.get("/metrics", headers={"X-API-Key": key})).status_code
                for role, key in role_keys.items()
            }
            anonymous = (await client.get("/metrics")).status_code
        if public:
            assert (codes, anonymous) == ({role: 200 for role in ROLES}, 200)
        else:
            expected = {"admin": 200, "ops": 200, "viewer": 200, "support": 403, "ingest": 403}
            assert (codes, anonymous) == (expected, 401)


async def test_a_key_made_over_the_api_works_until_it_is_revoked(
    client: httpx.AsyncClient,
) -> None:
    admin = {"X-API-Key": API_KEY}
    name = f"crm-{uuid.uuid4().hex[:8]}"
    made = await client.post("/keys", json={"name": name, "role": "viewer"}, headers=admin)
    assert made.status_code == 201, made.text
    key = made.json()["key"]
    assert made.json()["record"]["role"] == "viewer"
    assert (await client.get("/journeys", headers={"X-API-Key": key})).status_code == 200
    listed = (await client.get("/keys", headers=admin)).json()
    [row] = [row for row in listed if row["name"] == name]
    assert "key" not in row and row["last_used_at"] is not None
    again = await client.post("/keys", json={"name": name, "role": "admin"}, headers=admin)
    assert again.status_code == 409
    assert (await client.delete(f"/keys/{name}", headers=admin)).status_code == 200
    refused = await client.get("/journeys", headers={"Authorization": f"Bearer {key}"})
    assert refused.status_code == 401
    assert refused.json()["detail"] == "invalid API key: unknown or revoked key"
    assert (await client.delete("/keys/no-such-key", headers=admin)).status_code == 404


async def test_a_key_is_stored_only_as_its_hash(client: httpx.AsyncClient, stack: Stack) -> None:
    from sqlalchemy import select

    from store.schema import api_keys

    made = await client.post(
        "/keys",
        json={"name": f"h-{uuid.uuid4().hex[:8]}", "role": "ops"},
        headers={"X-API-Key": API_KEY},
    )
    key = made.json()["key"]
    with stack.store.engine.connect() as conn:
        stored = [tuple(row) for row in conn.execute(select(api_keys))]
    assert not any(key in str(value) for row in stored for value in row)


# --- rate limits ----------------------------------------------------------------------------


async def test_a_key_over_its_rate_is_429_with_retry_after(
    stack: Stack, role_keys: dict[str, str]
) -> None:
    app = create_app(stack.service, api_key=API_KEY, rate_limit_per_minute=3)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
        viewer = {"X-API-Key": role_keys["viewer"]}
        statuses = [(await client.get("/journeys", headers=viewer)).status_code for _ in range(4)]
        assert statuses == [200, 200, 200, 429]
        refused = await client.get("/journeys", headers=viewer)
        assert int(refused.headers["Retry-After"]) >= 1
        assert "JOURNEYS_RATE_LIMIT_PER_MINUTE" in refused.json()["detail"]
        # Each key has its own bucket; ingest keys are not limited unless set.
        assert (await client.get("/journeys", headers={"X-API-Key": API_KEY})).status_code == 200
        ingest = {"X-API-Key": role_keys["ingest"]}
        for _ in range(5):
            put = await client.put("/customers/rate-i", json={}, headers=ingest)
            assert put.status_code == 200, put.text


def test_a_bucket_refills_at_the_rate_and_ingest_is_off_unless_set() -> None:
    from domain.audit import Actor

    now = [0.0]
    limiter = RateLimiter(60, None, clock=lambda: now[0])
    ops = Actor(name="o", role="ops")
    assert all(limiter.retry_after(ops) is None for _ in range(60))
    assert limiter.retry_after(ops) == 1
    now[0] += 1.0
    assert limiter.retry_after(ops) is None
    assert all(
        RateLimiter(60).retry_after(Actor(name="i", role="ingest")) is None for _ in range(100)
    )
    capped = RateLimiter(60, 2, clock=lambda: now[0])
    ingest = Actor(name="i", role="ingest")
    assert [capped.retry_after(ingest) for _ in range(3)] == [None, None, 30]
    assert all(RateLimiter(0).retry_after(ops) is None for _ in range(1000))

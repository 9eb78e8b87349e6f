"""Who may call the API: the key as X-API-Key or as a bearer token; /health and docs are open."""

from __future__ import annotations

import httpx
import pytest

from entrypoints.api import create_app
from tests.api.conftest import API_KEY, Stack


async def test_health_answers_without_a_key(anonymous: httpx.AsyncClient) -> None:
    response = await anonymous.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_a_request_without_a_key_is_refused_with_a_challenge(
    anonymous: httpx.AsyncClient,
) -> None:
    response = await anonymous.get("/journeys")
    assert response.status_code == 401
    assert "missing API key" in response.json()["detail"]
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize(
    "headers",
    [
        {"X-API-Key": "not-the-key"},
        {"Authorization": "Bearer not-the-key"},
        {"X-API-Key": API_KEY + "x"},
        {"X-API-Key": "k\xe4y".encode("latin-1")},
    ],
    ids=["wrong-header-key", "wrong-bearer", "longer-key", "non-ascii-key"],
)
async def test_a_request_with_a_wrong_key_is_refused(
    anonymous: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    response = await anonymous.get("/journeys", headers=headers)
    assert response.status_code == 401
    assert response.json() == {"detail": "invalid API key: unknown or revoked key"}
    assert "WWW-Authenticate" in response.headers


async def test_the_key_works_as_a_bearer_token(anonymous: httpx.AsyncClient) -> None:
    response = await anonymous.get("/journeys", headers={"Authorization": f"Bearer {API_KEY}"})
    assert response.status_code == 200


async def test_the_key_works_in_the_x_api_key_header(anonymous: httpx.AsyncClient) -> None:
    response = await anonymous.get("/journeys", headers={"X-API-Key": API_KEY})
    assert response.status_code == 200


async def test_a_write_without_a_key_changes_nothing(
    anonymous: httpx.AsyncClient, stack: Stack
) -> None:
    response = await anonymous.put("/customers/intruder", json={"email": "x@example.com"})
    assert response.status_code == 401
    assert stack.store.customers.get("intruder") is None


async def test_docs_are_open_and_describe_both_ways_to_send_the_key(
    anonymous: httpx.AsyncClient,
) -> None:
    assert (await anonymous.get("/docs")).status_code == 200
    spec = (await anonymous.get("/openapi.json")).json()
    assert spec["info"]["title"] == "journeys"
    schemes = spec["components"]["securitySchemes"]
    assert schemes["ApiKey"] == {
        "type": "apiKey",
        "in": "header",
        "name": "X-API-Key",
        "description": "The API key.",
    }
    assert schemes["Bearer"]["scheme"] == "bearer"
    assert "security" not in spec["paths"]["/health"]["get"]
    assert {"ApiKey": []} in spec["paths"]["/events"]["post"]["security"]
    assert "/runs/{workflow_id}" in spec["paths"]


def test_an_app_cannot_be_built_without_a_key(stack: Stack) -> None:
    with pytest.raises(ValueError, match="API key"):
        create_app(stack.service, api_key="")

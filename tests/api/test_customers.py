"""Customers over HTTP: upsert by id, read back, validation of contact points, 404s."""

from __future__ import annotations

import httpx

from tests.api.conftest import Stack, new_customer, new_id


async def test_a_customer_put_can_be_read_back(api: httpx.AsyncClient) -> None:
    customer_id = new_id()
    put = await api.put(
        f"/customers/{customer_id}",
        json={
            "email": "ada@example.com",
            "phone": "+4915112345678",
            "timezone": "Europe/Berlin",
            "attributes": {"plan": "business"},
            "tags": ["beta"],
        },
    )
    assert put.status_code == 200, put.text
    got = await api.get(f"/customers/{customer_id}")
    assert got.status_code == 200
    profile = got.json()
    assert profile == put.json()
    assert profile["customer_id"] == customer_id
    assert profile["email"] == "ada@example.com"
    assert profile["timezone"] == "Europe/Berlin"
    assert profile["attributes"] == {"plan": "business"}
    assert profile["consent"] == {"email": True, "sms": True, "webhook": True}


async def test_a_second_put_changes_only_the_fields_it_sends(api: httpx.AsyncClient) -> None:
    customer_id = await new_customer(api, attributes={"plan": "free", "city": "Oslo"})
    response = await api.put(
        f"/customers/{customer_id}", json={"attributes": {"plan": "business"}, "locale": "nb"}
    )
    assert response.status_code == 200
    profile = response.json()
    assert profile["attributes"] == {"plan": "business", "city": "Oslo"}
    assert profile["locale"] == "nb"
    assert profile["email"] == f"{customer_id}@example.com"


async def test_a_body_id_equal_to_the_path_is_accepted(api: httpx.AsyncClient) -> None:
    customer_id = new_id()
    response = await api.put(f"/customers/{customer_id}", json={"customer_id": customer_id})
    assert response.status_code == 200
    assert response.json()["customer_id"] == customer_id


async def test_a_body_id_that_differs_from_the_path_is_refused(
    api: httpx.AsyncClient, stack: Stack
) -> None:
    customer_id, other = new_id(), new_id()
    response = await api.put(f"/customers/{customer_id}", json={"customer_id": other})
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["loc"] == ["body", "customer_id"]
    assert stack.store.customers.get(customer_id) is None
    assert stack.store.customers.get(other) is None


async def test_an_invalid_email_is_refused_naming_the_field(
    api: httpx.AsyncClient, stack: Stack
) -> None:
    customer_id = new_id()
    response = await api.put(f"/customers/{customer_id}", json={"email": "not-an-email"})
    assert response.status_code == 422
    assert [e["loc"] for e in response.json()["detail"]] == [["body", "email"]]
    assert stack.store.customers.get(customer_id) is None


async def test_a_phone_number_not_in_e164_form_is_refused(api: httpx.AsyncClient) -> None:
    response = await api.put(f"/customers/{new_id()}", json={"phone": "0151 1234567"})
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["loc"] == ["body", "phone"]
    assert "E.164" in error["msg"]


async def test_an_unknown_timezone_or_field_is_refused(api: httpx.AsyncClient) -> None:
    response = await api.put(
        f"/customers/{new_id()}", json={"timezone": "Mars/Olympus", "shoe_size": 44}
    )
    assert response.status_code == 422
    locs = sorted(e["loc"] for e in response.json()["detail"])
    assert locs == [["body", "shoe_size"], ["body", "timezone"]]


async def test_a_customer_id_outside_the_allowed_characters_is_refused(
    api: httpx.AsyncClient,
) -> None:
    response = await api.put("/customers/-bad id", json={})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["path", "customer_id"]


async def test_an_unknown_customer_is_not_found(api: httpx.AsyncClient) -> None:
    ghost = new_id("ghost")
    for path in (f"/customers/{ghost}", f"/customers/{ghost}/timeline"):
        response = await api.get(path)
        assert response.status_code == 404
        assert f"unknown customer {ghost!r}" in response.json()["detail"]

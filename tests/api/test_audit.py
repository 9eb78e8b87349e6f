"""The audit log over the API: who (key name and role), what, on what, when, from where;
admin only; pages by cursor. A refused or failed change records nothing."""

from __future__ import annotations

import uuid

import httpx

from app.audit import Auditor
from app.keys import KeyService
from tests.api.conftest import API_KEY, Stack, new_customer

ADMIN = {"X-API-Key": API_KEY}


# Paused only for a moment and resumed before the test ends: other tests enroll into it.
JOURNEY = "onboarding"


async def _entries(api: httpx.AsyncClient, **params: str) -> list[dict[str, object]]:
    response = await api.get("/audit", params={"limit": "1000", **params}, headers=ADMIN)
    assert response.status_code == 200, response.text
    entries: list[dict[str, object]] = response.json()["entries"]
    return entries


async def test_pause_resume_and_enroll_are_recorded_with_who_and_from_where(
    api: httpx.AsyncClient, stack: Stack
) -> None:
    journey_id = JOURNEY
    ops = KeyService(Auditor(stack.store, stack.service.clock))
    ops_key = ops.create(f"ops-{uuid.uuid4().hex[:6]}", "ops").key
    as_ops = {"X-API-Key": ops_key}
    assert (await api.post(f"/journeys/{journey_id}/pause", headers=as_ops)).status_code == 200
    assert (await api.post(f"/journeys/{journey_id}/resume", headers=ADMIN)).status_code == 200
    customer = await new_customer(api)
    enrolled = await api.post(
        f"/journeys/{journey_id}/enrollments", json={"customer_id": customer}, headers=as_ops
    )
    assert enrolled.status_code in (200, 201), enrolled.text
    mine = [e for e in await _entries(api) if str(e["target"]).startswith(journey_id)][-3:]
    assert [e["action"] for e in mine] == [
        "journey.pause",
        "journey.resume",
        "enrollment.create",
    ]
    pause, resume, enroll = mine
    assert pause["role"] == "ops" and str(pause["actor"]).startswith("ops-")
    assert resume["actor"] == "env:JOURNEYS_API_KEY" and resume["role"] == "admin"
    assert enroll["target"] == f"{journey_id}/{customer}" and enroll["role"] == "ops"
    assert pause["address"] == "127.0.0.1"
    assert pause["details"] == {"status": "paused"}


async def test_a_failed_change_records_nothing(api: httpx.AsyncClient) -> None:
    before = await _entries(api)
    assert (await api.post("/journeys/no-such-journey/pause", headers=ADMIN)).status_code == 404
    assert await _entries(api) == before


async def test_consent_change_and_key_changes_are_recorded(api: httpx.AsyncClient) -> None:
    customer = await new_customer(api)
    changed = await api.put(f"/customers/{customer}/consent", json={"email": False}, headers=ADMIN)
    assert changed.status_code == 200, changed.text
    [consent] = (await _entries(api, action="consent.change", actor="env:JOURNEYS_API_KEY"))[-1:]
    assert consent["target"] == customer and consent["details"]["email"] is False  # type: ignore[index]
    name = f"k-{uuid.uuid4().hex[:6]}"
    await api.post("/keys", json={"name": name, "role": "viewer"}, headers=ADMIN)
    await api.delete(f"/keys/{name}", headers=ADMIN)
    keys = [e for e in await _entries(api) if e["target"] == name]
    assert [e["action"] for e in keys] == ["key.create", "key.revoke"]
    assert keys[0]["details"] == {"role": "viewer"}


async def test_the_log_pages_by_cursor_and_filters(api: httpx.AsyncClient, stack: Stack) -> None:
    journey_id = JOURNEY
    before = len(await _entries(api, action="journey.pause"))
    for _ in range(3):
        await api.post(f"/journeys/{journey_id}/pause", headers=ADMIN)
    await api.post(f"/journeys/{journey_id}/resume", headers=ADMIN)
    everything = [e["seq"] for e in await _entries(api)]
    seen: list[object] = []
    after: str | None = None
    while True:
        params = {"limit": "2", **({"after": after} if after else {})}
        page = (await api.get("/audit", params=params, headers=ADMIN)).json()
        seen.extend(e["seq"] for e in page["entries"])
        if page["next"] is None:
            break
        after = str(page["next"])
    assert seen == everything
    only = await _entries(api, action="journey.pause")
    assert len(only) == before + 3
    assert all(e["action"] == "journey.pause" for e in only)
    assert (
        await api.get("/audit", params={"action": "nonsense"}, headers=ADMIN)
    ).status_code == 422


async def test_an_erasure_is_recorded(api: httpx.AsyncClient) -> None:
    customer = await new_customer(api)
    erased = await api.delete(f"/customers/{customer}", headers=ADMIN)
    assert erased.status_code == 200, erased.text
    erasures = await _entries(api, action="customer.erase")
    [entry] = [e for e in erasures if e["target"] == customer]
    assert entry["actor"] == "env:JOURNEYS_API_KEY" and entry["role"] == "admin"

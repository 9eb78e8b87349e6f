"""`POST /broadcasts`, `GET /broadcasts`, `GET /broadcasts/{name}` on the real stack: ops may
create (audited as its key), a viewer may only read; every refusal names its field and writes
nothing; the progress the API reports is what the SMTP capture received."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest_asyncio

from app.audit import Auditor
from app.bootstrap import make_service
from app.keys import KeyService
from entrypoints.api import create_app
from tests.broadcasts.conftest import Stack, eventually
from workers.settings import get_settings

API_KEY = "broadcast-api-key-0123456789"
TEMPLATE: dict[str, Any] = {
    "subject": "Spring sale, {{ profile.first_name | default('friend') }}",
    "text": "Everything is 10% off.",
    "locales": {"zh-CN": {"subject": "春季促销", "text": "全场九折。"}},
}


@pytest_asyncio.fixture(scope="module")
async def keys(stack: Stack) -> dict[str, str]:
    service = KeyService(Auditor(stack.store, lambda: datetime.now(UTC)))
    tag = uuid.uuid4().hex[:6]
    return {
        role: service.create(f"bc-{role}-{tag}", role).key for role in ("ops", "viewer", "ingest")
    }


@pytest_asyncio.fixture
async def api(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(make_service(get_settings(), stack.store), api_key=API_KEY)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://api"
    ) as client:
        yield client


def body(name: str, **changes: Any) -> dict[str, Any]:
    return {"name": name, "segment": "api", "channel": "email", "template": TEMPLATE} | changes


async def test_ops_creates_a_viewer_reads_and_the_progress_is_what_was_sent(
    stack: Stack, api: httpx.AsyncClient, keys: dict[str, str]
) -> None:
    members = stack.customers("api", 3)
    ops, viewer = {"X-API-Key": keys["ops"]}, {"X-API-Key": keys["viewer"]}
    before = stack.rows()
    refused = await api.post("/broadcasts", json=body("spring"), headers=viewer)
    assert refused.status_code == 403, refused.text
    assert "needs role admin or ops (journeys:write)" in refused.json()["detail"]
    ingest = await api.get("/broadcasts", headers={"X-API-Key": keys["ingest"]})
    assert ingest.status_code == 403
    assert stack.rows() == before

    created = await api.post("/broadcasts", json=body("spring"), headers=ops)
    assert created.status_code == 201, created.text
    assert created.json()["journey_id"] == "broadcast_spring"
    assert created.json()["created_by"].startswith("bc-ops-")

    async def done() -> dict[str, Any] | None:
        shown = await api.get("/broadcasts/spring", headers=viewer)
        assert shown.status_code == 200, shown.text
        detail: dict[str, Any] = shown.json()
        return detail if detail["progress"]["state"] == "done" else None

    detail = await eventually(done, what="spring done")
    sent = stack.mails_to(members)
    assert sent == {m: 1 for m in members}
    progress = detail["progress"]
    assert (progress["members"], progress["enrolled"], progress["sent"]) == (
        3,
        3,
        sum(sent.values()),
    )
    assert (progress["skipped"], progress["failed"], progress["deferred"]) == (0, 0, 0)
    [step] = detail["funnel"]["steps"]
    assert (step["step_id"], step["entered"], step["completed"]) == ("send", 3, 3)
    listed = await api.get("/broadcasts", headers=viewer)
    assert "spring" in [b["name"] for b in listed.json()]
    [entry] = [
        e for e in stack.store.audit.page(action="broadcast.create", limit=500).entries
        if e.target == "spring"
    ]  # fmt: skip
    assert entry.actor.startswith("bc-ops-") and entry.details["segment"] == "api"

    again = await api.post("/broadcasts", json=body("spring"), headers=ops)
    assert again.status_code == 409, again.text
    assert again.json()["detail"].startswith("name: a broadcast named 'spring' exists already")


async def test_each_refusal_names_its_field_and_writes_nothing(
    stack: Stack, api: httpx.AsyncClient, keys: dict[str, str]
) -> None:
    stack.customers("api", 1)
    ops = {"X-API-Key": keys["ops"]}
    naive = (datetime.now(UTC) + timedelta(hours=1)).replace(tzinfo=None).isoformat()
    cases: list[tuple[dict[str, Any], int, str]] = [
        (body("r1", at="2020-01-01T00:00:00Z"), 422, "at"),
        (body("r2", at=naive), 422, "at"),
        (body("r3", template={"text": "no subject"}), 422, "channel"),
        (body("r4", template={"subject": "{{ profile.frist }}", "text": "x"}), 422, "template"),
        (body("r5", template={"subject": "x", "text": "x", "from": "me"}), 422, "template"),
        (body("Bad-Name"), 422, "name"),
        (body("r6", channel="fax"), 422, "channel"),
        (body("r7", segment="vips"), 404, "segment"),
        (body("r8", segment="nobody"), 409, "segment"),
        (body("r9", channel="sms"), 409, "channel"),
    ]
    before = stack.rows()
    for request, status, field in cases:
        response = await api.post("/broadcasts", json=request, headers=ops)
        assert response.status_code == status, (request, response.text)
        detail = response.json()["detail"]
        if status == 422:
            assert any(error["loc"][:2] == ["body", field] for error in detail), detail
        else:
            assert detail.startswith(f"{field}: "), detail
        assert stack.rows() == before, request
    missing = await api.get("/broadcasts/r1", headers=ops)
    assert missing.status_code == 404

"""POST /journeys/impact: the report `journeys impact` prints, as JSON, over a store of its own
(no Temporal needed without a simulation); a definition `validate` refuses is 422 naming the
step and field; nothing is published or written."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
import yaml
from sqlalchemy import func, select

from app.journeys import JourneyService
from domain.customers import CustomerUpsert
from domain.loader import parse_journey
from domain.runs import Enrollment, StepEvent
from entrypoints.api import create_app
from store.schema import metadata
from store.store import Store

NURTURE = Path(__file__).resolve().parents[2] / "journeys" / "nurture.yaml"
KEY = "impact-test-key-0123456789"
NOW = datetime.now(UTC).replace(microsecond=0)


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store.open(f"sqlite:///{tmp_path / 'impact.db'}")


@pytest_asyncio.fixture
async def api(store: Store) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(JourneyService(store, lambda: None, "impact"), api_key=KEY)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://api", headers={"X-API-Key": KEY}
    ) as client:
        yield client


def nurture() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(NURTURE.read_text())
    return document


def counts(store: Store) -> dict[str, int]:
    with store.engine.connect() as conn:
        return {
            t.name: conn.scalar(select(func.count()).select_from(t)) or 0
            for t in metadata.sorted_tables
        }


async def test_the_report_of_a_definition_against_the_runs_in_flight(
    api: httpx.AsyncClient, store: Store
) -> None:
    JourneyService(store, lambda: None, "impact").publish_definition(parse_journey(nurture()))
    for n, step in enumerate(["reviews", "intro", "reviews"]):
        customer = f"lead-{n}"
        store.customers.upsert(CustomerUpsert(customer_id=customer), NOW)
        entry = f"entry-{n}"
        workflow = f"journey/nurture/{customer}"
        store.runs.enroll(
            Enrollment(
                entry_id=entry,
                workflow_id=workflow,
                journey_id="nurture",
                version=1,
                customer_id=customer,
                entered_at=NOW,
            )
        )
        record = StepEvent(
            workflow_id=workflow,
            entry_id=entry,
            journey_id="nurture",
            version=1,
            customer_id=customer,
            step_id=step,
            kind="send",
            status="entered",
            at=NOW,
        )
        store.runs.record_steps(entry, [record], step)
    store.customers.upsert(CustomerUpsert(customer_id="lead-new"), NOW)
    draft = nurture()
    draft["steps"] = [s for s in draft["steps"] if s["id"] not in ("wait_reviews", "reviews")]
    before = counts(store)
    response = await api.post("/journeys/impact?sample=0", json=draft)
    assert response.status_code == 200, response.text
    report = response.json()
    assert report["published_version"] == 1 and report["new_label"] == "nurture (draft)"
    assert report["summary"] == "1 step changed, 2 steps removed"  # best_sellers goes on
    [version] = report["in_flight"]
    assert (version["version"], version["runs"], version["on_removed"]) == (1, 3, 2)
    fates = {s["step_id"]: (s["fate"], s["runs"]) for s in version["steps"]}
    assert fates == {"intro": ("unchanged", 1), "reviews": ("removed", 2)}
    audience = report["audience"]
    assert audience["segment"] == "never_ordered"
    assert (audience["members"], audience["would_enroll"], audience["blocked"]) == (4, 1, 3)
    assert report["funnel"] is None
    assert counts(store) == before
    summary = store.journeys.get("nurture")
    assert summary is not None and summary.latest_version == 1


async def test_a_definition_validate_refuses_is_422_naming_step_and_field(
    api: httpx.AsyncClient, store: Store
) -> None:
    draft = nurture()
    draft["steps"][0] = {"id": "intro", "goto": "nowhere"}
    draft["audience"]["segment"] = "no_such_segment"
    response = await api.post("/journeys/impact?sample=0", json=draft)
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert any(
        d["loc"][:3] == ["body", "steps", "intro"] and "nowhere" in d["msg"] for d in detail
    ), detail
    assert any(
        d["loc"] == ["body", "audience", "segment"] and "no_such_segment" in d["msg"]
        for d in detail
    ), detail
    assert (await api.post("/journeys/impact", json={"id": "x"})).status_code == 422
    assert store.journeys.get("nurture") is None


async def test_a_new_journey_gets_its_simulated_funnel_alone(
    api: httpx.AsyncClient, store: Store
) -> None:
    for n in range(5):
        store.customers.upsert(
            CustomerUpsert(customer_id=f"lead-{n}", email=f"lead-{n}@example.com"), NOW
        )
    before = counts(store)
    response = await api.post("/journeys/impact?sample=5&days=3", json=nurture())
    assert response.status_code == 200, response.text
    report = response.json()
    assert report["published_version"] is None and report["in_flight"] == []
    assert report["notes"] == ["publishing would create nurture v1"]
    funnel = report["funnel"]
    assert funnel["current"] is None and funnel["new"]["customers"] == 5
    assert funnel["sample"].startswith("5 members of segment never_ordered")
    intro = next(row for row in funnel["rows"] if row["step_id"] == "intro")
    assert intro["current"] is None and intro["new"]["entered"] == 5
    assert counts(store) == before

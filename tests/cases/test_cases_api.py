"""Cases through the HTTP API and the CLI, on a real Temporal dev server and worker."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import httpx

from domain.customers import CustomerUpsert
from tests.api.conftest import Stack, api, new_customer, stack
from tests.cases.conftest import Journeys

__all__ = ["api", "stack"]


async def test_a_case_over_http_from_open_to_resolved(api: httpx.AsyncClient) -> None:
    customer = await new_customer(api)
    body = {"customer_id": customer, "category": "billing", "severity": "high", "summary": "x2"}
    opened = await api.post("/cases", json=body, headers={"Idempotency-Key": f"open-{customer}"})
    assert opened.status_code == 201, opened.text
    case_id = opened.json()["case_id"]
    again = await api.post("/cases", json=body, headers={"Idempotency-Key": f"open-{customer}"})
    assert again.json()["case_id"] == case_id  # a retried request opens one case
    assigned = await api.post(f"/cases/{case_id}/assign", json={"agent": "lin"})
    assert assigned.status_code == 200 and assigned.json()["assignee"] == "lin"
    noted = await api.post(f"/cases/{case_id}/notes", json={"text": "called", "by": "lin"})
    assert "note" in [e["action"] for e in noted.json()["history"]]
    resolved = await api.post(
        f"/cases/{case_id}/resolve", json={"resolution": "refunded", "by": "lin"}
    )
    assert resolved.status_code == 200 and resolved.json()["status"] == "resolved"
    twice = await api.post(f"/cases/{case_id}/resolve", json={"resolution": "again", "by": "lin"})
    assert twice.status_code == 409 and "is resolved; reopen it first" in twice.json()["detail"]
    shown = (await api.get(f"/cases/{case_id}")).json()
    assert shown["resolution"] == "refunded"
    listed = (await api.get("/cases", params={"customer_id": customer})).json()
    assert [c["case_id"] for c in listed] == [case_id]


async def test_bad_case_requests_are_refused_and_record_nothing(
    api: httpx.AsyncClient, stack: Stack
) -> None:
    unknown = await api.post(
        "/cases", json={"customer_id": "nobody-x", "category": "billing", "summary": "?"}
    )
    assert unknown.status_code == 404 and "nobody-x" in unknown.json()["detail"]
    customer = await new_customer(api)
    bad = await api.post(
        "/cases",
        json={"customer_id": customer, "category": "billing", "severity": "dire", "summary": "?"},
    )
    assert bad.status_code == 422
    assert stack.store.cases.list(customer_id=customer) == []
    missing = await api.post("/cases/cs-nope/resolve", json={"resolution": "x", "by": "lin"})
    assert missing.status_code == 404


async def test_the_cases_cli(stack: Stack, cli: Journeys) -> None:
    customer = f"cli-{uuid.uuid4().hex[:8]}"
    stack.store.customers.upsert(
        CustomerUpsert(customer_id=customer, email=f"{customer}@example.com"), datetime.now(UTC)
    )
    journeys = cli
    code, out = await journeys(
        "cases",
        "open",
        customer,
        "--category",
        "delivery",
        "--summary",
        "late",
        "--severity",
        "low",
    )
    assert code == 0, out
    case_id = out.split()[0]
    assert (await journeys("cases", "assign", case_id, "mo"))[0] == 0
    code, out = await journeys("cases", "list", "--customer", customer)
    assert case_id in out and "mo" in out
    code, out = await journeys(
        "cases", "resolve", case_id, "--agent", "mo", "--resolution", "found it"
    )
    assert code == 0 and "resolved" in out
    code, out = await journeys(
        "cases", "resolve", case_id, "--agent", "mo", "--resolution", "again"
    )
    assert code == 1 and "reopen it first" in out
    code, out = await journeys("cases", "show", case_id)
    assert code == 0 and "found it" in out
    code, out = await journeys("cases", "open", "ghost-1", "--category", "x", "--summary", "y")
    assert code == 1 and "ghost-1" in out


async def test_respond_and_reopen_over_http_follow_the_cases_state(
    api: httpx.AsyncClient, stack: Stack
) -> None:
    customer = await new_customer(api)
    body = {"customer_id": customer, "category": "product", "summary": "Stopped working"}
    case_id = (await api.post("/cases", json=body)).json()["case_id"]
    early = await api.post(f"/cases/{case_id}/reopen", json={"reason": "x", "by": "lin"})
    assert early.status_code == 409 and "only a resolved case reopens" in early.json()["detail"]
    empty = await api.post(f"/cases/{case_id}/respond", json={"text": "", "by": "lin"})
    assert empty.status_code == 422
    answered = await api.post(f"/cases/{case_id}/respond", json={"text": "On it", "by": "lin"})
    assert answered.status_code == 200, answered.text
    assert answered.json()["first_response_at"] is not None and answered.json()["assignee"] == "lin"
    # The acknowledgement may still be on its way, so the reply need not be the last line.
    history = [(e["action"], e["by"], e["text"]) for e in answered.json()["history"]]
    assert ("responded", "lin", "On it") in history
    await api.post(f"/cases/{case_id}/resolve", json={"resolution": "Reset it", "by": "lin"})
    late = await api.post(f"/cases/{case_id}/respond", json={"text": "hi", "by": "lin"})
    assert late.status_code == 409 and "reopen it first" in late.json()["detail"]
    reopened = await api.post(f"/cases/{case_id}/reopen", json={"reason": "Again", "by": "mo"})
    assert reopened.status_code == 200 and reopened.json()["status"] == "open"
    assert reopened.json()["resolved_at"] is None
    types = [e.type for e in stack.store.events.for_customer(customer)]
    assert types.count("case_reopened") == 1 and types.count("case_resolved") == 1
    missing = await api.post("/cases/cs-nope/reopen", json={"reason": "x", "by": "lin"})
    assert missing.status_code == 404

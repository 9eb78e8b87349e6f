"""Privacy over HTTP, end to end on a real Temporal dev server: a customer's export, and an
erasure that ends their runs in Temporal, scrubs the store, keeps the funnel's counts, and
refuses the customer's late events, upserts and enrollments."""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
from sqlalchemy import select
from temporalio.client import WorkflowExecutionStatus

from app.cases import case_workflow_id
from domain.cases import OpenCase, StartCase
from domain.loader import load_journey_text
from store.reports import ReportRepository
from store.schema import audit_log, metadata
from store.suppression import Suppression
from tests.api.conftest import SURVEY_LINKS, Stack, event, eventually, new_customer, new_id
from tests.support.follow_up import FORM
from tests.support.test_support_steps import FOLLOW_UP
from workers.worker import activities_for, build_worker
from workflows.case import CaseWorkflow

PHONE = "+4915112345678"
SECRET_ATTRIBUTE = "left-handed-violinist"
CASE_SUMMARY = "Parcel to 12 Nightingale Lane never came"


async def _customer_with_everything(api: httpx.AsyncClient, stack: Stack) -> dict[str, Any]:
    """A customer with two running runs (one waiting on a callback), messages, an answered
    survey, an open case and an open callback task."""
    journey_id = f"erase_{uuid.uuid4().hex[:8]}"
    stack.service.publish_definition(
        load_journey_text(FOLLOW_UP.replace("id: follow_up", f"id: {journey_id}", 1))
    )
    customer = await new_customer(api, phone=PHONE, attributes={"hobby": SECRET_ATTRIBUTE})
    email = f"{customer}@example.com"
    enrolled = await api.post(f"/journeys/{journey_id}/enrollments", json={"customer_id": customer})
    assert enrolled.status_code == 201, enrolled.text

    async def link() -> str | None:
        for message in stack.channel.to(email):
            if found := re.search(r"http://api(/s/\S+)", message.text):
                return found.group(1)
        return None

    path = await eventually(link, what="the survey email")
    answered = await api.post(path, content="score=1&comment=awful+service", headers=FORM)
    assert answered.status_code == 200, answered.text

    async def task() -> list[dict[str, Any]] | None:
        queue = (await api.get("/callbacks", params={"queue": "managers"})).json()
        return [t for t in queue if t["customer_id"] == customer] or None

    [callback] = await eventually(task, what="the callback task")
    signed_up = event(customer, "signed_up", source="spring-ads-campaign", referrer=email)
    assert (await api.post("/events", json=signed_up)).status_code == 202

    async def welcomed() -> bool:
        runs = stack.store.runs.running_for_customer(customer)
        return any(
            r.journey_id == "onboarding" and r.current_step not in (None, "welcome") for r in runs
        )

    await eventually(welcomed, what="the onboarding run past its welcome")
    opened = await api.post(
        "/cases",
        json={"customer_id": customer, "category": "delivery", "summary": CASE_SUMMARY},
    )
    assert opened.status_code == 201, opened.text

    async def case_recorded() -> bool:
        return bool(stack.store.cases.list(customer_id=customer))

    await eventually(case_recorded, what="the case in the store")
    return {
        "customer": customer,
        "email": email,
        "journey_id": journey_id,
        "callback": callback,
        "case_id": opened.json()["case_id"],
        "signed_up": signed_up,
    }


def _rows_of(stack: Stack, customer: str) -> dict[str, list[dict[str, Any]]]:
    """Every row of every table that names the customer."""
    found: dict[str, list[dict[str, Any]]] = {}
    with stack.store.engine.connect() as conn:
        for table in metadata.sorted_tables:
            if "customer_id" not in table.c:
                continue
            rows = conn.execute(select(table).where(table.c.customer_id == customer)).all()
            found[table.name] = [dict(row._mapping) for row in rows]
    return found


async def test_an_export_holds_everything_about_the_customer(
    api: httpx.AsyncClient, stack: Stack
) -> None:
    made = await _customer_with_everything(api, stack)
    customer = made["customer"]
    response = await api.get(f"/customers/{customer}/export")
    assert response.status_code == 200, response.text
    export = response.json()
    assert export["profile"]["email"] == made["email"]
    assert export["profile"]["phone"] == PHONE
    assert export["profile"]["attributes"] == {"hobby": SECRET_ATTRIBUTE}
    assert export["consent"] == {"email": True, "sms": True, "webhook": True}
    types = [e["type"] for e in export["events"]]
    assert {"journey_enrolled", "survey_answered", "signed_up"} <= set(types)
    assert any(m["subject"] == "How did we do?" and m["body_text"] for m in export["messages"])
    assert export["send_decisions"]
    journeys = {view["run"]["journey_id"] for view in export["runs"]}
    assert {made["journey_id"], "onboarding"} <= journeys
    assert all(view["steps"] for view in export["runs"])
    assert [c["summary"] for c in export["cases"]] == [CASE_SUMMARY]
    assert [t["task_id"] for t in export["callbacks"]] == [made["callback"]["task_id"]]
    assert [s["comment"] for s in export["surveys"]] == ["awful service"]
    assert export["suppressions"] == []


async def test_an_erased_customer_is_ended_scrubbed_counted_and_refused(
    api: httpx.AsyncClient, stack: Stack
) -> None:
    made = await _customer_with_everything(api, stack)
    customer, email, journey_id = made["customer"], made["email"], made["journey_id"]
    reports = ReportRepository(stack.store.engine)
    steps_before = reports.step_counts(journey_id)
    [runs_before] = reports.run_counts(journey_id, [])
    workflows = [r.workflow_id for r in stack.store.runs.running_for_customer(customer)]
    workflows.append(f"case/{made['case_id']}")
    assert len(workflows) >= 3

    erased = await api.delete(f"/customers/{customer}")
    assert erased.status_code == 200, erased.text
    report = erased.json()
    assert report["already_erased"] is False
    assert report["workflows_terminated"] == len(workflows)
    assert report["runs_ended"] == len(workflows) - 1
    assert (report["cases_closed"], report["callbacks_closed"]) == (1, 1)
    assert f"{customer!r} was erased at" in report["detail"]

    # Temporal runs none of the customer's workflows any more.
    for wf_id in workflows:
        described = await stack.client.get_workflow_handle(wf_id).describe()
        assert described.status == WorkflowExecutionStatus.TERMINATED, wf_id

    # The store holds nothing of the person, and agrees with Temporal.
    rows = _rows_of(stack, customer)
    text = json.dumps(rows, default=str)
    for secret in (
        email,
        PHONE,
        SECRET_ATTRIBUTE,
        CASE_SUMMARY,
        "awful service",
        "spring-ads-campaign",
    ):
        assert secret not in text, secret
    [profile] = rows["customers"]
    assert (profile["email"], profile["phone"], profile["attributes"]) == (None, None, {})
    assert all(e["properties"] == {} for e in rows["customer_events"])
    assert all(m["recipient"] is None and m["body_text"] == "" for m in rows["outbox"])
    assert rows["outbox"] and rows["send_decisions"] and rows["journey_step_events"]
    assert {r["status"] for r in rows["enrollments"]} <= {"exited", "completed", "failed"}
    assert {r["status"] for r in rows["cases"]} == {"closed"}
    assert {r["status"] for r in rows["callbacks"]} == {"cancelled"}

    # Anonymised facts stay: the journey's funnel counts the same.
    assert reports.step_counts(journey_id) == steps_before
    [runs_after] = reports.run_counts(journey_id, [])
    assert runs_after.entered == runs_before.entered

    # A late event, a replayed one, an upsert and an enrollment are refused, naming it.
    events_before = len(rows["customer_events"])
    late = event(customer, "order_completed", order_id="o-late")
    for body in (late, made["signed_up"]):
        refused = await api.post("/events", json=body)
        assert refused.status_code == 409, refused.text
        assert refused.json()["customer_id"] == customer
        assert refused.json()["erased_at"] == report["erased_at"]
        assert "was erased at" in refused.json()["detail"]
        assert "its events are refused" in refused.json()["detail"]
    other = await new_customer(api)
    batch = await api.post("/events/batch", json={"events": [event(other), late]})
    assert batch.status_code == 409 and batch.json()["customer_id"] == customer
    assert stack.store.events.for_customer(other) == []
    assert stack.store.events.get(late["event_id"]) is None
    assert len(_rows_of(stack, customer)["customer_events"]) == events_before
    assert stack.store.runs.running_for_customer(customer) == []
    upsert = await api.put(f"/customers/{customer}", json={"email": email})
    assert upsert.status_code == 409 and "an upsert is refused" in upsert.json()["detail"]
    case = await api.post(
        "/cases", json={"customer_id": customer, "category": "delivery", "summary": "again"}
    )
    assert case.status_code == 409 and "a case is refused" in case.json()["detail"]
    enroll = await api.post("/journeys/onboarding/enrollments", json={"customer_id": customer})
    assert enroll.status_code == 409 and "was erased at" in enroll.json()["detail"]
    assert stack.store.customers.get(customer).email is None  # type: ignore[union-attr]

    # The export is gone; a second erasure says it was done, and when.
    gone = await api.get(f"/customers/{customer}/export")
    assert gone.status_code == 410
    assert gone.json()["detail"].startswith(f"customer {customer!r} was erased at ")
    again = await api.delete(f"/customers/{customer}")
    assert again.status_code == 200
    assert again.json()["already_erased"] is True
    assert again.json()["erased_at"] == report["erased_at"]


async def test_an_erasure_interrupted_after_its_tombstone_is_finished_by_erasing_again(
    api: httpx.AsyncClient, stack: Stack
) -> None:
    customer = await new_customer(api, phone=PHONE)
    assert (await api.post("/events", json=event(customer, "signed_up"))).status_code == 202
    [run] = await eventually(lambda: _running(stack, customer), what="the onboarding run to start")
    # The crash: the tombstone stands, Temporal and the scrub were never reached.
    stack.store.privacy.begin(customer, stack.service.clock())
    refused = await api.post("/events", json=event(customer, "order_completed"))
    assert refused.status_code == 409 and "being erased" in refused.text
    assert refused.json()["erased_at"] is None
    unfinished = await api.get(f"/customers/{customer}/export")
    assert unfinished.status_code == 410 and "erase again to finish it" in unfinished.text
    assert (await stack.client.get_workflow_handle(run.workflow_id).describe()).status == (
        WorkflowExecutionStatus.RUNNING
    )

    finished = await api.delete(f"/customers/{customer}")
    assert finished.status_code == 200, finished.text
    assert finished.json()["already_erased"] is False
    assert finished.json()["runs_ended"] == 1
    described = await stack.client.get_workflow_handle(run.workflow_id).describe()
    assert described.status == WorkflowExecutionStatus.TERMINATED
    assert stack.store.customers.get(customer).phone is None  # type: ignore[union-attr]


async def _running(stack: Stack, customer: str) -> list[Any]:
    return stack.store.runs.running_for_customer(customer)


async def test_erasing_or_exporting_an_unknown_customer_is_404_naming_it(
    api: httpx.AsyncClient,
) -> None:
    nobody = new_id("nobody")
    for response in (
        await api.delete(f"/customers/{nobody}"),
        await api.get(f"/customers/{nobody}/export"),
    ):
        assert response.status_code == 404
        assert f"unknown customer {nobody!r}" in response.json()["detail"]


async def test_privacy_needs_the_api_key(anonymous: httpx.AsyncClient) -> None:
    assert (await anonymous.delete("/customers/c-1")).status_code == 401
    assert (await anonymous.get("/customers/c-1/export")).status_code == 401


async def test_an_erasure_scrubs_the_customer_out_of_the_audit_log_and_keeps_its_entries(
    api: httpx.AsyncClient, stack: Stack
) -> None:
    """A suppression removed for their address, a case note quoting their phone, a consent
    change: after the erasure the entries are all there (who, what, when), the person is not."""
    customer = await new_customer(api, phone=PHONE)
    email = f"{customer}@example.com"
    stack.store.suppressions.add(
        Suppression(
            channel="email",
            address=email,
            reason="bounce",
            scope="all",
            created_at=datetime.now(UTC),
        )
    )
    removed = await api.delete(f"/suppressions/email/{email.upper()}")
    assert removed.status_code == 204, removed.text
    opened = await api.post(
        "/cases", json={"customer_id": customer, "category": "delivery", "summary": "late"}
    )
    assert opened.status_code == 201, opened.text
    case_id = opened.json()["case_id"]
    note = {"text": f"called {PHONE}, wrote to {email}, a quiet violinist", "by": "sam"}
    assert (await api.post(f"/cases/{case_id}/notes", json=note)).status_code == 200
    consent = await api.put(f"/customers/{customer}/consent", json={"email": False})
    assert consent.status_code == 200, consent.text

    def entries() -> list[dict[str, Any]]:
        with stack.store.engine.connect() as conn:
            rows = conn.execute(select(audit_log).order_by(audit_log.c.seq)).all()
        return [dict(row._mapping) for row in rows]

    def facts(rows: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
        return [(r["seq"], r["at"], r["actor"], r["role"], r["action"]) for r in rows]

    before = entries()
    mine = [
        r
        for r in before
        if email in json.dumps(r, default=str).lower() or PHONE in json.dumps(r, default=str)
    ]
    assert {r["action"] for r in mine} >= {"suppression.remove", "case.add_note"}

    erased = await api.delete(f"/customers/{customer}")
    assert erased.status_code == 200, erased.text
    after = entries()
    assert facts(after)[: len(before)] == facts(before)  # every entry stays, who, what, when
    text = json.dumps(after, default=str)
    assert email not in text.lower() and PHONE not in text and "quiet violinist" not in text
    by_seq = {r["seq"]: r for r in after}
    assert by_seq[mine[0]["seq"]]["target"] == "email/[erased]"
    [noted] = [r for r in after if r["action"] == "case.add_note" and r["target"] == case_id]
    assert noted["details"] == {"text": "", "by": "sam"}
    [changed] = [r for r in after if r["action"] == "consent.change" and r["target"] == customer]
    assert changed["details"]["email"] is False


async def test_a_case_opened_just_before_the_erasure_and_not_yet_kept_ends_keeping_nothing(
    api: httpx.AsyncClient, stack: Stack
) -> None:
    """The case passed the tombstone check and its workflow started, but no worker has run it
    yet, so the store does not know it when the erasure looks: its first record is refused
    and the workflow ends, acknowledging nothing."""
    customer = await new_customer(api)
    idle_queue = f"idle-{uuid.uuid4().hex[:8]}"  # no worker yet: the case is not kept
    case_id = f"cs-{uuid.uuid4().hex[:12]}"
    handle = await stack.client.start_workflow(
        CaseWorkflow.run,
        StartCase(
            case_id=case_id,
            request=OpenCase(customer_id=customer, category="delivery", summary=CASE_SUMMARY),
        ),
        id=case_workflow_id(case_id),
        task_queue=idle_queue,
    )
    erased = await api.delete(f"/customers/{customer}")
    assert erased.status_code == 200, erased.text
    activities = activities_for(
        stack.store, {"email": stack.channel}, journeys=stack.service, survey_links=SURVEY_LINKS
    )
    async with build_worker(stack.client, idle_queue, activities):

        async def ended() -> WorkflowExecutionStatus | None:
            status = (await handle.describe()).status
            return None if status == WorkflowExecutionStatus.RUNNING else status

        assert await eventually(ended, what="the case workflow to end") == (
            WorkflowExecutionStatus.COMPLETED
        )
    assert stack.store.cases.get(case_id) is None
    assert stack.channel.to(f"{customer}@example.com") == []
    assert [e.type for e in stack.store.events.for_customer(customer)] == []

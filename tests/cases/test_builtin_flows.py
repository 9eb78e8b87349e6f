"""The built-in support journeys end to end on the time-skipping server, with the real
activities, store and HTTP API: a resolved complaint is followed by a CSAT survey and, for an
unhappy customer, a manager's callback; an NPS detractor gets a call; onboarding ends with NPS.

Survey answers go through the signed link in the email, over HTTP, as a customer's would.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import pytest

from domain.callbacks import CallbackTask
from domain.customers import CustomerUpsert
from domain.runs import Enrollment
from tests.api.conftest import JOURNEYS_DIR, SURVEY_LINKS, new_id
from tests.cases.conftest import Desk, complaint
from tests.workflows.support import customer_event, next_clock

FORM = {"Content-Type": "application/x-www-form-urlencoded"}


@pytest.fixture
def built_ins(desk: Desk) -> Desk:
    desk.service.publish_directory(JOURNEYS_DIR)
    return desk


async def customer(desk: Desk, prefix: str) -> str:
    customer_id = new_id(prefix)
    now = await desk.env.get_current_time()
    desk.store.customers.upsert(
        CustomerUpsert(customer_id=customer_id, email=f"{customer_id}@example.com"), now
    )
    return customer_id


def survey_link(desk: Desk, customer_id: str, subject: str) -> str | None:
    """The path of the survey link in the email with `subject`, if it was sent."""
    for message in desk.channel.to(f"{customer_id}@example.com"):
        if message.subject == subject and (found := re.search(r"http://api(/s/\S+)", message.text)):
            return found.group(1)
    return None


async def answer(desk: Desk, path: str, score: int) -> None:
    page = await desk.http.get(path)
    assert page.status_code == 200, page.text
    answered = await desk.http.post(path, content=f"score={score}", headers=FORM)
    assert answered.status_code == 200, answered.text
    await desk.env.sleep(timedelta(minutes=5))


def run_of(desk: Desk, customer_id: str, journey_id: str) -> list[Enrollment]:
    return [r for r in desk.store.runs.for_customer(customer_id) if r.journey_id == journey_id]


def calls_for(desk: Desk, customer_id: str) -> list[CallbackTask]:
    return [t for t in desk.store.callbacks.list(queue="managers") if t.customer_id == customer_id]


async def resolved_and_surveyed(desk: Desk, prefix: str) -> tuple[str, str]:
    """A new customer's case opened, answered and resolved over HTTP; the customer and the
    path of the CSAT link that follows."""
    customer_id = await customer(desk, prefix)
    opened = await desk.http.post("/cases", json=complaint("high", customer_id).model_dump())
    assert opened.status_code == 201, opened.text
    case_id = opened.json()["case_id"]
    reply = {"text": "So sorry, a new one is on its way", "by": "lin"}
    assert (await desk.http.post(f"/cases/{case_id}/respond", json=reply)).status_code == 200
    resolution = {"resolution": "Replacement delivered", "by": "lin"}
    resolved = await desk.http.post(f"/cases/{case_id}/resolve", json=resolution)
    assert resolved.status_code == 200, resolved.text
    await desk.env.sleep(timedelta(minutes=5))
    [run] = run_of(desk, customer_id, "complaint_recovery")
    assert run.correlation_key == case_id and run.status == "running"
    subject = f"How did we handle your case {case_id}?"
    resolved_at = datetime.fromisoformat(resolved.json()["resolved_at"])
    # A day, then the next 10:00 on the customer's (UTC) clock: the next day's 10:00 when the
    # case was resolved before 10:00, the one after otherwise (CI once resolved at 10:52).
    due = next_clock(resolved_at + timedelta(days=1), "10:00", "UTC")
    await desk.env.sleep(due - timedelta(hours=1) - await desk.env.get_current_time())
    assert survey_link(desk, customer_id, subject) is None  # not before it is due
    await desk.env.sleep(due + timedelta(minutes=5) - await desk.env.get_current_time())
    path = survey_link(desk, customer_id, subject)
    assert path is not None, "the CSAT survey the day after"
    survey_id, _ = SURVEY_LINKS.read(path.removeprefix("/s/"), desk.support.now())
    survey = desk.store.surveys.get(survey_id)
    assert survey is not None and survey.kind == "csat"
    assert timedelta(days=1) <= survey.created_at - resolved_at < timedelta(days=2)
    assert survey.created_at.strftime("%H:%M") == "10:00"  # the customer's (UTC) morning
    return customer_id, path


async def test_an_unhappy_customer_after_a_resolved_complaint_gets_a_managers_callback(
    built_ins: Desk,
) -> None:
    desk = built_ins
    bo, path = await resolved_and_surveyed(desk, "bo")
    await answer(desk, path, 1)
    [task] = calls_for(desk, bo)
    assert task.reason == "Low CSAT after a resolved complaint" and task.status == "open"
    assert task.journey_id == "complaint_recovery"
    listed = (await desk.http.get("/callbacks", params={"queue": "managers"})).json()
    assert [t["task_id"] for t in listed if t["customer_id"] == bo] == [task.task_id]
    [run] = run_of(desk, bo, "complaint_recovery")
    assert run.status == "running" and run.current_step == "manager_callback"


async def test_a_happy_customer_after_a_resolved_complaint_is_thanked_and_not_called(
    built_ins: Desk,
) -> None:
    desk = built_ins
    cy, path = await resolved_and_surveyed(desk, "cy")
    await answer(desk, path, 5)
    assert calls_for(desk, cy) == []
    subjects = [m.subject for m in desk.channel.to(f"{cy}@example.com")]
    assert subjects[-1] == "Thank you for your feedback"
    [run] = run_of(desk, cy, "complaint_recovery")
    assert run.status == "completed" and run.end_reason == "complaint followed up"


async def onboard(desk: Desk, customer_id: str, days: int) -> None:
    now = await desk.env.get_current_time()
    await desk.service.ingest([customer_event(customer_id, "signed_up", now)])
    for _ in range(days):
        await desk.env.sleep(timedelta(days=1))


async def test_onboarding_ends_with_nps_and_a_detractors_answer_books_a_managers_call(
    built_ins: Desk,
) -> None:
    desk = built_ins
    di, ed = await customer(desk, "di"), await customer(desk, "ed")
    for name in (di, ed):
        await onboard(desk, name, 0)
    for _ in range(12):
        await desk.env.sleep(timedelta(days=1))
    assert survey_link(desk, di, "Would you recommend us?") is None  # not before the end
    for _ in range(3):
        await desk.env.sleep(timedelta(days=1))
    detractor = survey_link(desk, di, "Would you recommend us?")
    promoter = survey_link(desk, ed, "Would you recommend us?")
    assert detractor is not None and promoter is not None, "NPS at the end of onboarding"
    [offer_at] = [
        i
        for i, m in enumerate(desk.channel.to(f"{di}@example.com"))
        if m.subject == "10% off your first order"
    ]
    assert desk.channel.to(f"{di}@example.com")[-1].subject == "Would you recommend us?"
    assert offer_at < len(desk.channel.to(f"{di}@example.com")) - 1
    await answer(desk, detractor, 3)
    await answer(desk, promoter, 10)
    [call] = calls_for(desk, di)
    assert call.reason == "NPS detractor" and call.journey_id == "detractor_recovery"
    assert call.due_at - call.created_at == timedelta(days=1)
    [detractor_run] = run_of(desk, di, "detractor_recovery")
    assert detractor_run.status == "running" and detractor_run.current_step == "call_detractor"
    # A promoter's answer starts no call: the journey's branch lets them leave at once.
    assert calls_for(desk, ed) == []
    assert [r.status for r in run_of(desk, ed, "detractor_recovery")] == ["completed"]
    for name in (di, ed):
        [onboarding] = run_of(desk, name, "onboarding")
        assert onboarding.status == "completed"
        assert onboarding.end_reason == "onboarding finished without a first order"


async def test_a_customer_who_buys_during_onboarding_leaves_it_before_the_nps(
    built_ins: Desk,
) -> None:
    desk = built_ins
    fay = await customer(desk, "fay")
    await onboard(desk, fay, 3)
    now = await desk.env.get_current_time()
    await desk.service.ingest([customer_event(fay, "order_completed", now, order_id="o-1")])
    for _ in range(13):
        await desk.env.sleep(timedelta(days=1))
    [run] = run_of(desk, fay, "onboarding")
    assert run.status == "exited" and run.end_reason is not None and "first_order" in run.end_reason
    assert survey_link(desk, fay, "Would you recommend us?") is None
    assert run_of(desk, fay, "post_purchase"), "the buyer is followed up by post_purchase instead"

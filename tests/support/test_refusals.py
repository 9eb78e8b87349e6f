"""What support and customers are refused leaves no trace: no row changes and, as important,
no survey_answered or callback_completed event reaches the customer's log (where journeys
would hear it). Over the HTTP API, on a real Temporal dev server."""

from __future__ import annotations

from datetime import timedelta

import httpx

from domain.surveys import PURPOSE, SURVEY_ANSWERED
from domain.tokens import sign
from tests.api.conftest import SURVEY_LINKS, Stack, api, stack
from tests.support.follow_up import FORM, booked_task, event_types, surveyed_customer

__all__ = ["api", "stack"]


async def test_an_expired_survey_link_is_gone_and_records_nothing(
    api: httpx.AsyncClient, stack: Stack
) -> None:
    customer, path = await surveyed_customer(api, stack)
    survey_id, _ = SURVEY_LINKS.read(path.removeprefix("/s/"), stack.service.clock())
    past = stack.service.clock() - timedelta(minutes=1)
    expired = sign(SURVEY_LINKS.secret, PURPOSE, {"s": survey_id, "c": customer}, past)
    page = await api.get(f"/s/{expired}")
    assert page.status_code == 410 and "expired" in page.text
    gone = await api.post(f"/s/{expired}", content="score=5", headers=FORM)
    assert gone.status_code == 410 and "expired" in gone.text
    survey = stack.store.surveys.get(survey_id)
    assert survey is not None and survey.answered_at is None and survey.score is None
    assert event_types(stack, customer, SURVEY_ANSWERED) == []


async def test_refused_survey_answers_put_no_answer_in_the_customers_log(
    api: httpx.AsyncClient, stack: Stack
) -> None:
    customer, path = await surveyed_customer(api, stack)
    assert (await api.post(path, content="score=9", headers=FORM)).status_code == 422
    assert (await api.post(path, content="score=abc", headers=FORM)).status_code == 422
    forged = await api.post(path[:-4] + "abcd", content="score=5", headers=FORM)
    assert forged.status_code == 400
    assert event_types(stack, customer, SURVEY_ANSWERED) == []
    assert (await api.post(path, content="score=4", headers=FORM)).status_code == 200
    assert (await api.post(path, content="score=1", headers=FORM)).status_code == 409
    [answered] = event_types(stack, customer, SURVEY_ANSWERED)
    assert answered["score"] == 4


async def test_refused_callback_completions_put_no_outcome_in_the_customers_log(
    api: httpx.AsyncClient, stack: Stack
) -> None:
    customer, path = await surveyed_customer(api, stack)
    assert (await api.post(path, content="score=1", headers=FORM)).status_code == 200
    task_id = (await booked_task(api, customer))["task_id"]
    outcome = {"agent": "mo", "outcome": "reached"}
    unclaimed = await api.post(f"/callbacks/{task_id}/complete", json=outcome)
    assert unclaimed.status_code == 409 and "claim it first" in unclaimed.json()["detail"]
    blank = await api.post(f"/callbacks/{task_id}/claim", json={"agent": "   "})
    assert blank.status_code == 422 and blank.json()["detail"][0]["loc"] == ["body", "agent"]
    assert (await api.post(f"/callbacks/{task_id}/claim", json={"agent": "mo"})).status_code == 200
    other = await api.post(f"/callbacks/{task_id}/complete", json=outcome | {"agent": "lin"})
    assert other.status_code == 409 and "claimed by mo, not lin" in other.json()["detail"]
    bad = await api.post(f"/callbacks/{task_id}/complete", json=outcome | {"outcome": "maybe"})
    assert bad.status_code == 422
    assert event_types(stack, customer, "callback_completed") == []
    assert (await api.post(f"/callbacks/{task_id}/complete", json=outcome)).status_code == 200
    twice = await api.post(
        f"/callbacks/{task_id}/complete", json=outcome | {"outcome": "no_answer"}
    )
    assert twice.status_code == 409 and "already completed" in twice.json()["detail"]
    [completed] = event_types(stack, customer, "callback_completed")
    assert completed["outcome"] == "reached" and completed["task_id"] == task_id
    missing = await api.post("/callbacks/cb-nope/complete", json=outcome)
    assert missing.status_code == 404

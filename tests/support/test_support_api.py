"""Surveys and callbacks end to end through the HTTP API: a real journey on a real Temporal
dev server sends the survey, the customer answers on the page, the run books a callback, an
agent claims and completes it over the API."""

from __future__ import annotations

import httpx

from tests.api.conftest import Stack, api, eventually, stack
from tests.support.follow_up import FORM, booked_task, surveyed_customer

__all__ = ["api", "stack"]


async def test_a_survey_answered_on_its_page_books_a_callback_worked_over_the_api(
    api: httpx.AsyncClient, stack: Stack
) -> None:
    customer, path = await surveyed_customer(api, stack, locale="zh-CN")
    page = await api.get(path, headers={"X-API-Key": ""})
    assert page.status_code == 200 and "您对这次服务满意吗" in page.text
    assert page.text.count("type='radio'") == 5 and "<script" not in page.text
    form = FORM
    out_of_range = await api.post(path, content="score=7", headers=form)
    assert out_of_range.status_code == 422
    answered = await api.post(path, content="score=1&comment=%E5%A4%AA%E6%85%A2", headers=form)
    assert answered.status_code == 200 and "感谢您的回答" in answered.text
    again = await api.post(path, content="score=5", headers=form)
    assert again.status_code == 409
    forged = await api.post(path[:-4] + "abcd", content="score=5", headers=form)
    assert forged.status_code == 400

    booked = await booked_task(api, customer)
    task_id = booked["task_id"]
    assert booked["context"]["timeline_url"] == f"http://api/customers/{customer}/timeline"
    assert booked["context"]["steps"]["ask"]["score"] == 1  # what the agent sees of the run
    assert (await api.post(f"/callbacks/{task_id}/claim", json={"agent": "mo"})).status_code == 200
    taken = await api.post(f"/callbacks/{task_id}/claim", json={"agent": "lin"})
    assert taken.status_code == 409 and "claimed by mo" in taken.json()["detail"]
    wrong = await api.post(
        f"/callbacks/{task_id}/complete", json={"agent": "lin", "outcome": "reached"}
    )
    assert wrong.status_code == 409
    done = await api.post(
        f"/callbacks/{task_id}/complete",
        json={"agent": "mo", "outcome": "reached", "notes": "apologised, refund sent"},
    )
    assert done.status_code == 200 and done.json()["outcome"] == "reached"

    async def sorry_sent() -> bool:
        subjects = [m.subject for m in stack.channel.to(f"{customer}@example.com")]
        return "Sorry" in subjects

    await eventually(sorry_sent, what="the run to take the reached path")
    report = (await api.get("/reports/surveys", params={"journey_id": "follow_up"})).json()
    assert report[0]["kind"] == "csat" and report[0]["answers"] >= 1

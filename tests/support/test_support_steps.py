"""Callback and survey steps in real runs on the time-skipping server."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from temporalio.testing import WorkflowEnvironment

from domain.callbacks import Completion
from domain.contracts import RunSnapshot
from domain.customers import CustomerUpsert
from domain.loader import load_journey_text
from domain.survey_links import SurveyLinks
from domain.surveys import Answer
from domain.tokens import TokenError, sign
from entrypoints.service import JourneyService
from entrypoints.support_service import SupportService
from store.callbacks import CallbackRefused
from store.store import Store
from store.surveys import AlreadyAnswered
from tests.api.conftest import RecordingChannel
from tests.workflows.support import server_clock
from workers.worker import activities_for, build_worker

LINKS = SurveyLinks("survey-secret", "http://answers.test")
FOLLOW_UP = """
id: follow_up
name: Follow-up
category: transactional
trigger: {event: order_completed}
templates:
  csat: {subject: "How did we do?", text: "Rate us: {{ survey.url }}"}
  thanks: {subject: "Thanks", text: "Glad to hear"}
  sorry: {subject: "Sorry", text: "We will call you"}
steps:
  - id: ask
    survey: {kind: csat, channel: email, template: csat, timeout: 3d}
    on_timeout: done
  - id: route
    branch:
      - {when: "steps.ask.score <= 2", goto: call}
      - {else: thank}
  - {id: thank, send: {channel: email, template: thanks}}
  - {id: to_done, goto: done}
  - id: call
    callback: {queue: managers, reason: "Low CSAT", due_in: 1d, timeout: 3d}
    on_outcome: {do_not_contact: done}
    on_timeout: done
  - {id: sorry, send: {channel: email, template: sorry}}
  - {id: done, end: followed up}
"""


@dataclass
class Bench:
    env: WorkflowEnvironment
    store: Store
    service: JourneyService
    support: SupportService
    channel: RecordingChannel

    async def run(self, customer: str) -> str:
        delivery = await self.service.enroll("follow_up", customer)
        assert delivery.workflow_id is not None
        await self.env.sleep(timedelta(minutes=1))
        return delivery.workflow_id

    def link(self, customer: str) -> str:
        [ask] = [
            m for m in self.channel.to(f"{customer}@example.com") if m.subject == "How did we do?"
        ]
        found = re.search(r"http://answers\.test/s/(\S+)", ask.text)
        assert found is not None
        return found.group(1)

    async def path(self, workflow_id: str) -> list[tuple[str, str]]:
        handle = self.env.client.get_workflow_handle(workflow_id)
        status = await handle.query("status", result_type=RunSnapshot)
        return [(r.step_id, r.status) for r in status.history if r.status != "entered"]


@pytest_asyncio.fixture
async def bench(time_skipping_env: WorkflowEnvironment, tmp_path: Path) -> AsyncIterator[Bench]:
    store = Store.open(f"sqlite:///{tmp_path}/store.db")
    queue = f"support-{uuid.uuid4().hex[:6]}"

    async def client() -> Any:
        return time_skipping_env.client

    service = JourneyService(store, client, queue)
    service.publish_definition(load_journey_text(FOLLOW_UP))
    now = await time_skipping_env.get_current_time()
    for name in ("ada", "bo", "cy", "di"):
        store.customers.upsert(CustomerUpsert(customer_id=name, email=f"{name}@example.com"), now)
    channel = RecordingChannel()
    activities = activities_for(
        store, {"email": channel}, server_clock, journeys=service, survey_links=LINKS
    )
    try:
        async with build_worker(time_skipping_env.client, queue, activities):
            yield Bench(time_skipping_env, store, service, SupportService(service, LINKS), channel)
    finally:
        store.close()


async def test_a_happy_answer_is_thanked_and_a_second_answer_is_refused(bench: Bench) -> None:
    run = await bench.run("ada")
    token = bench.link("ada")
    answered = await bench.support.answer(token, Answer(score=5, comment="Great"))
    assert answered.score == 5
    with pytest.raises(AlreadyAnswered):
        await bench.support.answer(token, Answer(score=1))
    await bench.env.sleep(timedelta(minutes=5))
    assert ("route", "completed") in await bench.path(run)
    assert [m.subject for m in bench.channel.to("ada@example.com")] == ["How did we do?", "Thanks"]
    assert [s.score for s in [bench.store.surveys.get(answered.survey_id)] if s] == [5]


async def test_out_of_range_scores_and_forged_links_record_nothing(bench: Bench) -> None:
    await bench.run("bo")
    token = bench.link("bo")
    with pytest.raises(ValueError, match="a CSAT score is 1 to 5, not 9"):
        await bench.support.answer(token, Answer(score=9))
    with pytest.raises(ValueError, match="does not match"):
        await bench.support.answer(token[:-3] + "abc", Answer(score=3))
    survey_id = LINKS.read(token, bench.support.now())[0]
    past = bench.support.now() - timedelta(minutes=1)
    expired = sign(LINKS.secret, "survey", {"s": survey_id, "c": "bo"}, past)
    with pytest.raises(TokenError, match="expired"):
        await bench.support.answer(expired, Answer(score=3))
    survey = bench.store.surveys.get(survey_id)
    assert survey is not None and survey.answered_at is None


async def test_a_low_score_books_a_callback_and_the_outcome_steers_the_run(bench: Bench) -> None:
    run = await bench.run("cy")
    await bench.support.answer(bench.link("cy"), Answer(score=1, comment="Broken"))
    await bench.env.sleep(timedelta(minutes=5))
    [task] = bench.store.callbacks.list(queue="managers")
    assert task.customer_id == "cy" and task.reason == "Low CSAT"
    bench.support.claim(task.task_id, "mo")
    with pytest.raises(CallbackRefused, match="claimed by mo"):
        bench.support.claim(task.task_id, "lin")
    with pytest.raises(CallbackRefused, match="claimed by mo, not lin"):
        await bench.support.complete(task.task_id, Completion(agent="lin", outcome="reached"))
    await bench.support.complete(task.task_id, Completion(agent="mo", outcome="reached"))
    await bench.env.sleep(timedelta(minutes=5))
    path = await bench.path(run)
    assert ("call", "completed") in path and ("sorry", "completed") in path
    with pytest.raises(CallbackRefused, match="already completed"):
        await bench.support.complete(task.task_id, Completion(agent="mo", outcome="no_answer"))


async def test_no_answer_and_no_call_take_the_timeout_paths_and_overdue_tasks_escalate(
    bench: Bench,
) -> None:
    run = await bench.run("di")
    await bench.env.sleep(timedelta(days=4))  # the survey times out: straight to done
    assert ("ask", "completed") in await bench.path(run)
    assert bench.store.runs.for_customer("di")[0].status == "completed"
    assert bench.store.callbacks.list() == []
    # Now a low score, and nobody calls: escalated when due, then the timeout path.
    run = await bench.run("cy")
    await bench.support.answer(bench.link("cy"), Answer(score=2))
    await bench.env.sleep(timedelta(days=1, hours=1))
    [task] = bench.store.callbacks.list()
    assert (
        task.escalated and task.queue == "supervisors" and task.overdue(task.due_at + timedelta(1))
    )
    await bench.env.sleep(timedelta(days=3))
    path = await bench.path(run)
    assert ("call", "escalated") in path and ("sorry", "completed") not in path

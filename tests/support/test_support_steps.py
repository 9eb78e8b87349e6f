"""Callback and survey steps in real runs on the time-skipping server, with the real activities
and store: answers and outcomes steer the run, timeouts take their paths and close stale
tasks, "call back later" reschedules, and a held survey message goes out after the hold."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from pydantic import ValidationError
from temporalio.testing import WorkflowEnvironment

from app.cases import CaseService
from app.journeys import JourneyService
from app.support import SupportService
from domain.callbacks import CALLBACK_COMPLETED, CallbackTask, Completion
from domain.cases import OpenCase, Resolve
from domain.contracts import RunSnapshot
from domain.customers import CustomerUpsert
from domain.events import CustomerEvent
from domain.loader import load_journey_text
from domain.survey_links import SurveyLinks
from domain.surveys import Answer
from domain.tokens import TokenError, sign
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
exit_when: [{event: account_closed, converted: false}]
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
NPS_CHECK = """
id: nps_check
name: NPS check
category: marketing
trigger: {event: nps_due}
quiet_hours: []
templates:
  nps: {subject: "Would you recommend us?", text: "Tell us: {{ survey.url }}"}
steps:
  - id: ask
    survey: {kind: nps, channel: email, template: nps, timeout: 3d}
  - {id: done, end: asked}
"""


@dataclass
class Bench:
    env: WorkflowEnvironment
    store: Store
    service: JourneyService
    support: SupportService
    channel: RecordingChannel

    async def run(self, customer: str, journey: str = "follow_up") -> str:
        delivery = await self.service.enroll(journey, customer)
        assert delivery.workflow_id is not None
        await self.env.sleep(timedelta(minutes=1))
        return delivery.workflow_id

    def subjects(self, customer: str) -> list[str]:
        return [m.subject for m in self.channel.to(f"{customer}@example.com")]

    def link(self, customer: str, subject: str = "How did we do?") -> str:
        [ask] = [m for m in self.channel.to(f"{customer}@example.com") if m.subject == subject]
        found = re.search(r"http://answers\.test/s/(\S+)", ask.text)
        assert found is not None
        return found.group(1)

    async def path(self, workflow_id: str) -> list[tuple[str, str]]:
        handle = self.env.client.get_workflow_handle(workflow_id)
        status = await handle.query("status", result_type=RunSnapshot)
        return [(r.step_id, r.status) for r in status.history if r.status != "entered"]

    def completions(self, customer: str) -> list[CustomerEvent]:
        return [e for e in self.store.events.for_customer(customer) if e.type == CALLBACK_COMPLETED]

    async def low_score_task(self, customer: str) -> tuple[str, CallbackTask]:
        """A run whose CSAT answer is 1: the callback it books, claimed by agent mo."""
        run = await self.run(customer)
        await self.support.answer(self.link(customer), Answer(score=1))
        await self.env.sleep(timedelta(minutes=5))
        [task] = self.store.callbacks.list(queue="managers")
        assert task.customer_id == customer
        return run, self.support.claim(task.task_id, "mo")


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
    service.publish_definition(load_journey_text(NPS_CHECK))
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


async def test_an_unanswered_survey_takes_its_on_timeout_path_and_sends_nothing_more(
    bench: Bench,
) -> None:
    run = await bench.run("di")
    await bench.env.sleep(timedelta(days=4))
    path = await bench.path(run)
    assert [step for step, _ in path] == ["ask", "done"]  # on_timeout: done, not route
    assert path == [("ask", "completed"), ("done", "completed")]
    [record] = bench.store.runs.for_customer("di")
    assert (record.status, record.end_reason) == ("completed", "followed up")
    assert bench.subjects("di") == ["How did we do?"]  # neither "Thanks" nor "Sorry"
    assert bench.store.callbacks.list(include_done=True) == []


async def test_a_callback_nobody_takes_escalates_then_times_out_and_the_task_expires(
    bench: Bench,
) -> None:
    run = await bench.run("cy")
    await bench.support.answer(bench.link("cy"), Answer(score=2))
    await bench.env.sleep(timedelta(days=1, hours=1))
    [task] = bench.store.callbacks.list()
    assert (
        task.escalated
        and task.queue == "supervisors"
        and task.overdue(task.due_at + timedelta(minutes=1))
    )
    await bench.env.sleep(timedelta(days=3))
    path = await bench.path(run)
    assert ("call", "escalated") in path
    assert path[-2:] == [("call", "completed"), ("done", "completed")]  # on_timeout: done
    assert ("sorry", "completed") not in path
    [record] = bench.store.runs.for_customer("cy")
    assert (record.status, record.end_reason) == ("completed", "followed up")
    assert bench.subjects("cy") == ["How did we do?"]
    closed = bench.store.callbacks.get(task.task_id)
    assert closed is not None and closed.status == "expired"
    assert "no outcome by" in closed.notes and "went on to done" in closed.notes
    assert bench.store.callbacks.list() == []  # off the queue
    with pytest.raises(CallbackRefused, match="is expired"):
        bench.support.claim(task.task_id, "mo")


async def test_a_goal_that_ends_the_run_cancels_its_open_callback(bench: Bench) -> None:
    _, task = await bench.low_score_task("ada")
    now = await bench.env.get_current_time()
    closing = CustomerEvent(
        event_id=f"closed-{uuid.uuid4().hex}",
        customer_id="ada",
        type="account_closed",
        occurred_at=now,
    )
    await bench.service.ingest([closing])
    await bench.env.sleep(timedelta(minutes=5))
    [record] = bench.store.runs.for_customer("ada")
    assert record.status == "exited"
    cancelled = bench.store.callbacks.get(task.task_id)
    assert cancelled is not None and cancelled.status == "cancelled"
    assert cancelled.notes == "goal account_closed"
    with pytest.raises(CallbackRefused, match="is cancelled"):
        await bench.support.complete(task.task_id, Completion(agent="mo", outcome="reached"))
    assert bench.completions("ada") == []


async def test_call_back_later_books_the_call_again_and_the_run_waits_for_its_outcome(
    bench: Bench,
) -> None:
    run, task = await bench.low_score_task("bo")
    later = (await bench.env.get_current_time() + timedelta(days=2)).replace(microsecond=0)
    await bench.support.complete(
        task.task_id, Completion(agent="mo", outcome="call_back_later", call_back_at=later)
    )
    await bench.env.sleep(timedelta(minutes=5))
    first = bench.store.callbacks.get(task.task_id)
    assert first is not None and (first.status, first.outcome) == ("done", "call_back_later")
    [again] = bench.store.callbacks.list()
    assert again.task_id != task.task_id and again.status == "open"
    assert (again.queue, again.reason, again.due_at) == ("managers", "Low CSAT", later)
    assert again.context == {**task.context, "follows": task.task_id}
    assert again.workflow_id == run and again.step_id == "call"
    [event] = bench.completions("bo")
    assert event.properties["call_back_at"] == later.isoformat()
    assert event.properties["next_task_id"] == again.task_id
    status = await bench.env.client.get_workflow_handle(run).query(
        "status", result_type=RunSnapshot
    )
    assert status.position == "call" and status.waiting == f"callback {again.task_id}"
    # Past the first task's 3-day timeout, but within the timeout from the new due time.
    await bench.env.sleep(timedelta(days=3))
    assert bench.store.runs.for_customer("bo")[0].status == "running"
    overdue = bench.store.callbacks.get(again.task_id)
    assert overdue is not None and overdue.escalated and overdue.queue == "supervisors"
    bench.support.claim(again.task_id, "lin")
    await bench.support.complete(again.task_id, Completion(agent="lin", outcome="reached"))
    await bench.env.sleep(timedelta(minutes=5))
    path = await bench.path(run)
    assert ("call", "rescheduled") in path and ("sorry", "completed") in path
    assert bench.subjects("bo") == ["How did we do?", "Sorry"]
    assert bench.store.runs.for_customer("bo")[0].status == "completed"


@pytest.mark.parametrize(
    ("shift", "error"),
    [
        (timedelta(hours=-1), "is not in the future"),
        (timedelta(days=31), "is more than 30 days ahead"),
    ],
)
async def test_a_call_back_time_in_the_past_or_too_far_ahead_is_refused_and_nothing_recorded(
    bench: Bench, shift: timedelta, error: str
) -> None:
    run, task = await bench.low_score_task("cy")
    at = bench.support.now() + shift
    with pytest.raises(CallbackRefused, match=error):
        await bench.support.complete(
            task.task_id, Completion(agent="mo", outcome="call_back_later", call_back_at=at)
        )
    unchanged = bench.store.callbacks.get(task.task_id)
    assert unchanged is not None and (unchanged.status, unchanged.outcome) == ("claimed", None)
    assert [t.task_id for t in bench.store.callbacks.list()] == [task.task_id]
    assert bench.completions("cy") == []
    assert (await bench.path(run))[-1] != ("call", "completed")


def test_a_call_back_time_needs_a_timezone_and_only_goes_with_call_back_later() -> None:
    naive = datetime(2030, 5, 1, 15, 0)
    with pytest.raises(ValidationError, match="call_back_at needs a timezone"):
        Completion(agent="mo", outcome="call_back_later", call_back_at=naive)
    with pytest.raises(ValidationError, match="call_back_later needs call_back_at"):
        Completion(agent="mo", outcome="call_back_later")
    with pytest.raises(ValidationError, match="only with the outcome call_back_later"):
        Completion(agent="mo", outcome="reached", call_back_at=naive.astimezone())


async def test_a_marketing_nps_enrolled_during_an_open_case_is_sent_after_it_resolves(
    bench: Bench,
) -> None:
    cases = CaseService(bench.service)
    case = await cases.open(
        OpenCase(customer_id="di", category="delivery", severity="low", summary="Late parcel")
    )
    await bench.env.sleep(timedelta(minutes=1))
    run = await bench.run("di", "nps_check")
    await bench.env.sleep(timedelta(days=1))
    assert "Would you recommend us?" not in bench.subjects("di")  # held, not dropped
    [held] = bench.store.ledger.decisions(customer_id="di", decision="deferred")
    assert held.reason == f"open case {case.case_id}" and held.step_id == "ask"
    assert ("ask", "deferred") in await bench.path(run)
    [report] = bench.store.surveys.scores("nps_check", by="all")
    assert (report.sent, report.answers) == (0, 0)  # the survey exists; its message has not gone
    await cases.change(case.case_id, "resolve", Resolve(resolution="Found it", by="lin"))
    await bench.env.sleep(timedelta(minutes=5))
    assert "Would you recommend us?" in bench.subjects("di")
    [report] = bench.store.surveys.scores("nps_check", by="all")
    assert report.sent == 1
    # The answer window (and the link) start when the message goes, not at enrolment.
    await bench.env.sleep(timedelta(days=2))
    token = bench.link("di", "Would you recommend us?")
    await bench.support.answer(token, Answer(score=10))
    await bench.env.sleep(timedelta(minutes=5))
    status = await bench.env.client.get_workflow_handle(run).query(
        "status", result_type=RunSnapshot
    )
    assert status.outputs["ask"]["score"] == 10
    assert status.outputs["ask"]["category"] == "promoter"
    nps = [r for r in bench.store.runs.for_customer("di") if r.journey_id == "nps_check"]
    assert [r.status for r in nps] == ["completed"]

"""One use case, one transaction: completing a callback, answering a survey and recording a
case each commit their state and their event together, against a real store (SQLite, and
PostgreSQL when configured).

A crash before the commit leaves nothing behind (the state change rolls back with the event);
a crash after it (the delivery failed) is healed by the retry, which writes nothing twice and
delivers the one logged event.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from activities.cases import CaseActivities
from app.support import SupportService
from domain.callbacks import CALLBACK_COMPLETED, Completion, CreateCallback
from domain.cases import CaseRecord, CaseState
from domain.survey_links import SurveyLinks
from domain.surveys import SURVEY_ANSWERED, Answer, CreateSurvey
from store.callbacks import CallbackRefused
from store.store import Store
from store.surveys import AlreadyAnswered
from tests.crash_points import (
    CRASH_POINTS,
    Crash,
    CrashPoint,
    assert_delivered,
    crash_deliveries,
    fail_event_writes,
    journey_service,
    logged,
)

LINKS = SurveyLinks("survey-secret", "http://answers.test")


def support(store: Store) -> SupportService:
    return SupportService(journey_service(store), LINKS)


def claimed_task(store: Store, customer: str, task_id: str = "cb-1") -> str:
    now = datetime.now(UTC)
    store.callbacks.create(
        CreateCallback(
            task_id=task_id,
            queue="support",
            reason="Low CSAT",
            customer_id=customer,
            journey_id="follow_up",
            workflow_id="journey/follow_up/c-1",
            step_id="call",
            due_at=now + timedelta(hours=1),
            created_at=now,
        )
    )
    store.callbacks.claim(task_id, "mo", now)
    return task_id


def survey_link(store: Store, customer: str, survey_id: str = "sv-1") -> str:
    now = datetime.now(UTC)
    store.surveys.create(
        CreateSurvey(
            survey_id=survey_id,
            kind="csat",
            customer_id=customer,
            journey_id="follow_up",
            workflow_id="journey/follow_up/c-1",
            step_id="ask",
            expires_at=now + timedelta(days=3),
            created_at=now,
        )
    )
    return LINKS.url(survey_id, customer, now + timedelta(days=3)).rsplit("/s/", 1)[1]


# --- callbacks -------------------------------------------------------------------------------


async def test_a_callback_outcome_whose_event_fails_to_log_is_not_recorded_either(
    store: Store, customer: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    task_id = claimed_task(store, customer)
    desk = support(store)
    with monkeypatch.context() as crashing:
        fail_event_writes(crashing, store)
        with pytest.raises(Crash):
            await desk.complete(task_id, Completion(agent="mo", outcome="reached"))
    task = store.callbacks.get(task_id)
    assert task is not None and (task.status, task.outcome) == ("claimed", None)
    assert logged(store, customer, CALLBACK_COMPLETED) == []
    await desk.complete(task_id, Completion(agent="mo", outcome="reached"))  # still possible
    assert len(logged(store, customer, CALLBACK_COMPLETED)) == 1


async def test_do_not_contact_unsubscribes_only_together_with_the_outcome_and_its_event(
    store: Store, customer: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    task_id = claimed_task(store, customer)
    desk = support(store)
    with monkeypatch.context() as crashing:
        fail_event_writes(crashing, store)
        with pytest.raises(Crash):
            await desk.complete(task_id, Completion(agent="mo", outcome="do_not_contact"))
    profile = store.customers.get(customer)
    assert profile is not None and profile.consent.email is True
    task = store.callbacks.get(task_id)
    assert task is not None and task.status == "claimed"


async def test_call_back_later_opens_no_follow_up_when_its_event_fails_to_log(
    store: Store, customer: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    task_id = claimed_task(store, customer)
    later = datetime.now(UTC) + timedelta(days=2)
    desk = support(store)
    with monkeypatch.context() as crashing:
        fail_event_writes(crashing, store)
        with pytest.raises(Crash):
            await desk.complete(
                task_id, Completion(agent="mo", outcome="call_back_later", call_back_at=later)
            )
    assert [t.task_id for t in store.callbacks.list(include_done=True)] == [task_id]


@pytest.mark.parametrize("crash", CRASH_POINTS)
async def test_a_retried_completion_after_a_failed_delivery_logs_and_delivers_one_outcome(
    store: Store, customer: str, monkeypatch: pytest.MonkeyPatch, crash: CrashPoint
) -> None:
    task_id = claimed_task(store, customer)
    desk = support(store)
    deliveries = crash_deliveries(monkeypatch, desk.journeys, crash)
    completion = Completion(agent="mo", outcome="do_not_contact", notes="Asked us to stop")
    with pytest.raises(Crash):
        await desk.complete(task_id, completion)
    task = await desk.complete(task_id, completion)  # the agent presses the button again
    assert (task.status, task.outcome, task.notes) == ("done", "do_not_contact", completion.notes)
    profile = store.customers.get(customer)
    assert profile is not None and not any(profile.consent.model_dump().values())
    [event] = logged(store, customer, CALLBACK_COMPLETED)
    assert event.properties["outcome"] == "do_not_contact" and event.properties["agent"] == "mo"
    assert event.occurred_at == task.completed_at
    assert_delivered(deliveries, event)
    with pytest.raises(CallbackRefused, match="already completed"):
        await desk.complete(task_id, Completion(agent="mo", outcome="reached"))
    assert len(logged(store, customer, CALLBACK_COMPLETED)) == 1


async def test_a_retried_call_back_later_keeps_one_follow_up_and_one_event(
    store: Store, customer: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    task_id = claimed_task(store, customer)
    desk = support(store)
    deliveries = crash_deliveries(monkeypatch, desk.journeys, "after_ingest")
    later = (datetime.now(UTC) + timedelta(days=2)).replace(microsecond=0)
    completion = Completion(agent="mo", outcome="call_back_later", call_back_at=later)
    with pytest.raises(Crash):
        await desk.complete(task_id, completion)
    await desk.complete(task_id, completion)
    [first, follow_up] = sorted(
        store.callbacks.list(include_done=True), key=lambda t: t.task_id != task_id
    )
    assert (first.status, follow_up.status, follow_up.due_at) == ("done", "open", later)
    [event] = logged(store, customer, CALLBACK_COMPLETED)
    assert event.properties["next_task_id"] == follow_up.task_id
    assert event.properties["call_back_at"] == later.isoformat()
    assert_delivered(deliveries, event)


# --- surveys ---------------------------------------------------------------------------------


async def test_a_survey_answer_whose_event_fails_to_log_is_not_recorded_either(
    store: Store, customer: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = survey_link(store, customer)
    desk = support(store)
    with monkeypatch.context() as crashing:
        fail_event_writes(crashing, store)
        with pytest.raises(Crash):
            await desk.answer(token, Answer(score=2, comment="Late"))
    survey = store.surveys.get("sv-1")
    assert survey is not None and (survey.answered_at, survey.score) == (None, None)
    assert logged(store, customer, SURVEY_ANSWERED) == []
    answered = await desk.answer(token, Answer(score=4))  # the customer can still answer
    assert answered.score == 4


@pytest.mark.parametrize("crash", CRASH_POINTS)
async def test_a_resent_answer_after_a_failed_delivery_logs_and_delivers_one_answer(
    store: Store, customer: str, monkeypatch: pytest.MonkeyPatch, crash: CrashPoint
) -> None:
    token = survey_link(store, customer)
    desk = support(store)
    deliveries = crash_deliveries(monkeypatch, desk.journeys, crash)
    with pytest.raises(Crash):
        await desk.answer(token, Answer(score=2, comment="Late"))
    answered = await desk.answer(token, Answer(score=2, comment="Late"))  # the form again
    assert (answered.score, answered.comment) == (2, "Late")
    [event] = logged(store, customer, SURVEY_ANSWERED)
    assert (event.properties["score"], event.properties["comment"]) == (2, "Late")
    assert event.occurred_at == answered.answered_at
    assert_delivered(deliveries, event)
    with pytest.raises(AlreadyAnswered):  # another answer is still refused
        await desk.answer(token, Answer(score=5))
    survey = store.surveys.get("sv-1")
    assert survey is not None and survey.score == 2
    assert len(logged(store, customer, SURVEY_ANSWERED)) == 1


# --- cases -----------------------------------------------------------------------------------


def case_record(customer: str) -> CaseRecord:
    opened = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
    state = CaseState(
        case_id="case-1",
        customer_id=customer,
        channel="email",
        category="delivery",
        severity="urgent",
        summary="Parcel arrived broken",
        opened_at=opened,
        first_response_due=opened + timedelta(hours=1),
        resolution_due=opened + timedelta(days=1),
    )
    return CaseRecord(state=state, event="case_opened", event_key="case_opened.1")


class TickingClock:
    """Each reading a second later: a retried activity runs at a later time."""

    def __init__(self) -> None:
        self.now = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now


async def test_a_case_whose_event_fails_to_log_is_not_saved_either(
    store: Store, customer: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    cases = CaseActivities(store, journey_service(store), TickingClock())
    with monkeypatch.context() as crashing:
        fail_event_writes(crashing, store)
        with pytest.raises(Crash):
            await cases.record_case(case_record(customer))
    assert store.cases.get("case-1") is None
    assert logged(store, customer, "case_opened") == []


async def test_a_retried_case_activity_after_a_failed_delivery_logs_and_delivers_one_event(
    store: Store, customer: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    service = journey_service(store)
    cases = CaseActivities(store, service, TickingClock())
    deliveries = crash_deliveries(monkeypatch, service, "after_ingest")
    record = case_record(customer)
    with pytest.raises(Crash):
        await cases.record_case(record)
    await cases.record_case(record)  # Temporal retries the activity, a little later
    saved = store.cases.get("case-1")
    assert saved is not None and saved.status == "open"
    [event] = logged(store, customer, "case_opened")
    assert event.properties["case_id"] == "case-1"
    assert_delivered(deliveries, event)

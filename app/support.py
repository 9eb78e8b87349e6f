"""Working the callback queue and taking survey answers: what the CLI and the API share.

Completing a callback and answering a survey are events in the customer's log
(callback_completed, survey_answered), delivered through the journey service so the run that
waits on them resumes. Each is one transaction: the task's outcome (with the follow-up task of
"call back later" and the consent of "do not contact") or the survey's answer commits together
with its event, and only then is the event delivered. Both happen once: a second, different
completion or answer is refused and records nothing; the same one again (a retried request)
changes nothing more and delivers the logged event, so a crash after the commit is healed by
the retry. "Call back later" carries the requested time and the follow-up task the store
opened for it, so the journey waits for that task's outcome instead.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from app.journeys import JourneyService
from domain.callbacks import CALLBACK_COMPLETED, CallbackTask, Completion
from domain.customers import Consent, CustomerUpsert
from domain.events import CustomerEvent
from domain.survey_links import SurveyLinks
from domain.surveys import SURVEY_ANSWERED, Answer, Survey, check_score
from store.callbacks import CallbackRefused
from store.surveys import AlreadyAnswered
from store.unit_of_work import append_once, logged, unit_of_work


class UnknownSurvey(LookupError):
    pass


class SupportService:
    def __init__(self, journeys: JourneyService, links: SurveyLinks | None) -> None:
        self.journeys = journeys
        self.store = journeys.store
        self.links = links

    @staticmethod
    def now() -> datetime:
        return datetime.now(UTC)

    def claim(self, task_id: str, agent: str) -> CallbackTask:
        if not agent.strip():
            raise ValueError("say which agent claims the task")
        task = self.store.callbacks.claim(task_id, agent, self.now())
        self.journeys.auditor.record(None, "callback.claim", task_id, {"agent": agent})
        return task

    def claim_next(self, agent: str, queue: str | None = None) -> CallbackTask | None:
        """Claim the open task due soonest (the most overdue first), in `queue` or any; None
        when no task is open. A task another agent claims first is passed over."""
        for task in self.store.callbacks.list(queue):
            if task.status != "open" or task.claimed_by is not None:
                continue
            try:
                return self.claim(task.task_id, agent)
            except CallbackRefused:
                continue
        return None

    async def complete(self, task_id: str, completion: Completion) -> CallbackTask:
        """Record the outcome and its event in one transaction, then deliver the event.

        The same completion again (same agent, outcome, notes and time) is a retry: it writes
        nothing new and delivers the logged event.
        """
        task, event = await asyncio.to_thread(self._complete, task_id, completion, self.now())
        await self.journeys.ingest([event])
        return task

    def _complete(
        self, task_id: str, completion: Completion, now: datetime
    ) -> tuple[CallbackTask, CustomerEvent]:
        with unit_of_work(self.store.engine) as conn:
            task = self.store.callbacks.get(task_id, conn)
            retry = task is not None and _completed_by(task, completion)
            if not retry:
                task = self.store.callbacks.complete(task_id, completion, now, conn)
            assert task is not None
            follow_up = (
                self.store.callbacks.follow_up(task, conn)
                if task.call_back_at is not None
                else None
            )
            event = _completed_event(task, follow_up, now)
            if task.outcome == "do_not_contact" and not (retry and logged(conn, event.event_id)):
                # The customer asked for no more contact: marketing stops on every channel.
                self.store.customers.upsert(
                    CustomerUpsert(
                        customer_id=task.customer_id,
                        consent=Consent(email=False, sms=False, webhook=False),
                    ),
                    now,
                    conn,
                )
            event = append_once(conn, self.store.events, event, now)
            if not retry:
                self.journeys.auditor.record(
                    None,
                    "callback.complete",
                    task_id,
                    {"outcome": task.outcome, "agent": completion.agent},
                    conn=conn,
                )
        return task, event

    def survey_for(self, token: str) -> Survey:
        """The survey a link is for; TokenError for a forged or expired link."""
        if self.links is None:
            raise RuntimeError("survey links are not configured (JOURNEYS_SECRET_KEY)")
        survey_id, customer_id = self.links.read(token, self.now())
        survey = self.store.surveys.get(survey_id)
        if survey is None or survey.customer_id != customer_id:
            raise UnknownSurvey(f"unknown survey {survey_id!r}")
        return survey

    async def answer(self, token: str, answer: Answer) -> Survey:
        """Record the answer and its event in one transaction, then deliver the event.

        The same answer again (same score and comment through the survey's link) is a retry:
        it writes nothing new and delivers the logged event; a different one is refused.
        """
        survey = self.survey_for(token)
        check_score(survey.kind, answer.score)
        answered, event = await asyncio.to_thread(self._answer, survey, answer, self.now())
        await self.journeys.ingest([event])
        return answered

    def _answer(
        self, survey: Survey, answer: Answer, now: datetime
    ) -> tuple[Survey, CustomerEvent]:
        if survey.answered_at is not None and (survey.score, survey.comment) != (
            answer.score,
            answer.comment,
        ):
            raise AlreadyAnswered(f"survey {survey.survey_id} was already answered")
        with unit_of_work(self.store.engine) as conn:
            answered = survey
            if survey.answered_at is None:
                answered = self.store.surveys.answer(
                    survey.survey_id, answer.score, answer.comment, now, conn
                )
            event = append_once(conn, self.store.events, _answered_event(answered, now), now)
        return answered, event


def _completed_by(task: CallbackTask, completion: Completion) -> bool:
    """Whether the task is already done with exactly this completion (a retried request)."""
    return (
        task.status == "done"
        and task.claimed_by == completion.agent
        and task.outcome == completion.outcome
        and task.notes == completion.notes
        and task.call_back_at == completion.call_back_at
    )


def _completed_event(
    task: CallbackTask, follow_up: CallbackTask | None, now: datetime
) -> CustomerEvent:
    """callback_completed, from the task as the store holds it (a retry builds the same)."""
    later: dict[str, str | int | float | bool | None] = {}
    if task.call_back_at is not None:
        later = {
            "call_back_at": task.call_back_at.isoformat(),
            "next_task_id": follow_up.task_id if follow_up else None,
        }
    return CustomerEvent(
        event_id=f"callback.{task.task_id}",
        customer_id=task.customer_id,
        type=CALLBACK_COMPLETED,
        occurred_at=task.completed_at or now,
        properties={
            "task_id": task.task_id,
            "outcome": task.outcome,
            "notes": task.notes[:1000],
            "agent": task.claimed_by,
            "journey_id": task.journey_id,
            **later,
        },
    )


def _answered_event(survey: Survey, now: datetime) -> CustomerEvent:
    """survey_answered, from the survey as the store holds it (a retry builds the same)."""
    return CustomerEvent(
        event_id=f"survey.{survey.survey_id}",
        customer_id=survey.customer_id,
        type=SURVEY_ANSWERED,
        occurred_at=survey.answered_at or now,
        properties={
            "survey_id": survey.survey_id,
            "kind": survey.kind,
            "score": survey.score,
            "comment": survey.comment[:1000],
            "journey_id": survey.journey_id,
        },
    )

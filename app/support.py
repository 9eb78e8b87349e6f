"""Working the callback queue and taking survey answers: what the CLI and the API share.

Completing a callback and answering a survey are events in the customer's log
(callback_completed, survey_answered), appended through the journey service so the run that
waits on them resumes. Both happen once: a second completion or answer is refused and
records nothing. "Call back later" carries the requested time and the follow-up task the store
opened for it, so the journey waits for that task's outcome instead.
"""

from __future__ import annotations

from datetime import UTC, datetime

from app.journeys import JourneyService
from domain.callbacks import CALLBACK_COMPLETED, CallbackTask, Completion
from domain.customers import Consent, CustomerUpsert
from domain.events import CustomerEvent
from domain.survey_links import SurveyLinks
from domain.surveys import SURVEY_ANSWERED, Answer, Survey, check_score
from store.surveys import AlreadyAnswered


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
        return self.store.callbacks.claim(task_id, agent, self.now())

    async def complete(self, task_id: str, completion: Completion) -> CallbackTask:
        task = self.store.callbacks.complete(task_id, completion, self.now())
        later: dict[str, str | int | float | bool | None] = {}
        if completion.call_back_at is not None:
            follow_up = self.store.callbacks.follow_up(task)
            later = {
                "call_back_at": completion.call_back_at.isoformat(),
                "next_task_id": follow_up.task_id if follow_up else None,
            }
        if completion.outcome == "do_not_contact":
            # The customer asked for no more contact: marketing stops on every channel.
            self.store.customers.upsert(
                CustomerUpsert(
                    customer_id=task.customer_id,
                    consent=Consent(email=False, sms=False, webhook=False),
                ),
                self.now(),
            )
        event = CustomerEvent(
            event_id=f"callback.{task.task_id}",
            customer_id=task.customer_id,
            type=CALLBACK_COMPLETED,
            occurred_at=self.now(),
            properties={
                "task_id": task.task_id,
                "outcome": completion.outcome,
                "notes": completion.notes[:1000],
                "agent": completion.agent,
                "journey_id": task.journey_id,
                **later,
            },
        )
        await self.journeys.ingest([event])
        return task

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
        survey = self.survey_for(token)
        check_score(survey.kind, answer.score)
        if survey.answered_at is not None:
            raise AlreadyAnswered(f"survey {survey.survey_id} was already answered")
        answered = self.store.surveys.answer(
            survey.survey_id, answer.score, answer.comment, self.now()
        )
        event = CustomerEvent(
            event_id=f"survey.{survey.survey_id}",
            customer_id=survey.customer_id,
            type=SURVEY_ANSWERED,
            occurred_at=self.now(),
            properties={
                "survey_id": survey.survey_id,
                "kind": survey.kind,
                "score": answer.score,
                "comment": answer.comment[:1000],
                "journey_id": survey.journey_id,
            },
        )
        await self.journeys.ingest([event])
        return answered

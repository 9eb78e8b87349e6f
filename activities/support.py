"""Callback and survey activities: create the task or survey once, escalate an overdue task,
close a task its journey no longer waits for."""

from __future__ import annotations

import asyncio

from temporalio import activity

from domain.callbacks import (
    CLOSE_CALLBACK,
    CREATE_CALLBACK,
    ESCALATE_CALLBACK,
    CallbackTask,
    CloseCallback,
    CreateCallback,
)
from domain.survey_links import SurveyLinks
from domain.surveys import CREATE_SURVEY, CreateSurvey, SurveyLink
from store.store import Store


class SupportActivities:
    def __init__(self, store: Store, links: SurveyLinks | None) -> None:
        self.store = store
        self.links = links

    @activity.defn(name=CREATE_CALLBACK)
    async def create_callback(self, request: CreateCallback) -> CallbackTask:
        """The task, with a link to the customer's timeline for the agent, created once."""
        if self.links is not None:
            base = self.links.public_url.rstrip("/")
            timeline = f"{base}/customers/{request.customer_id}/timeline"
            request = request.model_copy(
                update={"context": {**request.context, "timeline_url": timeline}}
            )
        return await asyncio.to_thread(self.store.callbacks.create, request)

    @activity.defn(name=ESCALATE_CALLBACK)
    async def escalate_callback(self, task_id: str) -> CallbackTask | None:
        return await asyncio.to_thread(self.store.callbacks.escalate, task_id)

    @activity.defn(name=CLOSE_CALLBACK)
    async def close_callback(self, request: CloseCallback) -> CallbackTask | None:
        """Expire or cancel the task unless it is already finished; safe to run twice."""
        return await asyncio.to_thread(self.store.callbacks.close, request)

    @activity.defn(name=CREATE_SURVEY)
    async def create_survey(self, request: CreateSurvey) -> SurveyLink:
        if self.links is None:
            raise RuntimeError("survey links need JOURNEYS_SECRET_KEY and JOURNEYS_PUBLIC_URL")
        survey = await asyncio.to_thread(self.store.surveys.create, request)
        url = self.links.url(survey.survey_id, survey.customer_id, survey.expires_at)
        return SurveyLink(survey_id=survey.survey_id, url=url)

"""In-memory stand-ins for every activity JourneyWorkflow calls, registered under the real names.

`JourneyStandIns` keeps customer profiles in memory and answers the profile activities as the
store does; a subclass decides the rest (a send, the run log, surveys, callbacks). The
simulation (`workers/simulator.py`) and the workflow tests' recording fakes
(`tests/workflows/support.py`) both build on it, so a new activity of the workflow is added once.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any

from temporalio import activity

from domain.callbacks import ESCALATE_CALLBACK, CallbackTask, CloseCallback, CreateCallback
from domain.contracts import (
    LOAD_PROFILE,
    READ_LOG,
    UPDATE_PROFILE,
    AbandonMessage,
    LoadProfile,
    LogPage,
    MessageOutcome,
    ProfileSnapshot,
    ReadLog,
    Recorded,
    RecordSteps,
    SendMessage,
    UpdateProfile,
)
from domain.customers import CustomerProfile
from domain.entry import workflow_id
from domain.journey_start import START_JOURNEY, StartJourney, StartOutcome
from domain.surveys import CreateSurvey, SurveyLink


def updated(profile: CustomerProfile, request: UpdateProfile) -> CustomerProfile:
    """`profile` with the attributes and tags of an `update` step applied."""
    tags = [t for t in profile.tags if t not in request.remove_tags]
    tags += [t for t in request.add_tags if t not in tags]
    attributes = {**profile.attributes, **request.set}
    return profile.model_copy(update={"attributes": attributes, "tags": tags})


class JourneyStandIns(ABC):
    """Profiles in memory; the activities that differ between stand-ins are left abstract."""

    def __init__(self, profiles: list[CustomerProfile] | None = None) -> None:
        self.profiles: dict[str, CustomerProfile] = {p.customer_id: p for p in profiles or []}
        self.started: list[StartJourney] = []  # what start steps asked for

    @activity.defn(name=LOAD_PROFILE)
    async def load_profile(self, request: LoadProfile) -> ProfileSnapshot:
        return ProfileSnapshot(profile=self.profiles.get(request.customer_id))

    @activity.defn(name=UPDATE_PROFILE)
    async def update_profile(self, request: UpdateProfile) -> ProfileSnapshot:
        profile = self.profiles.get(request.customer_id)
        if profile is None:
            return ProfileSnapshot(profile=None)
        profile = updated(profile, request)
        self.profiles[request.customer_id] = profile
        return ProfileSnapshot(profile=profile)

    @activity.defn(name=ESCALATE_CALLBACK)
    async def escalate_callback(self, task_id: str) -> CallbackTask | None:
        return None

    @activity.defn(name=READ_LOG)
    async def read_log(self, request: ReadLog) -> LogPage:
        # No log here: events reach stand-in runs by signal only.
        return LogPage(trigger_seq=request.after_seq)

    @activity.defn(name=START_JOURNEY)
    async def start_journey(self, request: StartJourney) -> StartOutcome:
        """A start step answers "started" and starts nothing: a stand-in run has no other
        journeys to enter (the simulation follows one journey)."""
        self.started.append(request)
        return StartOutcome(
            status="started",
            detail="first entry (stand-in: nothing enrolled)",
            workflow_id=workflow_id(request.journey_id, request.customer_id),
            version=1,
        )

    @abstractmethod
    async def send_message(self, request: SendMessage) -> MessageOutcome: ...

    @abstractmethod
    async def record_steps(self, request: RecordSteps) -> Recorded: ...

    @abstractmethod
    async def create_callback(self, request: CreateCallback) -> CallbackTask: ...

    @abstractmethod
    async def close_callback(self, request: CloseCallback) -> CallbackTask | None: ...

    @abstractmethod
    async def abandon_message(self, request: AbandonMessage) -> None: ...

    @abstractmethod
    async def create_survey(self, request: CreateSurvey) -> SurveyLink: ...

    @property
    def activities(self) -> list[Callable[..., Any]]:
        return [
            self.send_message,
            self.load_profile,
            self.update_profile,
            self.record_steps,
            self.read_log,
            self.create_callback,
            self.escalate_callback,
            self.create_survey,
            self.close_callback,
            self.abandon_message,
            self.start_journey,
        ]

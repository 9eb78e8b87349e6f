"""A `start` step: one journey's run enrolls its customer in another journey.

The run asks for the start through the START_JOURNEY activity; the other journey's entry rules
(pause, re-entry policy, consent of its own sends) decide, and the answer is the step's output.
The event id of the started run's trigger is derived from the asking run's step and visit, so a
retried activity starts nothing twice.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

START_JOURNEY = "start_journey"
# The trigger event the started run gets (its properties are the step's `properties`).
JOURNEY_STARTED_BY_STEP = "journey_started"

StartStatus = Literal["started", "already", "paused", "not_eligible", "missing"]


class StartJourney(BaseModel):
    """Start `journey_id` for `customer_id`, asked by a step of another run."""

    journey_id: str
    customer_id: str
    properties: dict[str, Any] = Field(default_factory=dict)
    # Who asked: the asking run and step, and an idempotency key (workflow/entry/step/visit).
    parent_journey_id: str
    parent_workflow_id: str
    parent_entry_id: str
    step_id: str
    idempotency_key: str
    at: datetime


class StartOutcome(BaseModel):
    """What the start did: the step's output (`steps.<id>.status`, `.detail`, `.workflow_id`)."""

    status: StartStatus
    detail: str = ""
    workflow_id: str | None = None
    version: int | None = None

"""A `start` step: one journey's run enrolls its customer in another journey.

The run asks for the start through the START_JOURNEY activity; the other journey's entry rules
(pause, re-entry policy) decide, and the answer is the step's output. The start is an
enrollment like a manual one: a `journey_enrolled` event in the customer's log, delivered in
log order. Its event id is derived from the asking run's step and visit (the idempotency key),
so a retried activity starts nothing twice.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

START_JOURNEY = "start_journey"
# The type of the trigger event the started run gets: the enrollment event of any manual
# enrollment. Its properties are the step's rendered `properties`, `journey_id` and who asked.
START_EVENT = "journey_enrolled"
# Properties of that event saying which run and step asked (a step's own keys cannot hide them).
STARTED_BY_JOURNEY = "started_by_journey"
STARTED_BY_RUN = "started_by_run"
STARTED_BY_STEP = "started_by_step"

# started: a run of the other journey began; already: the customer is in it now; paused: it
# takes no new entrants (nothing was enrolled); not_eligible: its re-entry policy (or the
# customer's state) says no; missing: no such journey is published; failed: the enrollment was
# logged but could not be delivered for a reason that will not heal (it is parked).
StartStatus = Literal["started", "already", "paused", "not_eligible", "missing", "failed"]


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


def start_properties(request: StartJourney) -> dict[str, Any]:
    """The started run's trigger properties: the step's, then which journey and who asked."""
    return {
        **request.properties,
        "journey_id": request.journey_id,
        STARTED_BY_JOURNEY: request.parent_journey_id,
        STARTED_BY_RUN: request.parent_workflow_id,
        STARTED_BY_STEP: request.step_id,
    }


def start_outcome(
    action: str, reason: str, workflow_id: str | None, version: int | None = None
) -> StartOutcome:
    """Read what delivering the enrollment did (a delivery's action and reason) as an outcome.

    `signalled`: the customer was in the journey already, and its running run got the event.
    A skip names why: the journey paused or unknown by the time the event was delivered, the
    customer in it already, or its re-entry policy (once, cooldown).
    """
    if action == "started":
        return StartOutcome(
            status="started", detail=reason, workflow_id=workflow_id, version=version
        )
    if action == "signalled":
        return StartOutcome(
            status="already", detail="already in this journey", workflow_id=workflow_id
        )
    if action == "failed":
        return StartOutcome(status="failed", detail=reason)
    if reason == "journey paused":
        return StartOutcome(
            status="paused", detail="the journey is paused: it takes no new entrants"
        )
    if reason == "journey unknown":
        return StartOutcome(status="missing", detail="no such journey is published")
    if reason == "already in this journey":
        return StartOutcome(status="already", detail=reason, workflow_id=workflow_id)
    return StartOutcome(status="not_eligible", detail=reason)

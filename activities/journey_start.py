"""The `start` step's activity: enroll the customer in another journey through the service.

The service's entry path decides (the target's pause state and re-entry policy, in the
customer's log order); this only turns its answer into the step's outcome. Every definite
answer, the refusals included, is an outcome: only "logged, not yet delivered" is retried.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Protocol

from temporalio import activity
from temporalio.exceptions import ApplicationError

from domain.journey_start import START_JOURNEY, StartJourney, StartOutcome

# Retried: the enrollment is logged and its delivery is still pending (another deliverer holds
# the customer, or Temporal did not answer); the next attempt finds the same event.
START_PENDING = "StartPending"


class StartsJourneys(Protocol):
    def start_journey(self, request: StartJourney) -> Awaitable[StartOutcome | None]: ...


class JourneyStartActivities:
    def __init__(self, journeys: StartsJourneys) -> None:
        self.journeys = journeys

    @activity.defn(name=START_JOURNEY)
    async def start_journey(self, request: StartJourney) -> StartOutcome:
        outcome = await self.journeys.start_journey(request)
        if outcome is None:
            raise ApplicationError(
                f"the enrollment in {request.journey_id!r} is logged; its delivery is pending",
                type=START_PENDING,
            )
        activity.logger.info(
            "journey start",
            extra={"target": request.journey_id, "status": outcome.status},
        )
        return outcome

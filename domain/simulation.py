"""The behaviour model a simulation runs customers by, and the synthetic cohort it starts with.

Pure and seeded: the same seed gives the same cohort and the same choices, so two runs of a
simulation agree and a change to a journey is the only thing that moves the numbers. Every choice
is a hash of (seed, customer, day, what is being decided), never a draw from a shared generator:
the order in which a worker happens to finish runs cannot move a number, and a cohort split over
processes makes the same choices as one process.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Sequence
from dataclasses import dataclass

from pydantic import BaseModel, Field

from domain.callbacks import CALLBACK_COMPLETED
from domain.customers import CustomerProfile
from domain.journey import CallbackStep, JourneyDefinition, SurveyStep, WaitForStep
from domain.surveys import SURVEY_ANSWERED

TIMEZONES = ("Europe/Berlin", "America/New_York", "Asia/Shanghai", "America/Sao_Paulo", "UTC")
LOCALES = ("en", "zh-CN")
TIERS = ("high", "medium", "low")


class Behaviour(BaseModel):
    """Chances that drive simulated customers."""

    open_per_message: float = Field(default=0.35, ge=0, le=1)
    click_per_open: float = Field(default=0.2, ge=0, le=1)
    order_per_day: float = Field(default=0.01, ge=0, le=1)
    answer_per_survey: float = Field(default=0.25, ge=0, le=1)
    reach_per_callback: float = Field(
        default=0.5, ge=0, le=1, description="Chance per day that an agent reaches the customer."
    )
    seed: int = 7


def cohort(size: int, seed: int) -> list[CustomerProfile]:
    """`size` synthetic customers spread over timezones, locales and value tiers."""
    rng = random.Random(seed)
    return [
        CustomerProfile(
            customer_id=f"sim-{i:06d}",
            email=f"sim-{i:06d}@example.com",
            timezone=rng.choice(TIMEZONES),
            locale=rng.choice(LOCALES),
            attributes={"first_name": f"Sim{i}", "value_tier": rng.choice(TIERS)},
        )
        for i in range(size)
    ]


def chance(seed: int, *key: str | int) -> float:
    """A number in [0, 1) that depends on the seed and the key alone."""
    digest = hashlib.blake2b(repr((seed, *key)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def pick(point: float, weights: Sequence[float]) -> int:
    """The index whose share of `weights` holds `point` (a number in [0, 1))."""
    target, running = point * sum(weights), 0.0
    for index, weight in enumerate(weights):
        running += weight
        if target < running:
            return index
    return len(weights) - 1


def listened_events(journey: JourneyDefinition) -> frozenset[str]:
    """The customer event types that can change what a run of `journey` does: its goals and the
    events its steps wait for. Other events only sit in the run's inbox."""
    types = {goal.event for goal in journey.exit_when}
    for step in journey.steps:
        if isinstance(step, WaitForStep):
            types.add(step.wait_for.event)
        elif isinstance(step, SurveyStep):
            types.add(SURVEY_ANSWERED)
        elif isinstance(step, CallbackStep):
            types.add(CALLBACK_COMPLETED)
    return frozenset(types)


@dataclass
class DayActions:
    """What one customer does on one simulated day."""

    opens: int = 0
    clicks: int = 0
    ordered: bool = False
    answered: bool = False


NPS_WEIGHTS = (1, 1, 1, 1, 2, 2, 3, 6, 8, 9, 8)  # scores 0..10
CSAT_WEIGHTS = (1, 1, 2, 5, 6)  # scores 1..5


class Model:
    """Draws each customer's actions from `Behaviour`: a pure function of (seed, customer, day)."""

    def __init__(self, behaviour: Behaviour) -> None:
        self.behaviour = behaviour

    def _chance(self, customer_id: str, day: int, *what: str | int) -> float:
        return chance(self.behaviour.seed, customer_id, day, *what)

    def day(
        self, customer_id: str, day: int, messages_received: int, surveys_received: int
    ) -> DayActions:
        b = self.behaviour
        actions = DayActions()
        for i in range(messages_received):
            if self._chance(customer_id, day, "open", i) < b.open_per_message:
                actions.opens += 1
                actions.clicks += self._chance(customer_id, day, "click", i) < b.click_per_open
        actions.ordered = self._chance(customer_id, day, "order") < b.order_per_day
        actions.answered = (
            surveys_received > 0 and self._chance(customer_id, day, "answer") < b.answer_per_survey
        )
        return actions

    def score(self, customer_id: str, day: int, kind: str) -> int:
        """A survey score: mostly content customers, some unhappy ones."""
        point = self._chance(customer_id, day, "score", kind)
        if kind == "nps":
            return pick(point, NPS_WEIGHTS)
        return 1 + pick(point, CSAT_WEIGHTS)

    def reached(self, customer_id: str, day: int, task: int) -> bool:
        """Whether an agent reaches the customer about their `task`-th open callback today."""
        return self._chance(customer_id, day, "reach", task) < self.behaviour.reach_per_callback

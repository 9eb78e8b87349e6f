"""The behaviour model a simulation runs customers by, and the synthetic cohort it starts with.

Pure and seeded: the same seed gives the same cohort and the same choices, so two runs of a
simulation agree and a change to a journey is the only thing that moves the numbers.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from pydantic import BaseModel, Field

from domain.customers import CustomerProfile

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


@dataclass
class DayActions:
    """What one customer does on one simulated day."""

    opens: int = 0
    clicks: int = 0
    ordered: bool = False
    answered: bool = False


class Model:
    """Draws each customer's actions from `Behaviour`, deterministically per seed."""

    def __init__(self, behaviour: Behaviour) -> None:
        self.behaviour = behaviour
        self._rng = random.Random(behaviour.seed)

    def day(self, messages_received: int, surveys_received: int) -> DayActions:
        b, rng = self.behaviour, self._rng
        actions = DayActions()
        for _ in range(messages_received):
            if rng.random() < b.open_per_message:
                actions.opens += 1
                actions.clicks += rng.random() < b.click_per_open
        actions.ordered = rng.random() < b.order_per_day
        actions.answered = surveys_received > 0 and rng.random() < b.answer_per_survey
        return actions

    def score(self, kind: str) -> int:
        """A survey score: mostly content customers, some unhappy ones."""
        if kind == "nps":
            return int(self._rng.choices(range(11), weights=[1, 1, 1, 1, 2, 2, 3, 6, 8, 9, 8])[0])
        return int(self._rng.choices(range(1, 6), weights=[1, 1, 2, 5, 6])[0])

    def reached(self) -> bool:
        return self._rng.random() < self.behaviour.reach_per_callback

"""A/B/n splits and holdouts: stable assignment per customer, and the numbers that judge them.

Assignment hashes (journey, step, customer): the same customer always lands in the same
variant of the same step, across retries, replays and re-entries, without any stored state
or randomness inside the workflow.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

HOLDOUT = "holdout"
TREATMENT = "treatment"


class Weighted(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def weight(self) -> float: ...


def bucket(journey_id: str, step_id: str, customer_id: str) -> float:
    """A number in [0, 1) fixed by its three arguments and evenly spread over customers."""
    digest = hashlib.sha256(f"{journey_id}\x1f{step_id}\x1f{customer_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def choose(variants: Sequence[Weighted], point: float) -> str:
    """The variant whose share of the total weight covers `point` (variants in their order)."""
    total = sum(v.weight for v in variants)
    if total <= 0:
        raise ValueError("split weights must not all be zero")
    edge = 0.0
    for variant in variants:
        edge += variant.weight / total
        if point < edge and variant.weight > 0:
            return variant.name
    return next(v.name for v in reversed(variants) if v.weight > 0)


def held_out(percent: float, point: float) -> bool:
    return point < percent / 100


@dataclass(frozen=True)
class Arm:
    """One variant's results: how many entered, how many converted."""

    name: str
    entered: int
    converted: int

    @property
    def rate(self) -> float:
        return self.converted / self.entered if self.entered else 0.0


@dataclass(frozen=True)
class Comparison:
    arm: Arm
    baseline: Arm
    lift: float | None  # relative: (rate - baseline) / baseline; None when baseline rate is 0
    z: float | None
    p_value: float | None  # two-sided, two-proportion z-test; None when it cannot be computed


def compare(arm: Arm, baseline: Arm) -> Comparison:
    """Lift of `arm` over `baseline` and a two-sided two-proportion z-test (pooled variance)."""
    lift = (arm.rate - baseline.rate) / baseline.rate if baseline.rate else None
    n1, n2 = arm.entered, baseline.entered
    if not n1 or not n2:
        return Comparison(arm, baseline, lift, None, None)
    pooled = (arm.converted + baseline.converted) / (n1 + n2)
    variance = pooled * (1 - pooled) * (1 / n1 + 1 / n2)
    if variance == 0:
        return Comparison(arm, baseline, lift, None, None)
    z = (arm.rate - baseline.rate) / math.sqrt(variance)
    return Comparison(arm, baseline, lift, z, math.erfc(abs(z) / math.sqrt(2)))


@dataclass(frozen=True)
class ArmResult:
    """One row of an experiment report: an arm of a split or holdout step, and its verdict."""

    step_id: str
    kind: str  # split | holdout
    arm: Arm
    versus: Comparison | None  # against the baseline; None for the baseline itself


def judge(arms: Sequence[tuple[str, str, Arm]]) -> list[ArmResult]:
    """Compare every arm with the journey's holdout, or with its step's first arm if none.

    `arms` holds (step id, step kind, arm) in report order.
    """
    holdout = next((a for _, kind, a in arms if kind == "holdout" and a.name == HOLDOUT), None)
    results = []
    for step_id, kind, arm in arms:
        baseline = holdout or next(a for s, _, a in arms if s == step_id)
        versus = None if arm is baseline else compare(arm, baseline)
        results.append(ArmResult(step_id, kind, arm, versus))
    return results

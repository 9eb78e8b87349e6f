"""Splits and holdouts: stable assignment, weights that are checked, and honest statistics."""

from __future__ import annotations

from collections import Counter

import pytest

from domain.experiments import Arm, bucket, choose, compare, held_out
from domain.journey import SplitVariant
from domain.loader import load_journey_text
from domain.problems import JourneyError

JOURNEY = """
id: promo
name: Promo
trigger: {{event: signed_up}}
templates:
  a: {{subject: A, text: a}}
steps:
  - id: pick
    split: {split}
  - {{id: left, send: {{channel: email, template: a}}}}
  - {{id: right, end: done}}
"""


def variants(**weights: float) -> list[SplitVariant]:
    return [SplitVariant(name=name, weight=w, goto="x") for name, w in weights.items()]


def test_the_same_customer_always_lands_in_the_same_bucket() -> None:
    assert bucket("promo", "pick", "ada") == bucket("promo", "pick", "ada")
    assert bucket("promo", "pick", "ada") != bucket("promo", "other_step", "ada")


def test_weights_share_customers_in_proportion() -> None:
    split = variants(a=3, b=1)
    counts = Counter(choose(split, bucket("promo", "pick", f"c{i}")) for i in range(20_000))
    assert 0.73 < counts["a"] / 20_000 < 0.77


def test_a_variant_with_weight_zero_gets_nobody() -> None:
    split = variants(a=1, closed=0, b=1)
    chosen = {choose(split, bucket("promo", "pick", f"c{i}")) for i in range(2_000)}
    assert chosen == {"a", "b"}


def test_holdout_takes_its_percent_of_customers() -> None:
    held = sum(held_out(10, bucket("promo", "hold", f"c{i}")) for i in range(20_000))
    assert 0.09 < held / 20_000 < 0.11


def test_negative_weight_is_refused_naming_the_step_and_field() -> None:
    text = JOURNEY.format(split="[{name: a, weight: -1, goto: left}, {name: b, goto: right}]")
    with pytest.raises(JourneyError) as caught:
        load_journey_text(text, source="promo.yaml")
    [problem] = caught.value.problems
    assert problem.step == "pick" and problem.field == "split.0.weight"
    assert "greater than or equal to 0" in problem.message


def test_all_zero_weights_are_refused() -> None:
    text = JOURNEY.format(
        split="[{name: a, weight: 0, goto: left}, {name: b, weight: 0, goto: right}]"
    )
    with pytest.raises(JourneyError, match="weights are all zero"):
        load_journey_text(text, source="promo.yaml")


def test_a_split_to_an_unknown_step_is_refused() -> None:
    text = JOURNEY.format(split="[{name: a, goto: left}, {name: b, goto: nowhere}]")
    with pytest.raises(JourneyError) as caught:
        load_journey_text(text, source="promo.yaml")
    assert any(p.field == "split[1].goto" and "nowhere" in p.message for p in caught.value.problems)


def test_split_targets_make_their_steps_reachable() -> None:
    journey = load_journey_text(
        JOURNEY.format(split="[{name: a, goto: left}, {name: b, goto: right}]")
    )
    assert [step.id for step in journey.steps] == ["pick", "left", "right"]


def test_lift_and_p_value_of_a_clear_difference() -> None:
    result = compare(Arm("a", 1000, 150), Arm("holdout", 1000, 100))
    assert result.lift == pytest.approx(0.5)
    assert result.z == pytest.approx(3.38, abs=0.01)
    assert result.p_value == pytest.approx(0.00072, abs=0.00005)


def test_no_difference_is_not_significant_and_empty_arms_give_no_test() -> None:
    assert compare(Arm("a", 500, 50), Arm("b", 500, 50)).p_value == pytest.approx(1.0)
    empty = compare(Arm("a", 0, 0), Arm("b", 100, 10))
    assert empty.p_value is None and empty.lift == pytest.approx(-1.0)
    assert compare(Arm("a", 10, 1), Arm("b", 10, 0)).lift is None

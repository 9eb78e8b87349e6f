"""The words `journeys diff` prints for each kind of change, and the unified YAML diff."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from domain.journey import JourneyDefinition
from domain.journey_diff import diff_journeys
from domain.loader import load_journey_file, parse_journey

JOURNEYS = Path(__file__).resolve().parents[2] / "journeys"
BUILT_IN = sorted(JOURNEYS.glob("*.yaml"))


def raw(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((JOURNEYS / f"{name}.yaml").read_text())
    return loaded


def words(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    result = diff_journeys(parse_journey(old), parse_journey(new), old_label="a", new_label="b")
    return [change.describe() for change in result.changes]


def step(document: dict[str, Any], step_id: str) -> dict[str, Any]:
    found: dict[str, Any] = next(s for s in document["steps"] if s["id"] == step_id)
    return found


@pytest.mark.parametrize("path", BUILT_IN, ids=lambda p: p.stem)
def test_a_journey_against_itself_has_no_differences(path: Path) -> None:
    journey: JourneyDefinition = load_journey_file(path)
    result = diff_journeys(journey, journey, old_label="v1", new_label="v1")
    assert result.changes == [] and result.unified == ""
    assert result.summary() == "no differences"


def test_a_changed_wait_and_channel_are_named_with_old_and_new() -> None:
    old = raw("win_back")
    new = copy.deepcopy(old)
    step(new, "wait_second_offer")["wait"]["for"] = "5d"
    assert words(old, new) == ["~ step wait_second_offer: wait.for: 7d -> 5d"]


def test_an_added_and_a_removed_step_and_the_steps_whose_next_step_moved() -> None:
    old = raw("win_back")
    new = copy.deepcopy(old)
    index = next(i for i, s in enumerate(new["steps"]) if s["id"] == "better_offer")
    new["steps"].insert(index, {"id": "pause_a_day", "wait": {"for": "1d"}})
    new["steps"] = [s for s in new["steps"] if s["id"] != "mark_churned"]
    found = words(old, new)
    assert "+ step pause_a_day: wait; at position 4" in found
    assert "- step mark_churned: update" in found
    assert "~ step wait_second_offer: goes next to: better_offer -> pause_a_day" in found
    assert "~ step wait_for_order: goes next to: mark_churned -> done" in found


def test_branch_conditions_and_targets() -> None:
    old = raw("win_back")
    new = copy.deepcopy(old)
    branch = step(new, "by_tier")["branch"]
    before = branch[0]["when"]
    branch[0]["when"] = "profile.metrics.tier == 'high'"
    [change] = words(old, new)
    assert change.startswith("~ step by_tier: branch[1].when: ")
    assert before[:20] in change and change.endswith("""-> "profile.metrics.tier == 'high'\"""")


def test_trigger_goals_and_journey_fields() -> None:
    old = raw("win_back")
    new = copy.deepcopy(old)
    new["trigger"]["cooldown"] = "30d"
    new["exit_when"].append({"event": "case_opened", "converted": False})
    new["name"] = "Win back (v2)"
    found = words(old, new)
    assert "~ trigger: cooldown: 90d -> 30d" in found
    assert any(line.startswith("+ goal case_opened") for line in found)
    assert any(line.startswith("~ journey: name: ") and "Win back (v2)" in line for line in found)


def test_template_texts_are_compared_per_locale() -> None:
    old = raw("win_back")
    new = copy.deepcopy(old)
    template = new["templates"]["we_miss_you"]
    template["subject"] = "We really miss you"
    zh = template["locales"]["zh-CN"]
    zh["text"] = zh["text"].rstrip("\n") + "\n另外：谢谢您。\n"
    [change] = words(old, new)
    assert change.startswith("~ template we_miss_you: subject (default): ")
    assert "-> 'We really miss you'" in change
    assert "text (zh-CN) changed: +1 -0 lines" in change


def test_the_unified_diff_shows_the_yaml_lines_that_differ() -> None:
    old = raw("win_back")
    new = copy.deepcopy(old)
    step(new, "wait_second_offer")["wait"]["for"] = "5d"
    result = diff_journeys(
        parse_journey(old), parse_journey(new), old_label="win_back v1", new_label="b.yaml"
    )
    lines = result.unified.splitlines()
    assert lines[:2] == ["--- win_back v1", "+++ b.yaml"]
    assert "-    for: 7d" in lines and "+    for: 5d" in lines
    # Several-line texts stay readable blocks, as journey files are written.
    assert "text: |" in result.unified or result.unified.count("\\n") == 0

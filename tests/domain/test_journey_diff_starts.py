"""The diff of start steps: which journey is started and with which properties, in words."""

from __future__ import annotations

from domain.journey_diff import diff_journeys
from domain.loader import load_journey_text

HEAD = "id: welcome\nname: Welcome\ntrigger: {event: signed_up}\nsteps:\n"


def changes(old_steps: str, new_steps: str) -> list[str]:
    old, new = load_journey_text(HEAD + old_steps), load_journey_text(HEAD + new_steps)
    diff = diff_journeys(old, new, old_label="welcome v1", new_label="welcome v2")
    return [change.describe() for change in diff.changes]


def test_a_start_step_changing_its_target_and_properties_says_how() -> None:
    assert changes(
        "  - {id: hand_over, start: {journey: nurture, properties: {tries: 1}}}\n",
        "  - {id: hand_over, start: {journey: vip_care, properties: {tries: 2, "
        "source: '{{ trigger.type }}'}}}\n",
    ) == [
        "~ step hand_over: start.journey: nurture -> vip_care; start.properties.tries: 1 -> 2; "
        "start.properties.source: (none) -> '{{ trigger.type }}'"
    ]


def test_a_start_step_added_or_removed_names_the_journey_it_starts() -> None:
    assert changes(
        "  - {id: pause, wait: {for: 1d}}\n  - {id: hand_over, start: {journey: nurture}}\n",
        "  - {id: pause, wait: {for: 1d}}\n  - {id: to_vip, start: {journey: vip_care}}\n",
    ) == [
        "~ step pause: goes next to: hand_over -> to_vip",
        "- step hand_over: start; starts journey nurture",
        "+ step to_vip: start; starts journey vip_care; at position 2",
    ]

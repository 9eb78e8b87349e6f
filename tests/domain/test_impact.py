"""The impact report, built from counts alone: which steps with runs on them the new version
removes or changes (against each live version), a new journey, an unchanged file, two funnels."""

from __future__ import annotations

from datetime import date

from domain.impact import (
    PINNED,
    AudienceImpact,
    SimulatedFunnel,
    compare_funnels,
    impact_report,
)
from domain.journey import JourneyDefinition
from domain.loader import load_journey_text

V1 = """
id: drip
name: Drip
trigger: {event: signed_up}
templates:
  hello: {subject: Hello, text: Hi}
  nudge: {subject: Nudge, text: Come back}
steps:
  - {id: hello, send: {channel: email, template: hello}}
  - {id: pause, wait: {for: 2d}}
  - {id: nudge, send: {channel: email, template: nudge}}
  - {id: done, end: finished}
"""


def journey(text: str) -> JourneyDefinition:
    return load_journey_text(text, source="drip.yaml")


def versions() -> tuple[JourneyDefinition, JourneyDefinition, JourneyDefinition]:
    v1 = journey(V1)
    v2 = journey(V1.replace("for: 2d", "for: 3d"))
    # The new one: nudge removed, the wait back to 2d.
    new = journey(V1.replace("  - {id: nudge, send: {channel: email, template: nudge}}\n", ""))
    return v1, v2, new


def test_steps_with_runs_are_judged_against_the_version_the_runs_are_on() -> None:
    v1, v2, new = versions()
    report = impact_report(
        new,
        "drip.yaml",
        published_version=2,
        status="active",
        versions={1: v1, 2: v2},
        in_flight=[
            (1, "hello", 1),
            (1, "pause", 4),
            (1, "nudge", 2),
            (2, "pause", 3),
            (2, None, 1),
            (2, "hello", 0),
        ],
    )
    assert report.published_version == 2 and not report.unchanged
    by_version = {v.version: v for v in report.in_flight}
    assert sorted(by_version) == [1, 2]
    first = {s.step_id: s for s in by_version[1].steps}
    assert first["hello"].fate == "unchanged"
    # v1 waits 2d, as the new one does, but then goes on to a step that is gone.
    assert first["pause"].fate == "changed"
    assert first["pause"].details == ["goes next to: nudge -> done"]
    assert first["nudge"].fate == "removed" and first["nudge"].kind == "send email"
    assert (by_version[1].runs, by_version[1].on_removed, by_version[1].on_changed) == (7, 2, 4)
    second = {s.step_id: s for s in by_version[2].steps}
    assert second["pause"].fate == "changed"
    assert "wait.for: 3d -> 2d" in second["pause"].details
    assert second[None].fate == "starting"
    assert "hello" not in second  # no runs there: no row
    assert (by_version[2].runs, by_version[2].on_removed, by_version[2].on_changed) == (4, 0, 3)
    assert [s.step_id for s in by_version[2].steps] == [None, "pause"]
    assert report.runs_in_flight == 11 and report.runs_on_affected_steps == 9
    assert PINNED in report.notes
    assert "publishing would create drip v3" in report.notes
    assert report.summary.startswith("1 step changed, 1 step removed")


def test_a_new_journey_has_no_runs_and_says_it_would_be_version_1() -> None:
    _, _, new = versions()
    audience = AudienceImpact(
        segment="never_ordered",
        as_of=date(2026, 1, 5),
        members=10,
        would_enroll=7,
        blocked=2,
        erased=1,
    )
    report = impact_report(new, "drip.yaml", published_version=None, audience=audience)
    assert report.published_version is None and report.in_flight == []
    assert "never published" in report.summary
    assert report.notes == ["publishing would create drip v1"]
    assert report.audience is not None and report.audience.would_enroll == 7


def test_a_file_equal_to_the_newest_version_changes_nothing() -> None:
    v1, _, _ = versions()
    report = impact_report(
        v1, "drip.yaml", published_version=1, versions={1: v1}, in_flight=[(1, "nudge", 3)]
    )
    assert report.unchanged and report.summary == "no differences"
    assert report.runs_on_affected_steps == 0
    assert report.notes[0].startswith("no differences from v1: publishing would keep v1")


def test_funnels_side_by_side_list_removed_steps_last_and_zeros_where_no_run_went() -> None:
    _, v2, new = versions()
    current = SimulatedFunnel(
        label="v2",
        customers=20,
        days=10,
        steps={"hello": {"entered": 20, "completed": 20}, "nudge": {"entered": 18}},
    )
    simulated = SimulatedFunnel(
        label="drip.yaml", customers=20, days=10, steps={"hello": {"entered": 20}}
    )
    funnel = compare_funnels(v2, new, current, simulated, sample="20 customers", seed=7)
    rows = {row.step_id: row for row in funnel.rows}
    assert [row.step_id for row in funnel.rows] == ["hello", "pause", "done", "nudge"]
    assert rows["hello"].current is not None and rows["hello"].current["completed"] == 20
    assert rows["pause"].new == dict.fromkeys(
        ("entered", "completed", "skipped", "exited", "failed"), 0
    )
    assert rows["nudge"].new is None and rows["nudge"].current is not None
    assert rows["nudge"].current["entered"] == 18
    only_new = compare_funnels(None, new, None, simulated, sample="20", seed=7)
    assert all(row.current is None for row in only_new.rows)

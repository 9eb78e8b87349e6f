"""A journey's funnel as a PNG: one bar group per step, entered against completed."""

from __future__ import annotations

from pathlib import Path

from matplotlib.figure import Figure  # no pyplot: no global state, no display needed

from domain.journey import JourneyDefinition
from store.reports import StepCounts


def draw_funnel(journey: JourneyDefinition, steps: list[StepCounts], path: Path) -> None:
    labels = [f"v{s.version} {s.step_id}" for s in steps]
    positions = range(len(steps))
    figure = Figure(figsize=(8, max(2.5, 0.45 * len(steps) + 1)))
    axes = figure.subplots()
    axes.barh([p + 0.2 for p in positions], [s.entered for s in steps], 0.4, label="entered")
    axes.barh(
        [p - 0.2 for p in positions],
        [s.completed for s in steps],
        0.4,
        label="completed",
    )
    axes.set_yticks(list(positions), labels)
    axes.invert_yaxis()
    axes.set_xlabel("runs")
    axes.set_title(f"{journey.name} ({journey.id}): funnel by step")
    axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=100)

"""A journey's funnel as a PNG: one bar group per step: entered, completed and converted."""

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
    for offset, label in ((-0.27, "entered"), (0, "completed"), (0.27, "converted")):
        counts = [getattr(s, label) for s in steps]
        axes.barh([p + offset for p in positions], counts, 0.27, label=label)
    axes.set_yticks(list(positions), labels)
    axes.invert_yaxis()
    axes.set_xlabel("runs")
    axes.set_title(f"{journey.name} ({journey.id}): funnel by step")
    axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=100)

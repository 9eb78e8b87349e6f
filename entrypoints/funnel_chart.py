"""A journey's funnel as a PNG: one bar group per step (entered, completed, skipped, converted),
each bar labelled with its count, the legend above the plot where it never covers a bar."""

from __future__ import annotations

import textwrap
from pathlib import Path

from matplotlib.figure import Figure  # no pyplot: no global state, no display needed
from matplotlib.ticker import MaxNLocator

from domain.journey import JourneyDefinition
from store.reports import StepCounts

# What each step's bars count, and how they look: colour-blind-safe hues (Okabe-Ito); skipped
# is hatched grey, so it reads as "passed over" even printed in black and white.
BARS = (
    ("entered", "#0072B2", ""),
    ("completed", "#009E73", ""),
    ("skipped", "#BBBBBB", "//"),
    ("converted", "#E69F00", ""),
)
BAR_HEIGHT = 0.2
DPI = 100


def draw_funnel(
    journey: JourneyDefinition,
    steps: list[StepCounts],
    path: Path,
    empty_note: str | None = None,
) -> None:
    """Write the chart of `steps` to `path` as a PNG (see funnel_figure)."""
    funnel_figure(journey, steps, empty_note).savefig(path, dpi=DPI)


def funnel_figure(
    journey: JourneyDefinition, steps: list[StepCounts], empty_note: str | None = None
) -> Figure:
    """The chart of `steps`; with no steps, or with `empty_note`, a chart that says in words
    why there is nothing to draw (never a blank plot)."""
    title = f"{journey.name} ({journey.id}): funnel by step"
    if empty_note is not None or not steps:
        return _empty(title, empty_note or f"{journey.id}: no step has been reached yet.")
    several = len({s.version for s in steps}) > 1
    labels = [(f"v{s.version} " if several else "") + s.step_id for s in steps]
    group = len(BARS) * BAR_HEIGHT + 0.25  # each step's bars, and a gap before the next
    figure = Figure(figsize=(9, 1.4 + 0.6 * len(steps) * group), layout="constrained")
    axes = figure.subplots()
    most = max(max(getattr(s, name) for name, _, _ in BARS) for s in steps)
    for n, (name, colour, hatch) in enumerate(BARS):
        counts = [getattr(s, name) for s in steps]
        offsets = [i * group + n * BAR_HEIGHT for i in range(len(steps))]
        bars = axes.barh(
            offsets,
            counts,
            BAR_HEIGHT * 0.9,
            label=name,
            color=colour,
            hatch=hatch,
            edgecolor="#555555" if hatch else colour,
            linewidth=0.6,
        )
        # A count on every bar that has one; a step nobody reached says so once, below.
        axes.bar_label(
            bars,
            labels=[str(c) if c else "" for c in counts],
            padding=3,
            fontsize=8,
            color="#333333",
        )
    centres = [i * group + (len(BARS) - 1) * BAR_HEIGHT / 2 for i in range(len(steps))]
    axes.set_yticks(centres, labels)
    for centre, step in zip(centres, steps, strict=True):
        if not any(getattr(step, name) for name, _, _ in BARS):  # part of the funnel too
            axes.annotate(
                "not reached",
                (0, centre),
                xytext=(6, 0),
                textcoords="offset points",
                va="center",
                fontsize=8,
                color="#777777",
                style="italic",
            )
    axes.invert_yaxis()
    axes.set_xlim(0, max(most, 1) * 1.12)  # room for the count labels past the longest bar
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_xlabel("runs")
    axes.spines[["top", "right"]].set_visible(False)
    axes.grid(axis="x", color="#e5e5e5", linewidth=0.8)
    axes.set_axisbelow(True)
    axes.set_title(title, loc="left", fontsize=12, pad=12)
    figure.legend(loc="outside upper right", ncols=len(BARS), frameon=False, fontsize=9)
    return figure


def _empty(title: str, note: str) -> Figure:
    figure = Figure(figsize=(9, 2.6), layout="constrained")
    figure.suptitle(title, x=0.02, ha="left", fontsize=12)
    figure.text(
        0.5,
        0.45,
        "\n".join(textwrap.wrap(note, 90)),
        ha="center",
        va="center",
        fontsize=11,
        color="#444444",
        bbox={"boxstyle": "round,pad=0.8", "facecolor": "#f4f4f4", "edgecolor": "#cccccc"},
    )
    return figure

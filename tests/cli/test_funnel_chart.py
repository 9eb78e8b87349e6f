"""`journeys report funnel`: an empty funnel says so in words (table and chart); the chart
draws skipped steps and steps nobody reached, and its legend never covers a bar."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from matplotlib.text import Text
from typer.testing import CliRunner

from domain.loader import load_journey_file
from entrypoints import cli_common
from entrypoints.cli import app
from entrypoints.funnel_chart import funnel_figure
from store.reports import StepCounts
from tests.cli.populated import JOURNEYS
from workers.settings import get_settings

runner = CliRunner()
POST_PURCHASE = load_journey_file(JOURNEYS / "post_purchase.yaml")


@pytest.fixture(autouse=True)
def store_in(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("JOURNEYS_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("JOURNEYS_DATABASE_URL", raising=False)
    get_settings.cache_clear()
    monkeypatch.setattr(cli_common.console, "width", 200)
    yield tmp_path
    get_settings.cache_clear()


def journeys(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


def texts(figure: Figure) -> str:
    return " ".join(t.get_text() for t in figure.findobj(Text) if isinstance(t, Text))


def test_a_funnel_with_no_runs_says_so_in_the_table_and_the_chart(tmp_path: Path) -> None:
    assert journeys("publish", str(JOURNEYS / "win_back.yaml"))[0] == 0
    chart = tmp_path / "empty.png"
    code, out = journeys("report", "funnel", "win_back", "--chart", str(chart))
    flat = " ".join(out.split())
    assert code == 0, out
    assert "win_back has no runs yet: no customer has entered it" in flat
    assert "a customer_lapsed event or its audience (at_risk_buyers) starts a run" in flat
    assert "simulate does not write to the store" in flat
    assert "┃" not in out  # no empty tables
    assert chart.read_bytes().startswith(b"\x89PNG")
    figure = funnel_figure(POST_PURCHASE, [], "post_purchase has no runs yet: because.")
    assert "no runs yet" in texts(figure) and not figure.axes  # words, not a blank plot


def counts() -> list[StepCounts]:
    plan = [(120, 118, 0, 40), (118, 90, 28, 35), (90, 60, 30, 30), (60, 60, 0, 25)]
    rows = [
        StepCounts(
            version=1, step_id=step.id, kind="", entered=e, completed=c, skipped=s, converted=v
        )
        for step, (e, c, s, v) in zip(POST_PURCHASE.steps, plan, strict=False)
    ]
    unreached = POST_PURCHASE.steps[len(plan)].id
    return [*rows, StepCounts(version=1, step_id=unreached, kind="")]


def test_the_chart_draws_skipped_bars_and_unreached_steps_with_the_legend_clear_of_bars() -> None:
    figure = funnel_figure(POST_PURCHASE, counts())
    FigureCanvasAgg(figure).draw()
    renderer = figure.canvas.get_renderer()  # type: ignore[attr-defined]
    (axes,) = figure.axes
    bars = {c.get_label(): c for c in axes.containers}
    assert [bar.get_width() for bar in bars["skipped"]] == [0, 28, 30, 0, 0]
    assert "not reached" in texts(figure)
    assert [t.get_text() for t in axes.get_yticklabels()] == [
        step.id for step in POST_PURCHASE.steps[:5]
    ]
    legend = figure.legends[0].get_window_extent(renderer)
    drawn = [p for p in axes.patches if isinstance(p, Rectangle) and p.get_width() > 0]
    assert drawn
    for patch in drawn:
        assert not legend.overlaps(patch.get_window_extent(renderer)), patch
    assert not legend.overlaps(axes.get_window_extent(renderer))  # outside the plot

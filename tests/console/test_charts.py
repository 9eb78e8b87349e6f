"""The console's SVG charts as a user sees them: bars, values, legends, gaps, empty states."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from itertools import pairwise

from entrypoints.console.charts import (
    bar_chart,
    fit_text,
    grouped_bar_chart,
    line_chart,
    nice_ticks,
    text_width,
)

SVG = "{http://www.w3.org/2000/svg}"
XSS = '<script>alert("x")</script>'


def parse(markup: str) -> ET.Element:
    return ET.fromstring(str(markup))


def shown(element: ET.Element, css_class: str | None = None) -> list[str]:
    """The words `<text>` elements show (not their <title> tooltips)."""
    return [
        (text.text or "") + "".join(child.tail or "" for child in text)
        for text in element.iter(f"{SVG}text")
        if css_class is None or text.get("class") == css_class
    ]


def tooltips(element: ET.Element) -> list[str]:
    return [title.text or "" for title in element.iter(f"{SVG}title")]


def bars(root: ET.Element) -> list[ET.Element]:
    return [rect for rect in root.iter(f"{SVG}rect") if rect.get("class") == "bar"]


def assert_image(root: ET.Element, title: str) -> None:
    assert root.tag == f"{SVG}svg" and root.get("role") == "img"
    first = root.find(f"{SVG}title")
    assert first is not None and first.text == title
    assert root.get("width") == "100%"


def test_bar_chart_draws_a_labelled_bar_per_value_longest_for_the_largest() -> None:
    root = parse(bar_chart([("entered", 1000), ("sent", 963), ("converted", 80)], title="Funnel"))
    assert_image(root, "Funnel")
    assert shown(root, "label") == ["entered", "sent", "converted"]
    assert shown(root, "value") == ["1,000", "963", "80"]
    widths = [float(bar.get("width", 0)) for bar in bars(root)]
    assert widths[0] > widths[1] > widths[2] > 0
    assert not root.findall(f".//{SVG}g[@class='legend']")


def test_bar_chart_values_may_be_negative_and_are_formatted() -> None:
    root = parse(
        bar_chart(
            [("week 1", -40), ("week 2", 25)], title="NPS", value_format=lambda v: f"{v:+.0f}"
        )
    )
    assert shown(root, "value") == ["-40", "+25"]
    negative, positive = bars(root)
    # The negative bar ends where the positive one starts: at the zero line.
    zero = float(negative.get("x", 0)) + float(negative.get("width", 0))
    assert abs(zero - float(positive.get("x", 0))) < 0.2


def test_long_labels_are_cut_with_an_ellipsis_and_keep_their_full_text() -> None:
    long = "a_very_long_step_identifier_that_goes_on_and_on_and_on_and_on"
    root = parse(bar_chart([(long, 3)], title="t"))
    (label,) = [t for t in root.iter(f"{SVG}text") if t.get("class") == "label"]
    assert shown(label)[0].endswith("…") and len(shown(label)[0]) < len(long)
    title = label.find(f"{SVG}title")
    assert title is not None and title.text == long


def test_text_is_escaped_everywhere() -> None:
    markups = [
        bar_chart([(XSS, 1)], title=XSS),
        grouped_bar_chart([(XSS, [1, 2])], [XSS, "b"], title=XSS),
        line_chart({XSS: [(XSS, 1.0), ("p2", 2.0)]}, title=XSS),
        line_chart({}, title=XSS, empty_text=XSS),
    ]
    for markup in markups:
        assert "<script" not in str(markup)
        root = parse(markup)
        assert XSS in tooltips(root) + shown(root)


def test_empty_charts_say_so_instead_of_a_blank_plot() -> None:
    empty = "Nothing has happened yet."
    for markup in (
        bar_chart([], title="t", empty_text=empty),
        grouped_bar_chart([], ["a", "b"], title="t", empty_text=empty),
        grouped_bar_chart([("x", [None, None])], ["a", "b"], title="t", empty_text=empty),
        line_chart({}, title="t", empty_text=empty),
        line_chart({"NPS": [("w1", None)]}, title="t", empty_text=empty),
    ):
        root = parse(markup)
        assert_image(root, "t")
        assert shown(root) == [empty]
        assert not bars(root)


def test_grouped_bars_have_a_legend_and_patterns_not_only_colours() -> None:
    root = parse(
        grouped_bar_chart(
            [("sent", [1200, 1180]), ("converted", [80, None])],
            ["Arm A", "Arm B"],
            title="A/B",
            missing_text="n/a",
        )
    )
    assert_image(root, "A/B")
    assert shown(root, "legend-name") == ["Arm A", "Arm B"]
    assert shown(root, "label") == ["sent", "converted"]
    assert shown(root, "value") == ["1,200", "1,180", "80", "n/a"]
    drawn = bars(root)
    assert [bar.get("data-series") for bar in drawn] == ["Arm A", "Arm B", "Arm A"]
    fills = {bar.get("data-series"): bar.get("fill", "") for bar in drawn}
    assert fills["Arm B"].startswith("url(#")  # hatched, not just another colour
    pattern_ids = {p.get("id") for p in root.iter(f"{SVG}pattern")}
    assert fills["Arm B"][5:-1] in pattern_ids
    assert "converted, Arm A: 80" in tooltips(root)


def test_line_chart_breaks_at_gaps_and_keeps_the_fixed_axis() -> None:
    nps = [("W40", 12.0), ("W41", -20.0), ("W42", None), ("W43", 35.0), ("W44", 41.0)]
    csat = [("W40", 60.0), ("W41", 70.0), ("W42", 65.0)]
    root = parse(line_chart({"NPS": nps, "CSAT": csat}, title="Scores", y_min=-100, y_max=100))
    assert_image(root, "Scores")
    assert shown(root, "legend-name") == ["NPS", "CSAT"]
    assert shown(root, "period") == ["W40", "W41", "W42", "W43", "W44"]
    axis = [t for t in shown(root) if t.lstrip("-").isdigit()]
    assert "-100" in axis and "100" in axis and "0" in axis
    series = {g.get("data-series"): g for g in root.iter(f"{SVG}g") if g.get("class") == "series"}
    nps_paths = list(series["NPS"].iter(f"{SVG}path"))
    assert len(nps_paths) == 2  # W40-W41, then W43-W44: no line across the gap
    assert len([e for e in series["NPS"] if "point" in (e.get("class") or "")]) == 4
    assert "NPS, W41: -20" in tooltips(root)
    assert shown(series["NPS"], "value") == ["41"]  # the latest value is written out
    # Different marker shapes and dashes, not only colours.
    assert series["CSAT"].find(f"{SVG}rect") is not None
    assert series["NPS"].find(f"{SVG}circle") is not None
    assert series["CSAT"].find(f"{SVG}path") is not None
    dash = series["CSAT"].find(f"{SVG}path")
    assert dash is not None and dash.get("stroke-dasharray")


def test_one_series_has_no_legend_and_a_single_point_draws() -> None:
    root = parse(line_chart({"CSAT": [("2026-10", 4.5)]}, title="CSAT"))
    assert not [g for g in root.iter(f"{SVG}g") if g.get("class") == "legend"]
    assert shown(root, "value") == ["4.5"]


def test_helpers() -> None:
    assert nice_ticks(-100, 100) == [-100, -50, 0, 50, 100]
    assert nice_ticks(0, 7)[0] == 0 and nice_ticks(0, 7)[-1] >= 7
    assert fit_text("short", 200, 12) == "short"
    cut = fit_text("x" * 100, 60, 12)
    assert cut.endswith("…") and text_width(cut, 12) <= 60
    assert text_width("中文", 12) > text_width("ab", 12)


def test_many_periods_write_spaced_labels_the_first_and_the_last() -> None:
    weeks = [(f"2026-W{w:02d}", float(w)) for w in range(1, 53)]
    root = parse(line_chart({"NPS": weeks}, title="t", width=480))
    written = [t for t in root.iter(f"{SVG}text") if t.get("class") == "period"]
    labels = [shown(t)[0] for t in written]
    assert labels[0] == "2026-W01" and labels[-1] == "2026-W52"
    assert 3 <= len(labels) < 52
    xs = [float(t.get("x", 0)) for t in written]
    gaps = [b - a for a, b in pairwise(xs)]
    assert min(gaps) >= text_width("2026-W01", 11)  # no label runs into the next
    points = [e for e in root.iter() if e.get("class") == "point"]
    assert len(points) == 52

"""Small server-side SVG charts for the console: horizontal bars, grouped bars, lines.

Each function returns one `<svg role="img">` element with a `<title>`, sized by its viewBox
and 100% wide so it scales with the page. Every text is escaped; a label too long for its
place is cut with an ellipsis and keeps its full text in a `<title>` child. Series differ by
pattern or marker shape as well as colour, and each bar or point carries its value as text,
so nothing is said by colour alone. No input draws `empty_text` instead of a blank plot.

The text helpers (`text_width`, `fit_text`, `FONT`) are shared with the journey diagram.
"""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from itertools import pairwise

from markupsafe import Markup

FONT = (
    'system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans", "Helvetica Neue", Arial, '
    '"PingFang SC", "Microsoft YaHei", "Noto Sans CJK SC", sans-serif'
)
ELLIPSIS = "…"
INK = "#1a1a1a"  # body text: 17:1 on white
MUTED = "#4d4d4d"  # secondary text and axes: 8.5:1 on white
GRID = "#d0d0d0"


def text_width(text: str, size: float, *, bold: bool = False) -> float:
    """A generous estimate of how wide `text` is drawn at `size` px (wide characters: 1 em)."""
    em = 0.0
    for char in text:
        if unicodedata.east_asian_width(char) in ("W", "F"):
            em += 1.0
        elif char in " .,:;'|!il":
            em += 0.32
        elif char.isupper() or char.isdigit() or char in "mw%@#&_—":
            em += 0.68
        else:
            em += 0.56
    return em * size * (1.07 if bold else 1.0)


def fit_text(text: str, width: float, size: float, *, bold: bool = False) -> str:
    """`text`, cut with an ellipsis so that it fits in `width` px at `size` px."""
    if text_width(text, size, bold=bold) <= width:
        return text
    kept = text
    while kept and text_width(kept + ELLIPSIS, size, bold=bold) > width:
        kept = kept[:-1]
    return kept.rstrip() + ELLIPSIS


def svg_text(
    text: str,
    x: float,
    y: float,
    *,
    width: float | None = None,
    size: float = 12,
    bold: bool = False,
    anchor: str = "start",
    fill: str = INK,
    css_class: str = "",
) -> Markup:
    """A `<text>` element; cut to `width` (with the full text in a `<title>`) when given."""
    shown = text if width is None else fit_text(text, width, size, bold=bold)
    full = Markup("<title>{}</title>").format(text) if shown != text else Markup("")
    return Markup(
        '<text x="{}" y="{}" font-size="{}"{} text-anchor="{}" fill="{}"{}>{}{}</text>'
    ).format(
        num(x),
        num(y),
        num(size),
        Markup(' font-weight="600"') if bold else Markup(""),
        anchor,
        fill,
        Markup(' class="{}"').format(css_class) if css_class else Markup(""),
        full,
        shown,
    )


def num(value: float) -> str:
    """A coordinate as short text: 12, 12.5, never 12.000000001."""
    rounded = round(value, 1)
    return str(int(rounded)) if rounded == int(rounded) else str(rounded)


# --- charts ----------------------------------------------------------------------------------

# Okabe-Ito hues, dark enough for 3:1 against white as graphics; each series also has its own
# fill pattern (bars) or dash and marker shape (lines).
SERIES_COLOURS = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#8A6D00", "#56B4E9")
PATTERNS = ("solid", "hatch", "dots", "cross", "vertical", "backhatch")
MARKERS = ("circle", "square", "triangle", "diamond", "circle", "square")
DASHES = ("", "6 3", "2 3", "8 3 2 3", "", "6 3")
WIDTH = 640
ROW = 28
BAR = 18
LABEL_FONT = 12
PAD = 12
PERIOD_MAX = 120  # px a period label may take


def _default_format(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"


def bar_chart(
    bars: Sequence[tuple[str, float]],
    *,
    title: str,
    value_format: Callable[[float], str] = _default_format,
    empty_text: str = "No data yet.",
    width: int = WIDTH,
    colour: str = SERIES_COLOURS[0],
) -> Markup:
    """Horizontal bars, one per (label, value), each with its value written at its end.

    Good for funnels: bars keep the given order. Negative values run left of the zero line.
    """
    if not bars:
        return _empty(title, empty_text, width)
    groups: list[tuple[str, list[float | None]]] = [(label, [value]) for label, value in bars]
    return _horizontal(groups, [title], title, value_format, width, [colour], legend=False)


def grouped_bar_chart(
    groups: Sequence[tuple[str, Sequence[float | None]]],
    series_names: Sequence[str],
    *,
    title: str,
    value_format: Callable[[float], str] = _default_format,
    empty_text: str = "No data yet.",
    width: int = WIDTH,
    missing_text: str = "–",
) -> Markup:
    """Horizontal bars in groups: per (group label, one value per series), e.g. an A/B test's
    arms per metric, or this week against last week per step. A None value is written as
    `missing_text` (no bar). The legend shows each series' colour and pattern."""
    if not groups or not series_names or all(v is None for _, vs in groups for v in vs):
        return _empty(title, empty_text, width)
    colours = [SERIES_COLOURS[i % len(SERIES_COLOURS)] for i in range(len(series_names))]
    padded = [(label, [*values][: len(series_names)]) for label, values in groups]
    padded = [(label, vs + [None] * (len(series_names) - len(vs))) for label, vs in padded]
    return _horizontal(
        padded,
        list(series_names),
        title,
        value_format,
        width,
        colours,
        legend=len(series_names) > 1,
        missing_text=missing_text,
    )


def line_chart(
    series: Mapping[str, Sequence[tuple[str, float | None]]],
    *,
    title: str,
    y_min: float | None = None,
    y_max: float | None = None,
    value_format: Callable[[float], str] = _default_format,
    empty_text: str = "No data yet.",
    width: int = WIDTH,
    height: int = 260,
) -> Markup:
    """Lines over periods: per series name, (period label, value or None for a gap).

    Periods are drawn in the order they first appear. `y_min`/`y_max` fix the axis (e.g.
    -100 and 100 for NPS); otherwise it spans the data and zero. Each series has its own
    colour, dash and marker shape; each point carries its value in a tooltip and the last
    point of each series is labelled.
    """
    periods: list[str] = []
    for points in series.values():
        for period, _value in points:
            if period not in periods:
                periods.append(period)
    values = [v for points in series.values() for _p, v in points if v is not None]
    if not periods or not values:
        return _empty(title, empty_text, width)
    low = min([*values, 0.0]) if y_min is None else y_min
    high = max([*values, 0.0]) if y_max is None else y_max
    ticks = nice_ticks(low, high)
    if y_min is None:
        low = ticks[0]
    if y_max is None:
        high = ticks[-1]
    ticks = [t for t in ticks if low <= t <= high]
    high = high if high > low else low + 1
    names = list(series)
    legend_h = _legend_height(names, width) if len(names) > 1 else 0
    axis_w = max(text_width(value_format(t), 11) for t in ticks) + 10
    gutter = max(text_width(value_format(v), 11, bold=True) for v in values) + 10
    left, right = PAD + axis_w, width - PAD - gutter  # the latest values go right of the plot
    top = PAD + legend_h + 8
    bottom = height - 34
    step = (right - left) / max(len(periods) - 1, 1)

    def px(index: int) -> float:
        return left + step * index if len(periods) > 1 else (left + right) / 2

    def py(value: float) -> float:
        clamped = min(max(value, low), high)
        return bottom - (clamped - low) / (high - low) * (bottom - top)

    parts = [_open(title, width, height)]
    if len(names) > 1:
        parts.append(_legend(names, width, PAD, "line"))
    for tick in ticks:
        y = py(tick)
        strong = tick == 0 and low < 0
        parts.append(
            Markup('<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="{}" stroke-width="{}"/>').format(
                num(left),
                num(y),
                num(right),
                num(y),
                MUTED if strong else GRID,
                1.2 if strong else 1,
            )
        )
        parts.append(
            svg_text(value_format(tick), left - 6, y + 4, size=11, anchor="end", fill=MUTED)
        )
    for index in _spaced(periods, px):
        anchor = "middle"
        if len(periods) > 1 and index == 0:
            anchor = "start"
        elif len(periods) > 1 and index == len(periods) - 1:
            anchor = "end"
        parts.append(
            svg_text(
                periods[index],
                px(index),
                bottom + 18,
                width=PERIOD_MAX,
                size=11,
                anchor=anchor,
                fill=MUTED,
                css_class="period",
            )
        )
    latest = _latest_labels(series, periods, px, py, value_format)
    for n, name in enumerate(names):
        colour = SERIES_COLOURS[n % len(SERIES_COLOURS)]
        by_period = dict(series[name])
        runs: list[list[tuple[float, float]]] = [[]]
        marks = []
        for index, period in enumerate(periods):
            value = by_period.get(period)
            if value is None:
                if runs[-1]:
                    runs.append([])
                continue
            point = (px(index), py(value))
            runs[-1].append(point)
            marks.append((point, f"{name}, {period}: {value_format(value)}"))
        dash = DASHES[n % len(DASHES)]
        parts.append(Markup('<g class="series" data-series="{}">').format(name))
        for run in runs:
            if len(run) > 1:
                d = " ".join(
                    f"{'M' if i == 0 else 'L'}{num(x)},{num(y)}" for i, (x, y) in enumerate(run)
                )
                parts.append(
                    Markup('<path d="{}" fill="none" stroke="{}" stroke-width="2"{}/>').format(
                        d,
                        colour,
                        Markup(' stroke-dasharray="{}"').format(dash) if dash else Markup(""),
                    )
                )
        for (x, y), tip in marks:
            parts.append(_marker(MARKERS[n % len(MARKERS)], x, y, colour, tip))
        if name in latest:
            x, y, text = latest[name]
            parts.append(
                svg_text(
                    text,
                    x,
                    y,
                    size=11,
                    bold=True,
                    anchor="start" if x > right else "middle",
                    fill=INK,
                    css_class="value",
                )
            )
        parts.append(Markup("</g>"))
    parts.append(Markup("</svg>"))
    return Markup("").join(parts)


def _spaced(periods: list[str], px: Callable[[int], float], gap: float = 10) -> list[int]:
    """Which period labels to write: evenly spaced, the first and the last, none touching."""
    widths = [min(text_width(period, 11), PERIOD_MAX) for period in periods]
    last = len(periods) - 1

    def span(i: int) -> tuple[float, float]:
        x, w = px(i), widths[i]
        if last and i == 0:
            return x, x + w
        if last and i == last:
            return x - w, x
        return x - w / 2, x + w / 2

    for every in range(1, len(periods) + 1):
        chosen = list(range(0, len(periods), every))
        if chosen[-1] != last:
            while chosen and span(chosen[-1])[1] + gap > span(last)[0]:
                chosen.pop()
            chosen.append(last)
        if all(span(a)[1] + gap <= span(b)[0] for a, b in pairwise(chosen)):
            return chosen
    return [0]


def _latest_labels(
    series: Mapping[str, Sequence[tuple[str, float | None]]],
    periods: list[str],
    px: Callable[[int], float],
    py: Callable[[float], float],
    value_format: Callable[[float], str],
) -> dict[str, tuple[float, float, str]]:
    """Each series' latest value, written above its point; moved apart so none overlap."""
    found: list[tuple[float, float, str, str]] = []
    for name, points in series.items():
        known = [(period, value) for period, value in points if value is not None]
        if known:
            period, value = known[-1]
            index = periods.index(period)
            if index == len(periods) - 1:  # beside the last point, in the gutter
                found.append((py(value) + 4, px(index) + 8, name, value_format(value)))
            else:  # above a point that ends a series early
                found.append((py(value) - 8, px(index), name, value_format(value)))
    found.sort()
    placed: dict[str, tuple[float, float, str]] = {}
    previous: tuple[float, float] | None = None  # y and x of the label above
    for y, x, name, text in found:
        if previous is not None and abs(previous[1] - x) < 48 and y < previous[0] + 13:
            y = previous[0] + 13
        placed[name] = (x, y, text)
        previous = (y, x)
    return placed


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round tick values covering low..high, about `count` of them."""
    if high <= low:
        high = low + 1
    raw = (high - low) / max(count - 1, 1)
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    start = math.floor(low / step) * step
    ticks = [round(start, 10)]
    while ticks[-1] < high - step * 1e-9:
        ticks.append(round(start + step * len(ticks), 10))
    return ticks


def _horizontal(
    groups: list[tuple[str, list[float | None]]],
    names: list[str],
    title: str,
    value_format: Callable[[float], str],
    width: int,
    colours: list[str],
    *,
    legend: bool,
    missing_text: str = "–",
) -> Markup:
    present = [v for _label, vs in groups for v in vs if v is not None]
    low, high = min([*present, 0.0]), max([*present, 0.0])
    span = high - low or 1.0
    label_w = min(max(text_width(label, LABEL_FONT) for label, _ in groups) + 8, width * 0.38)
    value_w = max(text_width(value_format(v), 11, bold=True) for v in present) + 8
    plot_left = PAD + label_w + (value_w if low < 0 else 0)
    plot_right = width - PAD - (value_w if high > 0 or low == high else 0)
    scale = (plot_right - plot_left) / span
    zero = plot_left - low * scale
    legend_h = _legend_height(names, width) if legend else 0
    per_group = len(names) * (BAR + 4) + 10 if len(names) > 1 else ROW
    height = PAD * 2 + legend_h + per_group * len(groups)
    parts = [_open(title, width, height)]
    if legend:
        parts.append(_defs(colours))
        parts.append(_legend(names, width, PAD, "bar", colours))
    y = PAD + legend_h
    for label, values in groups:
        parts.append(Markup('<g class="group" data-label="{}">').format(label))
        block = len(names) * (BAR + 4) - 4
        block_top = y + (per_group - block) / 2 - (5 if len(names) > 1 else 0)
        parts.append(
            svg_text(
                label,
                PAD,
                block_top + block / 2 + 4,
                width=label_w - 8,
                size=LABEL_FONT,
                fill=INK,
                css_class="label",
            )
        )
        for n, value in enumerate(values):
            bar_y = block_top + n * (BAR + 4)
            series = names[n]
            if value is None:
                parts.append(
                    svg_text(
                        missing_text,
                        zero + 4,
                        bar_y + BAR - 5,
                        size=11,
                        fill=MUTED,
                        css_class="value",
                    )
                )
                continue
            x0, x1 = sorted((zero, zero + value * scale))
            fill = colours[n]
            if legend and PATTERNS[n % len(PATTERNS)] != "solid":
                fill = f"url(#{_pattern_id(colours, n)})"
            text = value_format(value)
            parts.append(
                Markup(
                    '<rect class="bar" data-series="{}" x="{}" y="{}" width="{}" height="{}" '
                    'fill="{}" stroke="{}" stroke-width="1"><title>{}</title></rect>'
                ).format(
                    series,
                    num(x0),
                    num(bar_y),
                    num(max(x1 - x0, 1)),
                    BAR,
                    fill,
                    colours[n],
                    f"{label}, {series}: {text}" if legend else f"{label}: {text}",
                )
            )
            at, anchor = (x1 + 4, "start") if value >= 0 else (x0 - 4, "end")
            parts.append(
                svg_text(
                    text,
                    at,
                    bar_y + BAR - 5,
                    size=11,
                    bold=True,
                    anchor=anchor,
                    fill=INK,
                    css_class="value",
                )
            )
        parts.append(Markup("</g>"))
        y += per_group
    parts.append(
        Markup('<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="{}" stroke-width="1"/>').format(
            num(zero), PAD + legend_h, num(zero), num(y), MUTED
        )
    )
    parts.append(Markup("</svg>"))
    return Markup("").join(parts)


def _open(title: str, width: float, height: float) -> Markup:
    return Markup(
        '<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" viewBox="0 0 {w} {h}" '
        'width="100%" style="max-width: {w}px; height: auto" font-family="{font}">'
        "<title>{title}</title>"
    ).format(w=num(width), h=num(height), font=FONT, title=title)


def _empty(title: str, empty_text: str, width: float) -> Markup:
    height = 72
    return Markup("").join(
        [
            _open(title, width, height),
            Markup(
                '<rect x="1" y="1" width="{}" height="{}" rx="6" fill="#f6f6f6" stroke="{}" '
                'stroke-dasharray="4 3"/>'
            ).format(num(width - 2), height - 2, GRID),
            svg_text(
                empty_text,
                width / 2,
                height / 2 + 5,
                width=width - 2 * PAD,
                size=13,
                anchor="middle",
                fill=MUTED,
                css_class="empty",
            ),
            Markup("</svg>"),
        ]
    )


def _legend_height(names: list[str], width: float) -> float:
    return _legend_rows(names, width)[1] * 22 + 8


def _legend_rows(names: list[str], width: float) -> tuple[list[tuple[float, int]], int]:
    """Each name's x and row: left to right, wrapping at the chart's width."""
    places, x, row = [], float(PAD), 0
    for name in names:
        item = 34 + min(text_width(name, 12), width / 2)
        if x + item > width - PAD and x > PAD:
            x, row = float(PAD), row + 1
        places.append((x, row))
        x += item + 14
    return places, row + 1


def _legend(
    names: list[str], width: float, top: float, kind: str, colours: list[str] | None = None
) -> Markup:
    places, _rows = _legend_rows(names, width)
    parts = [Markup('<g class="legend">')]
    for n, (name, (x, row)) in enumerate(zip(names, places, strict=True)):
        y = top + row * 22
        colour = (colours or SERIES_COLOURS)[n % len(SERIES_COLOURS)]
        if kind == "bar":
            fill = (
                colour
                if PATTERNS[n % len(PATTERNS)] == "solid"
                else f"url(#{_pattern_id(colours or [], n)})"
            )
            parts.append(
                Markup('<rect x="{}" y="{}" width="24" height="14" fill="{}" stroke="{}"/>').format(
                    num(x), num(y), fill, colour
                )
            )
        else:
            dash = DASHES[n % len(DASHES)]
            parts.append(
                Markup(
                    '<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="{}" stroke-width="2"{}/>'
                ).format(
                    num(x),
                    num(y + 7),
                    num(x + 24),
                    num(y + 7),
                    colour,
                    Markup(' stroke-dasharray="{}"').format(dash) if dash else Markup(""),
                )
            )
            parts.append(_marker(MARKERS[n % len(MARKERS)], x + 12, y + 7, colour, None))
        parts.append(
            svg_text(
                name, x + 30, y + 12, width=width / 2, size=12, fill=INK, css_class="legend-name"
            )
        )
    parts.append(Markup("</g>"))
    return Markup("").join(parts)


def _pattern_id(colours: list[str], n: int) -> str:
    return f"chart-pattern-{n}-{colours[n].lstrip('#').lower()}" if colours else f"p{n}"


def _defs(colours: list[str]) -> Markup:
    """Fill patterns for bar series after the first: hatched, dotted, crossed..."""
    shapes = {
        "hatch": "M0,8 L8,0 M-2,2 L2,-2 M6,10 L10,6",
        "cross": "M0,0 L8,8 M8,0 L0,8",
        "vertical": "M3,0 L3,8",
        "backhatch": "M0,0 L8,8 M-2,6 L2,10 M6,-2 L10,2",
    }
    parts = [Markup("<defs>")]
    for n, colour in enumerate(colours):
        pattern = PATTERNS[n % len(PATTERNS)]
        if pattern == "solid":
            continue
        if pattern == "dots":
            mark = Markup('<circle cx="4" cy="4" r="1.8" fill="{}"/>').format(colour)
        else:
            mark = Markup('<path d="{}" stroke="{}" stroke-width="1.6"/>').format(
                shapes[pattern], colour
            )
        parts.append(
            Markup(
                '<pattern id="{}" width="8" height="8" patternUnits="userSpaceOnUse">'
                '<rect width="8" height="8" fill="#ffffff"/>{}</pattern>'
            ).format(_pattern_id(colours, n), mark)
        )
    parts.append(Markup("</defs>"))
    return Markup("").join(parts)


def _marker(shape: str, x: float, y: float, colour: str, tip: str | None) -> Markup:
    title = Markup("<title>{}</title>").format(tip) if tip else Markup("")
    common = Markup('fill="{}" stroke="#ffffff" stroke-width="1.2"').format(colour)
    if shape == "square":
        body = Markup('<rect class="point" x="{}" y="{}" width="9" height="9" {}>').format(
            num(x - 4.5), num(y - 4.5), common
        )
        return body + title + Markup("</rect>")
    if shape in ("triangle", "diamond"):
        points = (
            f"{num(x)},{num(y - 6)} {num(x + 5.5)},{num(y + 4)} {num(x - 5.5)},{num(y + 4)}"
            if shape == "triangle"
            else f"{num(x)},{num(y - 6)} {num(x + 6)},{num(y)} {num(x)},{num(y + 6)} "
            f"{num(x - 6)},{num(y)}"
        )
        return Markup('<polygon class="point" points="{}" {}>{}</polygon>').format(
            points, common, title
        )
    return Markup('<circle class="point" cx="{}" cy="{}" r="5" {}>{}</circle>').format(
        num(x), num(y), common, title
    )

"""Small server-side SVG charts for the console: horizontal bars, grouped bars, lines.

Each function returns one `<svg role="img">` element with a `<title>`, sized by its viewBox
and 100% wide so it scales with the page. Every text is escaped; a label too long for its
place is cut with an ellipsis and keeps its full text in a `<title>` child. Series differ by
pattern or marker shape as well as colour, and each bar or point carries its value as text,
so nothing is said by colour alone. No input draws `empty_text` instead of a blank plot.

The text helpers (`text_width`, `fit_text`, `FONT`) are shared with the journey diagram.
"""

from __future__ import annotations

import unicodedata

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

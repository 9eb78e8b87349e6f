"""The benchmark table: one row per metric, `metric | product | baseline | ratio | goal`.

Each benchmark script prints its rows as lines `BENCH-ROW {json}` (with `--json`);
`scripts/bench_all.py` runs the scripts, reads those lines and prints one table.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass

MARK = "BENCH-ROW "


@dataclass(frozen=True)
class Row:
    """A metric measured once: `product` and `baseline` in `unit`, their ratio and the goal.

    `higher_is_better` says which way the ratio counts (rates: product / baseline; times:
    baseline / product, so that 1.0 is "as good as the baseline" either way). `goal` is the
    text of the goal; `met` whether this measurement reaches it (None: nothing to reach).
    """

    metric: str
    product: float
    unit: str
    goal: str
    command: str
    baseline: float | None = None
    higher_is_better: bool = True
    met: bool | None = None
    spread: str = ""  # e.g. "10.1-10.9 over 3 rounds"

    @property
    def ratio(self) -> float | None:
        if self.baseline is None or not self.baseline or not self.product:
            return None
        if self.higher_is_better:
            return self.product / self.baseline
        return self.baseline / self.product


def emit(row: Row) -> None:
    print(MARK + json.dumps(asdict(row)), flush=True)


def parse(lines: Iterable[str]) -> list[Row]:
    rows = []
    for line in lines:
        if line.startswith(MARK):
            rows.append(Row(**json.loads(line[len(MARK) :])))
    return rows


def spread(values: Sequence[float], unit: str = "") -> str:
    """`min-max` of repeated measurements, e.g. "10.1-10.9/s over 3 rounds"."""
    if len(values) < 2:
        return ""
    low, high = _short(min(values)), _short(max(values))
    return f"{low}-{high}{unit} over {len(values)} rounds"


def _short(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}"


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


def _number(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    return f"{_short(value)} {unit}".strip()


def render(rows: Sequence[Row], *, markdown: bool = True) -> str:
    """The table as Markdown (a header, a separator, one line per row)."""
    header = ["metric", "product", "baseline", "ratio", "goal", "met", "rerun"]
    lines = [header]
    for row in rows:
        ratio = row.ratio
        product = _number(row.product, row.unit)
        if row.spread:
            product += f" ({row.spread})"
        lines.append(
            [
                row.metric,
                product,
                _number(row.baseline, row.unit),
                "-" if ratio is None else f"{ratio:.2f}",
                row.goal,
                {True: "yes", False: "NO", None: "-"}[row.met],
                f"`{row.command}`",
            ]
        )
    if not markdown:
        widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
        return "\n".join(
            "  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip()
            for line in lines
        )
    out = ["| " + " | ".join(lines[0]) + " |", "|" + " --- |" * len(header)]
    out += ["| " + " | ".join(cells) + " |" for cells in lines[1:]]
    return "\n".join(out)

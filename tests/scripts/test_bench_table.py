"""`make bench` prints one table of rows the benchmark scripts emit; a tiny row end to end."""

from __future__ import annotations

import pytest

from scripts import bench_append
from scripts.bench_table import Row, emit, parse, render


def test_a_row_printed_by_a_benchmark_reads_back_into_the_table(
    capsys: pytest.CaptureFixture[str],
) -> None:
    rate = Row(metric="runs", product=9.5, baseline=10.0, unit="/s", goal=">= 0.95", command="x")
    time = Row(
        metric="parked after",
        product=50.0,
        baseline=45.0,
        unit="s",
        higher_is_better=False,
        goal=">= 0.97",
        met=False,
        command="python -m scripts.bench_enroll",
    )
    emit(rate)
    print("noise between the rows")
    emit(time)
    rows = parse(capsys.readouterr().out.splitlines())
    assert rows == [rate, time]
    table = render(rows).splitlines()
    assert table[0] == "| metric | product | baseline | ratio | goal | met | rerun |"
    assert "| runs | 9.5 /s | 10 /s | 0.95 | >= 0.95 | - | `x` |" in table
    assert "| parked after | 50 s | 45 s | 0.90 | >= 0.97 | NO |" in table[3]


def test_the_append_benchmark_makes_its_row_on_a_tiny_batch(
    capsys: pytest.CaptureFixture[str],
) -> None:
    bench_append.main(batch=20, rounds=1, as_rows=True)
    [row] = parse(capsys.readouterr().out.splitlines())
    assert row.metric.startswith("event log append, batch of 20")
    assert row.product > 0 and row.baseline is not None and row.baseline > 0
    assert row.command == "python -m scripts.bench_append --batch 20 --rounds 1"

"""Benchmark: `journeys simulate journeys/win_back.yaml --customers N --days D`, wall time.

Runs the command as a user does (a fresh process, its default `--processes` and seed) and
times it from start to exit. Its figures (funnel, messages, goals: everything it prints but
its own timing) are compared with those recorded in docs/bench/simulate-win_back-NxD.txt,
the output of the same command and seed before any speed-up (`--record` writes that file),
and anything on stderr (a warning of the Temporal core, say) is reported.

    python -m scripts.bench_simulate [--customers 1000] [--days 90] [--record] [--json]
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from pathlib import Path

from scripts.bench_table import Row, emit

REPO = Path(__file__).resolve().parents[1]
RECORDED = REPO / "docs" / "bench"


def figures(output: str) -> str:
    """The output without its timings and progress bar."""
    kept = []
    for line in output.splitlines():
        if "simulated days" in line:
            continue
        kept.append(re.sub(r"simulated in [0-9.]+s", "simulated in <t>s", line))
    return "\n".join(kept).strip() + "\n"


def run(customers: int, days: int) -> tuple[float, str, str]:
    journeys = str(Path(sys.executable).with_name("journeys"))
    command = [journeys, "simulate", "journeys/win_back.yaml"]
    command += ["--customers", str(customers), "--days", str(days)]
    started = time.perf_counter()
    done = subprocess.run(
        command,
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
        env=os.environ | {"COLUMNS": "120", "NO_COLOR": "1"},
    )
    return time.perf_counter() - started, figures(done.stdout), done.stderr


def main(customers: int, days: int, record: bool, as_rows: bool) -> None:
    wall, output, errors = run(customers, days)
    recorded = RECORDED / f"simulate-win_back-{customers}x{days}.txt"
    if record:
        recorded.parent.mkdir(parents=True, exist_ok=True)
        recorded.write_text(output, encoding="utf-8")
    same = recorded.read_text(encoding="utf-8") == output if recorded.exists() else None
    print(f"journeys simulate win_back --customers {customers} --days {days}: {wall:.1f}s wall")
    print(
        {
            True: "same figures as recorded",
            False: "FIGURES DIFFER from",
            None: "nothing recorded in",
        }[same],
        recorded.relative_to(REPO),
    )
    if errors.strip():
        print(f"stderr:\n{errors}")
    if as_rows:
        notes = [{True: "same figures", False: "FIGURES DIFFER", None: "no figures recorded"}[same]]
        notes.append("stderr quiet" if not errors.strip() else f"stderr: {errors.strip()[:60]}")
        emit(
            Row(
                metric=f"journeys simulate win_back, {customers:,} customers x {days} days: wall",
                product=wall,
                unit="s",
                higher_is_better=False,
                goal="<= 15 s at 1,000 x 90, same figures",
                met=(wall <= 15 and same is True) if (customers, days) == (1000, 90) else same,
                command=f"python -m scripts.bench_simulate --customers {customers} --days {days}",
                spread="; ".join(notes),
            )
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--customers", type=int, default=1000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--record", action="store_true", help="record these figures")
    parser.add_argument("--json", action="store_true", help="print the table's rows too")
    args = parser.parse_args()
    main(args.customers, args.days, args.record, args.json)

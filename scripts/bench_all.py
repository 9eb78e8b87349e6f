"""`make bench`: every benchmark, one table (`metric | product | baseline | ratio | goal`).

Each benchmark runs as its own process (`python -m scripts.bench_X ... --json`, the command
in the table's last column reruns that row alone), each pair side by side in that process on
its own file-backed Temporal dev server (WAL), as the product runs by default. The full run
takes about 9 minutes on the 2-core machine, one benchmark at a time (635 s with 5,000 parked
runs and 1,000 per memory variant; now 3,000 and 600); `--quick` (`make bench QUICK=1`) runs
small sizes three at a time, under 2 minutes: it shows that every row works, its numbers are
noisy.

    python -m scripts.bench_all [--quick] [--only NAME,...] [--out FILE]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from scripts.bench_table import Row, parse, render

REPO = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Bench:
    name: str
    module: str
    full: str  # its arguments, for the full run and for --quick
    quick: str


BENCHES = (
    Bench("journey", "scripts.bench", "--runs 150 --rounds 3", "--runs 20 --rounds 2"),
    Bench("enroll", "scripts.bench_enroll", "--customers 1000", "--customers 150"),
    Bench("latency20", "scripts.bench_latency", "--events 200 --rate 20", "--events 40 --rate 20"),
    Bench("latency50", "scripts.bench_latency", "--events 300 --rate 50", "--events 50 --rate 50"),
    Bench(
        "memory",
        "scripts.bench_memory",
        "--runs 600 --variants journey,bare,journey-strict,journey-win_back",
        "--runs 100 --variants journey,bare",
    ),
    Bench("parked", "scripts.bench_parked", "--runs 3000", "--runs 200"),
    Bench(
        "simulate",
        "scripts.bench_simulate",
        "--customers 1000 --days 90",
        "--customers 200 --days 30",
    ),
    Bench("replay", "scripts.bench_replay", "--rounds 3 --repeat 4", "--rounds 1 --repeat 1"),
    Bench("append", "scripts.bench_append", "--batch 1000 --rounds 5", "--batch 1000 --rounds 2"),
    Bench("console", "scripts.bench_console", "--quick", "--quick --no-temporal"),
    Bench("scale", "scripts.bench_scale", "--runs 100 --workers 1,2,3", "--runs 10 --workers 1,2"),
)


def run(bench: Bench, quick: bool, log: Path | None) -> tuple[list[Row], float, str]:
    args = (bench.quick if quick else bench.full).split()
    command = [sys.executable, "-m", bench.module, *args, "--json"]
    started = time.perf_counter()
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    if log is not None:
        with log.open("a", encoding="utf-8") as out:
            out.write(f"\n### {' '.join(command[1:])} ({elapsed:.0f}s, exit {done.returncode})\n")
            out.write(done.stdout)
            out.write(done.stderr)
    rows = parse(done.stdout.splitlines())
    if done.returncode != 0 or not rows:
        failure = (done.stderr or done.stdout).strip().splitlines()[-3:]
        return rows, elapsed, f"{bench.name} failed (exit {done.returncode}): {' | '.join(failure)}"
    return rows, elapsed, ""


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, three at a time")
    parser.add_argument(
        "--only", help="benchmark names, comma-separated: " + ",".join(b.name for b in BENCHES)
    )
    parser.add_argument("--out", type=Path, help="also write the table (and each output) here")
    args = parser.parse_args()
    chosen = [b for b in BENCHES if not args.only or b.name in args.only.split(",")]
    log = args.out.with_suffix(".log") if args.out else None
    if log is not None:
        log.write_text("", encoding="utf-8")
    began = time.perf_counter()
    results: dict[str, tuple[list[Row], float, str]] = {}

    def one(bench: Bench) -> None:
        results[bench.name] = run(bench, args.quick, log)
        rows, elapsed, failure = results[bench.name]
        print(f"{bench.name}: {len(rows)} row(s) in {elapsed:.0f}s {failure}", file=sys.stderr)

    with ThreadPoolExecutor(max_workers=3 if args.quick else 1) as pool:
        list(pool.map(one, chosen))
    rows = [row for b in chosen for row in results[b.name][0]]
    failures = [results[b.name][2] for b in chosen if results[b.name][2]]
    table = render(rows)
    took = time.perf_counter() - began
    header = f"make bench{' QUICK=1' if args.quick else ''}: {len(rows)} rows in {took:.0f}s"
    print(f"\n{header}\n\n{table}")
    for failure in failures:
        print(f"\n{failure}")
    if args.out is not None:
        args.out.write_text(f"{header}\n\n{table}\n" + "".join(f"\n{f}" for f in failures))
    if failures:
        sys.exit(1)


if __name__ == "__main__":
    main()

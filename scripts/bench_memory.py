"""Benchmark: worker memory per cached parked run, and what the sandbox costs of it.

Each variant runs in a fresh process (RSS never shrinks): a file-backed dev server (WAL), a
SQLite store, one worker with a cache larger than `--runs`; 20 runs warm the worker up, then
`--runs` more start and park on a 30-day timer, and the growth of the process's RSS
(after a garbage collection) over the parked runs is divided by their number.

- `journey`: JourneyWorkflow (a one-step `wait` journey) with the workers' (lean) sandbox,
  the workflow modules passed through (workflows/sandbox.py);
- `bare`: a workflow that only sleeps, same runner (the baseline: what Temporal itself costs);
- `journey-strict`: the strict sandbox, every workflow module imported afresh per run (what
  the tests run; what the workers ran before);
- `journey-unsandboxed`: no sandbox at all;
- `journey-win_back`: the workers' sandbox, the journey of the size of a real one (win_back's
  13 steps and templates, parked on a first wait): what a definition costs each run.

`--trace` also follows the Python heap with tracemalloc over the parked runs (it inflates the
RSS, so its KiB per run is not the table's) and prints, per source file, what the Python
objects of one parked run take: what is left of the RSS per run is outside Python (the
Temporal core's workflow state, the allocator).

    python -m scripts.bench_memory [--runs 1000] [--variants journey,bare,...] [--json]
    python -m scripts.bench_memory --runs 300 --variants journey --trace
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import subprocess
import sys
import tempfile
import tracemalloc
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

from temporalio.testing import WorkflowEnvironment
from temporalio.worker import UnsandboxedWorkflowRunner

from scripts.bench_baseline import BareParked
from scripts.bench_parking import (
    Parking,
    full_size_parked_journey,
    parked_journey,
    settled_rss_kib,
)
from scripts.bench_table import Row, emit
from store.store import Store
from workers.binaries import temporal_cli
from workers.client import core_runtime
from workers.data_converter import DATA_CONVERTER
from workers.dev_server import sqlite_pragma_args
from workers.worker import WORKFLOWS, activities_for, build_worker
from workflows.sandbox import workflow_runner

VARIANTS = ("journey", "bare", "journey-strict", "journey-unsandboxed", "journey-win_back")
MARK = "MEMORY "
WARM = 20


def runner_for(variant: str) -> Any:
    if variant == "journey-strict":
        return workflow_runner(strict=True)
    if variant == "journey-unsandboxed":
        return UnsandboxedWorkflowRunner()
    return workflow_runner(strict=False, workflows=[*WORKFLOWS, BareParked])


TRACED_FILES = 12


def python_heap_per_run(snapshot: tracemalloc.Snapshot, runs: int) -> list[str]:
    """The traced Python heap per parked run, in total and by the file that allocated it."""
    stats = snapshot.statistics("filename")
    lines = [f"Python heap per parked run: {sum(s.size for s in stats) / 1024 / runs:.1f} KiB"]
    for stat in stats[:TRACED_FILES]:
        where = stat.traceback[0].filename.split("site-packages/")[-1]
        lines.append(
            f"  {stat.size / 1024 / runs:6.2f} KiB  {stat.count / runs:5.1f} blocks  {where}"
        )
    return lines


async def measure(variant: str, runs: int, trace: bool = False) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="journeys-bench-memory-"))
    env = await WorkflowEnvironment.start_local(
        data_converter=DATA_CONVERTER,
        dev_server_existing_path=temporal_cli(),
        dev_server_database_filename=str(work / "temporal.db"),
        dev_server_extra_args=sqlite_pragma_args(),
        runtime=core_runtime(),
    )
    store = Store.open(f"sqlite:///{work / 'journeys.db'}")
    queue = f"memory-{uuid.uuid4().hex[:8]}"
    warm = Parking(store, "warm", WARM)
    parked = Parking(store, "parked", runs)
    warm.prepare()
    parked.prepare()
    journey = (full_size_parked_journey if variant == "journey-win_back" else parked_journey)(
        timedelta(days=30)
    )
    worker = build_worker(
        env.client,
        queue,
        activities_for(store, {}),
        workflows=[*WORKFLOWS, BareParked],
        max_cached_workflows=runs + WARM + 100,
        runner=runner_for(variant),
    )

    async def park(runs: Parking) -> float:
        """Start the runs and wait until each is parked; starts per second."""
        if variant == "bare":
            rate = await runs.start_bare(env.client, queue, timedelta(days=30))
            await runs.wait_bare_parked(env.client)
        else:
            rate = await runs.start_journeys(env.client, queue, [journey])
            await runs.wait_journeys_parked()
        return rate

    try:
        async with worker:
            await park(warm)
            before = settled_rss_kib()
            if trace:
                tracemalloc.start()
            rate = await park(parked)
            after = settled_rss_kib()
            heap = python_heap_per_run(tracemalloc.take_snapshot(), runs) if trace else []
    finally:
        store.close()
        await env.shutdown()
        shutil.rmtree(work, ignore_errors=True)  # the dev server's and the store's files
    return {
        "kib_per_run": (after - before) / runs,
        "rss_mib": after / 1024,
        "starts": rate,
        "heap": heap,
    }


def run_variant(variant: str, runs: int, trace: bool = False) -> dict[str, Any]:
    done = subprocess.run(
        [
            sys.executable,
            *("-m", "scripts.bench_memory", "--one", variant, "--runs", str(runs)),
            *(["--trace"] if trace else []),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    for line in done.stdout.splitlines():
        if line.startswith(MARK):
            return dict(json.loads(line[len(MARK) :]))
    raise RuntimeError(f"{variant} failed:\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}")


def main(runs: int, variants: list[str], as_rows: bool, trace: bool = False) -> None:
    results = {}
    for variant in variants:
        results[variant] = run_variant(variant, runs, trace)
        r = results[variant]
        print(
            f"{variant:<20}: {r['kib_per_run']:6.1f} KiB per parked run "
            f"(RSS {r['rss_mib']:.0f} MiB with {runs} parked; {r['starts']:.0f} starts/s)"
        )
        for line in r["heap"]:
            print(f"  {line}")
    if as_rows and "journey" in results:
        command = f"python -m scripts.bench_memory --runs {runs}"
        journey = results["journey"]["kib_per_run"]
        bare = results.get("bare", {}).get("kib_per_run")
        emit(
            Row(
                metric="worker memory per cached parked run (JourneyWorkflow vs sleeping workflow)",
                product=journey,
                baseline=bare,
                unit="KiB",
                higher_is_better=False,
                goal="<= 60 KiB",
                met=journey <= 60,
                command=command,
            )
        )
        for variant in variants:
            if variant.startswith("journey-"):
                value = results[variant]["kib_per_run"]
                emit(
                    Row(
                        metric=f"worker memory per cached parked run, {variant[8:]} (vs product)",
                        product=value,
                        baseline=journey,
                        unit="KiB",
                        higher_is_better=False,
                        goal="(report)",
                        command=f"{command} --variants {variant}",
                    )
                )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--one", choices=VARIANTS, help=argparse.SUPPRESS)
    parser.add_argument("--json", action="store_true", help="print the table's rows too")
    parser.add_argument(
        "--trace", action="store_true", help="where the Python heap of a parked run goes"
    )
    args = parser.parse_args()
    if args.one:
        result = asyncio.run(measure(args.one, args.runs, args.trace))
        print(MARK + json.dumps(result), flush=True)
    else:
        main(args.runs, args.variants.split(","), args.json, args.trace)

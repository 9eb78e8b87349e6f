"""Benchmark: replay of the recorded histories (tests/histories/*.json, the CI gate).

The product replays every recorded history with the worker's sandboxed runner, as
tests/workflows/test_replay.py does; the baseline replays the same histories without the
sandbox (`UnsandboxedWorkflowRunner`), which is what the determinism checks cost on top; the
workers' lean sandbox (workflow modules passed through) is reported as well.
One `Replayer.replay_workflows` call per `--rounds` round, alternating; the median.

    python -m scripts.bench_replay [--rounds 3] [--repeat 4] [--json]
    python -m scripts.bench_replay --only none --repeat 10   # one runner alone (to profile)
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer, UnsandboxedWorkflowRunner

from scripts.bench_table import Row, emit, median, spread
from workers.client import core_runtime
from workers.data_converter import DATA_CONVERTER
from workers.worker import WORKFLOWS
from workflows.sandbox import workflow_runner

HISTORIES = Path(__file__).resolve().parents[1] / "tests" / "histories"


def histories(repeat: int) -> list[WorkflowHistory]:
    loaded = [
        WorkflowHistory.from_json(f"replay-{path.stem}", path.read_text(encoding="utf-8"))
        for path in sorted(HISTORIES.glob("*.json"))
    ]
    return [
        WorkflowHistory(f"{h.workflow_id}-{n}", h.events) for n in range(repeat) for h in loaded
    ]


async def rate(runner: Any, batch: list[WorkflowHistory]) -> float:
    replayer = Replayer(
        workflows=WORKFLOWS,
        data_converter=DATA_CONVERTER,
        workflow_runner=runner,
        runtime=core_runtime(),
    )

    async def each() -> AsyncIterator[WorkflowHistory]:
        for history in batch:
            yield history

    started = time.perf_counter()
    results = await replayer.replay_workflows(each(), raise_on_replay_failure=True)
    elapsed = time.perf_counter() - started
    assert not results.replay_failures
    return len(batch) / elapsed


RUNNERS = {
    "strict": workflow_runner,
    "lean": lambda: workflow_runner(strict=False, workflows=WORKFLOWS),
    "none": UnsandboxedWorkflowRunner,
}


async def only(name: str, repeat: int) -> None:
    batch = histories(repeat)
    await rate(RUNNERS[name](), batch[:5])  # warm-up: imports, not counted
    print(f"{len(batch)} histories, {name} sandbox: {await rate(RUNNERS[name](), batch):.0f}/s")


async def main(rounds: int, repeat: int, as_rows: bool) -> None:
    batch = histories(repeat)
    sandboxed: list[float] = []
    bare: list[float] = []
    lean: list[float] = []
    await rate(RUNNERS["strict"](), batch[:5])  # warm-up: imports, not counted
    for r in range(rounds):
        if r % 2:
            bare.append(await rate(RUNNERS["none"](), batch))
            sandboxed.append(await rate(RUNNERS["strict"](), batch))
        else:
            sandboxed.append(await rate(RUNNERS["strict"](), batch))
            bare.append(await rate(RUNNERS["none"](), batch))
        lean.append(await rate(RUNNERS["lean"](), batch))
    product, baseline = median(sandboxed), median(bare)
    print(
        f"{len(batch)} histories per round: sandboxed {product:.0f}/s, unsandboxed "
        f"{baseline:.0f}/s; ratio {product / baseline:.2f}; lean sandbox {median(lean):.0f}/s"
    )
    if as_rows:
        emit(
            Row(
                metric=f"replay of the recorded histories ({len(batch)}; vs without the sandbox)",
                product=product,
                baseline=baseline,
                unit="histories/s",
                goal=">= 200/s",
                met=product >= 200,
                command=f"python -m scripts.bench_replay --rounds {rounds} --repeat {repeat}",
                spread=spread(sandboxed),
            )
        )
        emit(
            Row(
                metric="replay of the recorded histories, the workers' lean sandbox (vs without)",
                product=median(lean),
                baseline=baseline,
                unit="histories/s",
                goal="(report)",
                command=f"python -m scripts.bench_replay --rounds {rounds} --repeat {repeat}",
                spread=spread(lean),
            )
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=4, help="each history this many times")
    parser.add_argument("--json", action="store_true", help="print the table's rows too")
    parser.add_argument("--only", choices=sorted(RUNNERS), help="replay with this runner alone")
    args = parser.parse_args()
    if args.only:
        asyncio.run(only(args.only, args.repeat))
    else:
        asyncio.run(main(args.rounds, args.repeat, args.json))

"""Benchmark: the 3-step journey with 1, 2 and 3 worker processes against one dev server.

One file-backed dev server (WAL, one history shard), one SQLite store and one SMTP capture;
`journeys worker`-like processes (`build_worker` with every journey activity, real SMTP
sends) on one task queue. The driver appends each trigger, writes its enrollment and runs
JourneyWorkflow (`--concurrency` in flight), as scripts/bench.py's engine variant does. For
each worker count it reports completed runs per second, and what each process used of the
machine meanwhile: the CPU of the dev server and of the workers (in cores), and the dev
server's own persistence metrics (requests per second, mean latency), which show where the
single-shard server is the limit.

    python -m scripts.bench_scale [--runs 150] [--workers 1,2,3] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from domain.customers import CustomerUpsert
from domain.loader import load_journey_text
from scripts.bench import THREE_SENDS, run_journey
from scripts.bench_table import Row, emit
from store.store import Store
from workers.binaries import temporal_cli
from workers.client import core_runtime
from workers.data_converter import DATA_CONVERTER
from workers.dev_server import sqlite_pragma_args
from workers.mail_capture import MailCapture
from workers.settings import Settings
from workers.worker import activities_for, build_worker, default_channels

TICKS = os.sysconf("SC_CLK_TCK")
WORKER = [sys.executable, "-m", "scripts.bench_scale", "--worker"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime + stime


def children_named(name: str) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        comm = text[text.index("(") + 1 : text.rindex(")")]
        ppid = int(text.rsplit(")", 1)[1].split()[1])
        if ppid == os.getpid() and comm.startswith(name):
            found.append(int(stat.parent.name))
    return found


def persistence(metrics_url: str) -> tuple[float, float]:
    """The dev server's persistence requests so far and their summed latency (seconds)."""
    text = urllib.request.urlopen(metrics_url, timeout=5).read().decode()
    requests = latency = 0.0
    for line in text.splitlines():
        if line.startswith("persistence_latency_count"):
            requests += float(line.rsplit(" ", 1)[1])
        elif line.startswith("persistence_latency_sum"):
            latency += float(line.rsplit(" ", 1)[1])
    return requests, latency


@dataclass
class Measured:
    workers: int
    rate: float
    server_cores: float
    worker_cores: float
    persistence_per_s: float
    persistence_ms: float


def stop(workers: list[subprocess.Popen[str]]) -> None:
    """SIGTERM, as a process manager stops `journeys worker`; killed after 15 s."""
    for worker in workers:
        if worker.poll() is None:
            worker.send_signal(signal.SIGTERM)
    for worker in workers:
        try:
            worker.wait(timeout=15)
        except subprocess.TimeoutExpired:
            print(f"worker {worker.pid} did not stop within 15 s after SIGTERM: killed")
            worker.kill()
            worker.wait()


async def run_worker(address: str, queue: str, database: str, smtp_port: int) -> None:
    client = await Client.connect(address, data_converter=DATA_CONVERTER, runtime=core_runtime())
    store = Store.open(database)
    settings = Settings(smtp_host="127.0.0.1", smtp_port=smtp_port)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    async with build_worker(client, queue, activities_for(store, default_channels(settings))):
        print("worker polling", flush=True)
        await stop.wait()
    store.close()


async def main(runs: int, counts: list[int], concurrency: int, as_rows: bool) -> None:
    work = Path(tempfile.mkdtemp(prefix="journeys-bench-scale-"))
    metrics_port = free_port()
    env = await WorkflowEnvironment.start_local(
        data_converter=DATA_CONVERTER,
        dev_server_existing_path=temporal_cli(),
        dev_server_database_filename=str(work / "temporal.db"),
        dev_server_extra_args=[*sqlite_pragma_args(), "--metrics-port", str(metrics_port)],
        runtime=core_runtime(),
    )
    metrics_url = f"http://127.0.0.1:{metrics_port}/metrics"
    [server_pid] = children_named("temporal")
    capture = MailCapture(work / "mail")
    capture.start()
    database = f"sqlite:///{work / 'journeys.db'}"
    store = Store.open(database)
    journey = load_journey_text(THREE_SENDS)
    from app.journeys import JourneyService

    async def connect() -> Any:
        return env.client

    JourneyService(store, connect, "unused").publish_definition(journey)
    now = datetime.now(UTC)
    total = (runs + 10) * len(counts)  # each count: 10 warm-up runs, then `runs`
    for i in range(total):
        store.customers.upsert(CustomerUpsert(customer_id=f"s{i}", email=f"s{i}@example.com"), now)
    address = env.client.service_client.config.target_host
    results: list[Measured] = []
    offset = 0
    workers: list[subprocess.Popen[str]] = []
    try:
        for count in counts:
            queue = f"scale-{count}-{uuid.uuid4().hex[:6]}"
            workers = [
                subprocess.Popen(  # noqa: ASYNC220 (started before the clock)
                    [*WORKER, address, queue, database, str(capture.port)],
                    stdout=subprocess.PIPE,
                    text=True,
                )
                for _ in range(count)
            ]
            for worker in workers:
                assert worker.stdout is not None
                worker.stdout.readline()  # "worker polling"
            gate = asyncio.Semaphore(concurrency)

            async def one(i: int, queue: str = queue, gate: asyncio.Semaphore = gate) -> None:
                async with gate:
                    await run_journey(
                        env.client, store, journey, queue, f"s{i}", f"scale/{queue}/{i}"
                    )

            await asyncio.gather(*(one(offset + i) for i in range(10)))  # warm-up
            offset += 10
            cpu_before = [cpu_seconds(server_pid)] + [cpu_seconds(w.pid) for w in workers]
            persisted_before = persistence(metrics_url)
            started = time.perf_counter()
            await asyncio.gather(*(one(offset + i) for i in range(runs)))
            elapsed = time.perf_counter() - started
            offset += runs
            cpu_after = [cpu_seconds(server_pid)] + [cpu_seconds(w.pid) for w in workers]
            persisted_after = persistence(metrics_url)
            stop(workers)
            used = [(a - b) / elapsed for a, b in zip(cpu_after, cpu_before, strict=True)]
            requests = persisted_after[0] - persisted_before[0]
            latency = persisted_after[1] - persisted_before[1]
            results.append(
                Measured(
                    workers=count,
                    rate=runs / elapsed,
                    server_cores=used[0],
                    worker_cores=sum(used[1:]),
                    persistence_per_s=requests / elapsed,
                    persistence_ms=1000 * latency / requests if requests else 0.0,
                )
            )
            m = results[-1]
            print(
                f"{count} worker process(es): {m.rate:5.1f} completed/s; dev server "
                f"{m.server_cores:.2f} cores, workers {m.worker_cores:.2f} cores; persistence "
                f"{m.persistence_per_s:.0f} requests/s, mean {m.persistence_ms:.1f} ms"
            )
    finally:
        stop(workers)  # none left behind polling a server that is gone
        capture.stop()
        store.close()
        await env.shutdown()
        shutil.rmtree(work, ignore_errors=True)  # the dev server's and the store's files
    if as_rows and results:
        one_worker = results[0].rate
        for m in results:
            emit(
                Row(
                    metric=f"3-step journey with {m.workers} worker process(es) (vs 1 worker)",
                    product=m.rate,
                    baseline=one_worker,
                    unit="/s",
                    goal="(report)",
                    command=f"python -m scripts.bench_scale --runs {runs} --workers {m.workers}",
                    spread=(
                        f"server {m.server_cores:.2f} cores, workers {m.worker_cores:.2f}; "
                        f"{m.persistence_per_s:.0f} persistence req/s, "
                        f"{m.persistence_ms:.1f} ms mean"
                    ),
                )
            )


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        address, queue, database, smtp_port = sys.argv[2:6]
        asyncio.run(run_worker(address, queue, database, int(smtp_port)))
        sys.exit(0)
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--runs", type=int, default=150, help="runs per worker count")
    parser.add_argument("--workers", default="1,2,3", help="worker counts, comma-separated")
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--json", action="store_true", help="print the table's rows too")
    args = parser.parse_args()
    counts = [int(n) for n in args.workers.split(",")]
    asyncio.run(main(args.runs, counts, args.concurrency, args.json))

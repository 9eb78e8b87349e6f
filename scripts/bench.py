"""Benchmark: completed 3-step journeys per second against a bare Temporal workflow.

Both run on the same file-backed Temporal dev server (SQLite, WAL) in the same process, with
the same worker and the same real send activity (SMTP to a local capture, outbox in a SQLite
store). The variants alternate in `--rounds` rounds (the order turning each round), so that
the noise of a shared machine falls on both alike. Printed: each rate (the median of the
rounds, and their spread) and the ratios to the bare baseline; with `--json`, the table's
rows (scripts/bench_all.py).

    python -m scripts.bench [--runs 200] [--concurrency 50] [--rounds 3] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from temporalio.testing import WorkflowEnvironment

from app.journeys import JourneyService
from domain.contracts import EnrollCustomer, SendMessage
from domain.customers import CustomerUpsert
from domain.events import CustomerEvent
from domain.journey import JourneyDefinition
from domain.loader import load_journey_text
from domain.runs import Enrollment
from scripts.bench_baseline import BareThreeSends
from scripts.bench_table import Row, emit, median, spread
from store.store import Store
from workers.binaries import temporal_cli
from workers.client import core_runtime
from workers.data_converter import DATA_CONVERTER
from workers.dev_server import sqlite_pragma_args
from workers.mail_capture import MailCapture
from workers.settings import Settings
from workers.worker import WORKFLOWS, activities_for, build_worker, default_channels
from workflows.journey import JourneyWorkflow

THREE_SENDS = """
id: bench_three
name: Three sends
category: transactional
trigger: {event: bench_started}
templates:
  note: {subject: "Note {{ journey.id }}", text: "Hello {{ profile.customer_id }}"}
steps:
  - {id: first, send: {channel: email, template: note}}
  - {id: second, send: {channel: email, template: note}}
  - {id: third, send: {channel: email, template: note}}
"""


async def timed(runs: int, concurrency: int, one: Callable[[int], Awaitable[Any]]) -> float:
    """Runs per second for `runs` calls of `one`, at most `concurrency` in flight."""
    gate = asyncio.Semaphore(concurrency)

    async def guarded(i: int) -> None:
        async with gate:
            await one(i)

    started = time.perf_counter()
    await asyncio.gather(*(guarded(i) for i in range(runs)))
    return runs / (time.perf_counter() - started)


async def main(runs: int, concurrency: int, rounds: int = 3, as_rows: bool = False) -> None:
    work = Path(tempfile.mkdtemp(prefix="journeys-bench-"))
    env = await WorkflowEnvironment.start_local(
        data_converter=DATA_CONVERTER,
        dev_server_existing_path=temporal_cli(),
        dev_server_database_filename=str(work / "temporal.db"),
        dev_server_extra_args=sqlite_pragma_args(),
        runtime=core_runtime(),  # the core's operator notes filtered, as in the product
    )
    capture = MailCapture(work / "mail")
    capture.start()
    store = Store.open(f"sqlite:///{work / 'journeys.db'}")
    settings = Settings(smtp_host=capture.host, smtp_port=capture.port)
    queue = f"bench-{uuid.uuid4().hex[:8]}"
    service = JourneyService(store, lambda: _client(env), queue)
    journey = load_journey_text(THREE_SENDS)
    service.publish_definition(journey)
    now = datetime.now(UTC)
    for i in range(runs * 3 + 10):
        store.customers.upsert(CustomerUpsert(customer_id=f"c{i}", email=f"c{i}@example.com"), now)

    def requests(prefix: str) -> list[SendMessage]:
        return [
            SendMessage(
                idempotency_key=f"{prefix}/{step}",
                journey_id="bench_bare",
                version=1,
                category="transactional",
                workflow_id=prefix,
                entry_id=prefix,
                step_id=step,
                customer_id=prefix.split("/")[-1],
                channel="email",
                template_name="note",
                template=journey.templates["note"],
                context={"journey": {"id": "bare"}},
                requested_at=datetime.now(UTC),
            )
            for step in ("first", "second", "third")
        ]

    async def bare(i: int) -> None:
        await env.client.execute_workflow(
            BareThreeSends.run, requests(f"bare/c{i}"), id=f"bare/{queue}/{i}", task_queue=queue
        )

    async def engine(i: int) -> None:
        await run_journey(
            env.client, store, journey, queue, f"c{runs + 10 + i}", f"engine/{queue}/{i}"
        )

    async def product(i: int) -> None:
        customer = f"c{2 * runs + 10 + i}"
        [result] = await service.ingest([_event(customer)])
        [delivery] = result.deliveries
        assert delivery.workflow_id is not None
        await env.client.get_workflow_handle(delivery.workflow_id).result()

    worker = build_worker(
        env.client,
        queue,
        activities_for(store, default_channels(settings)),
        workflows=[*WORKFLOWS, BareThreeSends],
    )
    per_round = max(1, runs // rounds)
    rates: dict[str, list[float]] = {"bare": [], "engine": [], "product": []}
    variants: dict[str, Callable[[int], Awaitable[Any]]] = {
        "bare": lambda i: bare(i + 10),
        "engine": engine,
        "product": product,
    }
    try:
        async with worker:
            await timed(10, 10, bare)  # warm-up, not counted
            for r in range(rounds):
                order = list(variants) if r % 2 == 0 else list(reversed(variants))
                for name in order:
                    rates[name].append(
                        await timed(per_round, concurrency, shifted(variants[name], r * per_round))
                    )
    finally:
        capture.stop()
        store.close()
        await env.shutdown()
    delivered = capture.count()
    bare_rate, engine_rate, product_rate = (median(rates[n]) for n in variants)
    print(
        f"runs per variant: {per_round * rounds} in {rounds} rounds, concurrency {concurrency}, "
        f"emails captured: {delivered}"
    )
    print(f"bare workflow, 3 send activities      : {bare_rate:7.1f} completed/s")
    print(
        f"JourneyWorkflow, 3 send steps          : {engine_rate:7.1f} completed/s"
        f"  ratio {engine_rate / bare_rate:.2f}"
    )
    print(
        f"event ingested -> journey completed    : {product_rate:7.1f} completed/s"
        f"  ratio {product_rate / bare_rate:.2f}"
    )
    ratios = [e / b for e, b in zip(rates["engine"], rates["bare"], strict=True)]
    print(f"engine/bare ratio per round: {', '.join(f'{x:.2f}' for x in ratios)}")
    if as_rows:
        command = f"python -m scripts.bench --runs {runs} --rounds {rounds}"
        emit(
            Row(
                metric="3-step journey completed (JourneyWorkflow vs bare workflow)",
                product=engine_rate,
                baseline=bare_rate,
                unit="/s",
                goal=">= 0.95",
                met=engine_rate / bare_rate >= 0.95,
                command=command,
                spread=f"ratio {min(ratios):.2f}-{max(ratios):.2f} over {rounds} rounds",
            )
        )
        emit(
            Row(
                metric="event ingested -> 3-step journey completed (vs bare workflow)",
                product=product_rate,
                baseline=bare_rate,
                unit="/s",
                goal="(report)",
                command=command,
                spread=spread(rates["product"], "/s"),
            )
        )


async def run_journey(
    client: Any,
    store: Store,
    journey: JourneyDefinition,
    queue: str,
    customer: str,
    workflow_id: str,
) -> None:
    """One run of `journey` to its end: its trigger logged and its enrollment stored first (the
    run log needs it), then the workflow, as the engine starts it."""
    trigger = _event(customer)
    run = Enrollment(
        entry_id=uuid.uuid4().hex,
        workflow_id=workflow_id,
        journey_id=journey.id,
        version=1,
        customer_id=customer,
        trigger_event_id=trigger.event_id,
        entered_at=datetime.now(UTC),
    )
    await asyncio.to_thread(store.events.append, trigger, run.entered_at)
    await asyncio.to_thread(store.runs.enroll, run)
    await client.execute_workflow(
        JourneyWorkflow.run,
        EnrollCustomer(
            journey=journey,
            version=1,
            customer_id=customer,
            entry_id=run.entry_id,
            trigger=trigger,
        ),
        id=run.workflow_id,
        task_queue=queue,
    )


def shifted(one: Callable[[int], Awaitable[Any]], offset: int) -> Callable[[int], Awaitable[Any]]:
    """`one` for the indices of a later round (each run has its own customer and id)."""

    def call(i: int) -> Awaitable[Any]:
        return one(i + offset)

    return call


def _event(customer: str) -> CustomerEvent:
    return CustomerEvent(
        event_id=uuid.uuid4().hex,
        customer_id=customer,
        type="bench_started",
        occurred_at=datetime.now(UTC),
    )


async def _client(env: WorkflowEnvironment) -> Any:
    return env.client


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds of each")
    parser.add_argument("--json", action="store_true", help="print the table's rows too")
    args = parser.parse_args()
    asyncio.run(main(args.runs, args.concurrency, args.rounds, args.json))

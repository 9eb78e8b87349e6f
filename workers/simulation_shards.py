"""Run one simulation as several processes, each with its own time-skipping server and a slice
of the cohort, and add up their counts. Customers do not interact (caps and quiet hours are
per customer) and the behaviour model's choices depend on the seed, the customer and the day
alone, so any number of processes gives the same result as one. It uses every core: one worker
process alone keeps about one core busy.

The processes are forked when this process runs no other thread (the command line starts them
before any): a forked process starts with the modules its parent already imported instead of
importing the whole command line again (about 3 s of CPU each on the 2-core machine). Otherwise
they are spawned.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import queue
import time
import traceback
from collections.abc import Callable
from typing import Any

from domain.customers import CustomerProfile
from domain.journey import JourneyDefinition
from domain.send_policy import SendPolicy
from domain.simulation import Behaviour
from workers.simulator import SimulationResult, simulate


def _shard(
    index: int,
    journey: JourneyDefinition,
    profiles: list[CustomerProfile],
    days: int,
    behaviour: Behaviour,
    policy: SendPolicy | None,
    messages: Any,
) -> None:
    try:
        result = asyncio.run(
            simulate(
                journey,
                profiles,
                days,
                behaviour,
                lambda day: messages.put(("day", index, day)),
                policy,
            )
        )
    except BaseException:
        messages.put(("failed", index, traceback.format_exc()))
        raise
    messages.put(("done", index, result))


def _single_threaded() -> bool:
    """Whether this process runs one thread only, Temporal's native ones included."""
    try:
        return len(os.listdir("/proc/self/task")) == 1
    except OSError:
        return False


def _context() -> Any:
    # A fork copies one thread only: with a Temporal runtime already running here (a test that
    # simulated before, an embedding program) the copy would wait forever on threads it lacks.
    if "fork" in multiprocessing.get_all_start_methods() and _single_threaded():
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context("spawn")


def simulate_in_processes(
    journey: JourneyDefinition,
    profiles: list[CustomerProfile],
    days: int,
    behaviour: Behaviour,
    processes: int,
    on_day: Callable[[int], None] | None = None,
    policy: SendPolicy | None = None,
) -> SimulationResult:
    """`simulate` over `processes` slices of the cohort at once; `on_day` follows the slowest."""
    began = time.perf_counter()
    processes = max(1, min(processes, len(profiles)))
    if processes == 1:
        result = asyncio.run(simulate(journey, profiles, days, behaviour, on_day, policy))
        return result
    context = _context()
    messages = context.Queue()
    workers = [
        context.Process(
            target=_shard,
            args=(i, journey, profiles[i::processes], days, behaviour, policy, messages),
            daemon=True,
        )
        for i in range(processes)
    ]
    for worker in workers:
        worker.start()
    results: dict[int, SimulationResult] = {}
    reached = [0] * processes
    shown = 0
    try:
        while len(results) < processes:
            try:
                kind, index, value = messages.get(timeout=0.5)
            except queue.Empty:
                if all(w.is_alive() for i, w in enumerate(workers) if i not in results):
                    continue
                try:  # what a process sent just before it exited may still be on its way
                    kind, index, value = messages.get(timeout=5)
                except queue.Empty:
                    raise RuntimeError("a simulation process exited without a result") from None
            if kind == "failed":
                raise RuntimeError(f"simulation process {index} failed:\n{value}")
            if kind == "done":
                results[index] = value
                value = days
            reached[index] = value
            while on_day is not None and shown < min(reached):
                shown += 1
                on_day(shown)
    finally:
        for worker in workers:
            worker.join(timeout=30)
            if worker.is_alive():
                worker.kill()
    merged = results[0]
    for index in range(1, processes):
        merged = merged.merge(results[index])
    merged.seconds = time.perf_counter() - began
    return merged

"""Run one simulation as several processes, each with its own time-skipping server and a slice
of the cohort, and add up their counts. Customers do not interact (caps and quiet hours are
per customer) and the behaviour model's choices depend on the seed, the customer and the day
alone, so any number of processes gives the same result as one. It uses every core: one worker
process alone keeps about one core busy."""

from __future__ import annotations

import asyncio
import multiprocessing
import queue
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
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
    ticks: Any,
) -> SimulationResult:
    return asyncio.run(
        simulate(journey, profiles, days, behaviour, lambda day: ticks.put((index, day)), policy)
    )


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
    spawn = multiprocessing.get_context("spawn")
    with spawn.Manager() as manager, ProcessPoolExecutor(processes, mp_context=spawn) as pool:
        ticks = manager.Queue()
        futures = [
            pool.submit(_shard, i, journey, profiles[i::processes], days, behaviour, policy, ticks)
            for i in range(processes)
        ]
        reached = [0] * processes
        shown = 0
        while not all(f.done() for f in futures):
            try:
                index, day = ticks.get(timeout=0.2)
            except queue.Empty:
                continue
            reached[index] = day
            while on_day is not None and shown < min(reached):
                shown += 1
                on_day(shown)
        results = [f.result() for f in futures]
    merged = results[0]
    for other in results[1:]:
        merged = merged.merge(other)
    merged.seconds = time.perf_counter() - began
    return merged

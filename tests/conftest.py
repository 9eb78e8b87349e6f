"""Shared fixtures: a time-skipping Temporal test server for each test module.

One server per module, not per session: the server's time skipping is one lock count for
every client, and in one CI run it stayed locked after some module: every timer test after
it hung until its timeout, and the run ran out of time. A module's server can stall only that
module. Starting a server costs well under a second."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

import pytest
import pytest_asyncio
from temporalio.testing import WorkflowEnvironment

from workers.binaries import temporal_test_server
from workers.data_converter import DATA_CONVERTER


@asynccontextmanager
async def time_skipping_server() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=DATA_CONVERTER,
        test_server_existing_path=temporal_test_server(),
    )
    try:
        yield env
    finally:
        await env.shutdown()


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def time_skipping_env(
    request: pytest.FixtureRequest,
) -> AsyncIterator[WorkflowEnvironment]:
    async with time_skipping_server() as env:
        yield env
        await _time_still_skips(env, request.module.__name__)


async def _time_still_skips(env: WorkflowEnvironment, module: str) -> None:
    """Fails the module that left the server's time skipping locked, naming it."""
    try:
        await asyncio.wait_for(env.sleep(timedelta(days=1)), timeout=20)
    except TimeoutError:
        pytest.fail(f"{module} left the time-skipping server's time locked: a day did not pass")

"""Audience-run fixtures: a real Temporal dev server (in memory) per test module."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio
from temporalio.testing import WorkflowEnvironment

from workers.binaries import temporal_cli
from workers.data_converter import DATA_CONVERTER


@pytest_asyncio.fixture(scope="module")
async def dev_env() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=temporal_cli(), data_converter=DATA_CONVERTER, ui=False
    )
    try:
        yield env
    finally:
        await env.shutdown()

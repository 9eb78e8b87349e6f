"""Support-step tests get a time-skipping server each, like the case tests (see there)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from workers.binaries import temporal_test_server


@pytest_asyncio.fixture
async def time_skipping_env() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=pydantic_data_converter,
        test_server_existing_path=temporal_test_server(),
    )
    try:
        yield env
    finally:
        await env.shutdown()


from tests.store.conftest import backend_url, customer, postgres_session_url, store  # noqa: E402

__all__ = ["backend_url", "customer", "postgres_session_url", "store", "time_skipping_env"]

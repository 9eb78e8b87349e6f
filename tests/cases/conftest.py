"""Case tests get a time-skipping server each: a case left open by one test (with no worker
for its queue any more) must not hold up the clock of the next."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio
from temporalio.testing import WorkflowEnvironment

from tests.conftest import time_skipping_server


@pytest_asyncio.fixture
async def time_skipping_env() -> AsyncIterator[WorkflowEnvironment]:
    async with time_skipping_server() as env:
        yield env

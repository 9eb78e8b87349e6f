"""Start-step tests: one store, Temporal dev server and worker (with the real activities and
journey service) for the directory; every test publishes its own journeys and customers."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from tests.api.conftest import Stack, running_stack


@pytest_asyncio.fixture(scope="module")
async def stack(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Stack]:
    async with running_stack(tmp_path_factory.mktemp("starts") / "journeys.db") as running:
        yield running

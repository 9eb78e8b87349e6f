"""A worker process that wedges mid-batch, for a test to kill: the real worker, whose service
stops before its `hang_after`+1th start (the page's enrollments already committed).

    python -m tests.audience_runs.crash_worker ADDRESS DB_URL QUEUE SEGMENTS_FILE HANG_AFTER MARKER
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from temporalio.client import Client

from activities.audience import AudienceActivities
from app.journeys import JourneyService
from domain.segments import load_segments_file
from store.store import Store
from tests.api.conftest import RecordingChannel
from workers.data_converter import DATA_CONVERTER
from workers.worker import activities_for, build_worker


class WedgingService(JourneyService):
    def __init__(self, *args: Any, hang_after: int, marker: Path, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.starts = 0
        self.hang_after = hang_after
        self.marker = marker

    async def _start(self, *args: Any, **kwargs: Any) -> None:
        self.starts += 1
        if self.starts > self.hang_after:
            self.marker.write_text(str(self.hang_after))
            await asyncio.Event().wait()  # wedged until the process is killed
        await super()._start(*args, **kwargs)


async def main(
    address: str, db_url: str, queue: str, segments: str, hang: int, marker: str
) -> None:
    client = await Client.connect(address, data_converter=DATA_CONVERTER)
    store = Store.open(db_url)

    async def connect() -> Client:
        return client

    service = WedgingService(store, connect, queue, hang_after=hang, marker=Path(marker))
    audiences = AudienceActivities(store, load_segments_file(segments), service)
    activities: list[Callable[..., Any]] = [
        *activities_for(store, {"email": RecordingChannel()}),
        audiences.measure_audience,
        audiences.enroll_audience_batch,
    ]
    async with build_worker(client, queue, activities):
        await asyncio.Event().wait()


if __name__ == "__main__":
    address, db_url, queue, segments, hang, marker = sys.argv[1:7]
    asyncio.run(main(address, db_url, queue, segments, int(hang), marker))

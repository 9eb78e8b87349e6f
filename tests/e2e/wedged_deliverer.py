"""A process that accepts an event and dies delivering it, for a test to kill: its service
wedges right before the run's start (the run's row is already written), holding the
customer's delivery lease.

    python -m tests.e2e.wedged_deliverer ADDRESS DB_URL QUEUE CUSTOMER EVENT_ID MARKER
"""

from __future__ import annotations

import asyncio
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from temporalio.client import Client

from app.journeys import JourneyService
from domain.events import CustomerEvent
from store.store import Store
from workers.data_converter import DATA_CONVERTER

LEASE = timedelta(seconds=2)


class WedgingService(JourneyService):
    def __init__(self, *args: Any, marker: Path, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.marker = marker
        self.deliverer.lease = LEASE

    async def _start(self, *args: Any, **kwargs: Any) -> None:
        self.marker.write_text("wedged")
        await asyncio.Event().wait()  # until the process is killed


async def main(
    address: str, db_url: str, queue: str, customer: str, event_id: str, marker: str
) -> None:
    client = await Client.connect(address, data_converter=DATA_CONVERTER)

    async def connect() -> Client:
        return client

    service = WedgingService(Store.open(db_url), connect, queue, marker=Path(marker))
    trigger = CustomerEvent(
        event_id=event_id, customer_id=customer, type="race_started", occurred_at=datetime.now(UTC)
    )
    await service.ingest([trigger])


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:7]))

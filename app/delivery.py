"""Delivery: the event log drives the runs.

Every appended event has a pending delivery (store/deliveries.py). A `Deliverer` takes one
customer's lease and delivers that customer's pending events oldest first: for each, the
journeys it triggers are entered and the running runs that read it are signalled with its
position (runs drop positions they have seen, so redelivery is harmless). The request that
appended an event delivers it at once when it can (so its answer says what happened); every
worker also drains the queue, so an accepted event is delivered whatever happened to that
request.

A failure that may heal (Temporal or the database unreachable) leaves the delivery pending and
tries again later; the customer's later events wait behind it, keeping log order. One that will
not heal (a definition that no longer loads, a workflow id Temporal refuses) is parked with its
reason, visible in `journeys events failed` and `GET /events/failed`, and the customer's later
events go on.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import structlog
from sqlalchemy.exc import DataError, IntegrityError, OperationalError
from temporalio.service import RPCError, RPCStatusCode

from domain.events import StoredEvent
from store.deliveries import DeliveryQueue, DeliveryRecord

# A deliverer that dies holds its customers this long at most; one that lives renews it.
LEASE = timedelta(seconds=20)
POLL_SECONDS = 0.2
MAX_BACKOFF = timedelta(seconds=60)

_TRANSIENT_RPC = {
    RPCStatusCode.UNAVAILABLE,
    RPCStatusCode.DEADLINE_EXCEEDED,
    RPCStatusCode.RESOURCE_EXHAUSTED,
    RPCStatusCode.ABORTED,
    RPCStatusCode.CANCELLED,
    RPCStatusCode.INTERNAL,
    RPCStatusCode.UNKNOWN,
}


def is_transient(exc: BaseException) -> bool:
    """Whether a delivery that failed with `exc` may succeed if tried again later."""
    if isinstance(exc, RPCError):
        return exc.status in _TRANSIENT_RPC
    if isinstance(exc, DataError | IntegrityError):
        return False
    if isinstance(exc, OperationalError | ConnectionError | TimeoutError | OSError):
        return True
    # The Temporal client raises RuntimeError when it cannot connect at all.
    return isinstance(exc, RuntimeError) and "connect" in str(exc).lower()


def describe(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {text}"[:2000]


def backoff(attempts: int) -> timedelta:
    return min(timedelta(seconds=0.5 * 2 ** min(attempts, 10)), MAX_BACKOFF)


def _both(first: Callable[[], None], second: Callable[[], None]) -> None:
    first()
    second()


def _both_then(write: Callable[[], None], read: Callable[[str], Pending], key: str) -> Pending:
    write()
    return read(key)


def log() -> Any:
    return structlog.get_logger("journeys")


def utc_now() -> datetime:
    return datetime.now(UTC)


Pending = tuple[DeliveryRecord, StoredEvent] | None
DeliverEvent = Callable[[DeliveryRecord, StoredEvent], Awaitable[list[dict[str, Any]]]]


class Deliverer:
    """Delivers pending events customer by customer, in log order, under a lease."""

    def __init__(
        self,
        queue: DeliveryQueue,
        deliver_event: DeliverEvent,
        *,
        owner: str | None = None,
        clock: Callable[[], datetime] = utc_now,
        lease: timedelta = LEASE,
    ) -> None:
        self.queue = queue
        self._deliver_event = deliver_event
        self.owner = owner or f"deliverer-{uuid.uuid4().hex[:12]}"
        self.clock = clock
        self.lease = lease

    async def deliver_customer(self, customer_id: str, *, respect_backoff: bool = True) -> str:
        """Deliver the customer's pending events: `done`, `busy` (another deliverer holds the
        customer) or `retrying` (one failed for now and stays pending, with the rest)."""

        def claim_and_next() -> tuple[bool, Pending]:
            if not self.queue.claim(customer_id, self.owner, self.clock(), self.lease):
                return False, None
            return True, self._next_or_release(customer_id)

        claimed, item = await asyncio.to_thread(claim_and_next)
        if not claimed:
            return "busy"
        try:
            return await self._drain_customer(customer_id, item, respect_backoff)
        except BaseException:
            await asyncio.to_thread(self.queue.release, customer_id, self.owner)
            raise

    def _next_or_release(self, customer_id: str) -> Pending:
        """The customer's next pending delivery; with none left, the lease is let go."""
        item = self.queue.next_pending(customer_id)
        if item is None:
            self.queue.release(customer_id, self.owner)
        return item

    async def _drain_customer(self, customer_id: str, item: Pending, respect_backoff: bool) -> str:
        """Deliver from `item` on; each outcome is written and the next read in one hop."""
        """Deliver from `item` on; each outcome is written and the next read in one hop."""
        claimed_at = self.clock()

        async def then_next(write: Callable[[], None]) -> Pending:
            return await asyncio.to_thread(_both_then, write, self._next_or_release, customer_id)

        while item is not None:
            record, event = item
            now = self.clock()
            if respect_backoff and record.attempts and record.next_attempt_at > now:
                await asyncio.to_thread(self.queue.release, customer_id, self.owner)
                return "retrying"
            # Still ours: a long backlog must not outlive the lease (renewed at half time, so
            # a short queue costs no extra transaction).
            if now - claimed_at > self.lease / 2:
                claimed_at = now
                await asyncio.to_thread(self.queue.claim, customer_id, self.owner, now, self.lease)
            try:
                outcome = await self._deliver_event(record, event)
            except Exception as exc:
                if not is_transient(exc):
                    log().warning("delivery parked", event_id=event.event_id, error=describe(exc))
                    item = await then_next(
                        partial(self.queue.park, record.seq, describe(exc), [], now)
                    )
                    continue
                log().info("delivery will be retried", event_id=event.event_id, error=str(exc))

                retry = partial(
                    self.queue.retry_later,
                    record.seq,
                    describe(exc),
                    now + backoff(record.attempts),
                )
                release = partial(self.queue.release, customer_id, self.owner)
                await asyncio.to_thread(_both, retry, release)
                return "retrying"
            failed = [d for d in outcome if d.get("action") == "failed"]
            if failed:
                reason = "; ".join(f"{d['journey_id']}: {d.get('reason', '')}" for d in failed)
                item = await then_next(partial(self.queue.park, record.seq, reason, outcome, now))
            else:
                item = await then_next(partial(self.queue.complete, record.seq, outcome, now))
        return "done"

    async def drain_once(self, limit: int = 100) -> int:
        """Deliver what is due now for up to `limit` customers; how many were drained."""
        customers = await asyncio.to_thread(self.queue.pending_customers, self.clock(), limit)
        drained = 0
        for customer_id in customers:
            if await self.deliver_customer(customer_id) == "done":
                drained += 1
        return drained

    async def run(self, poll_seconds: float = POLL_SECONDS) -> None:
        """Drain forever (a worker's background task); errors are logged and tried again."""
        while True:
            try:
                busy = await self.drain_once()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log().warning("delivery drain failed", error=describe(exc))
                busy = 0
            if not busy:
                await asyncio.sleep(poll_seconds)

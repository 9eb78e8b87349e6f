"""Metrics in Prometheus format: what the store holds, counted at scrape time, and the Temporal
SDK's own metrics.

`StoreCollector` reads the store when scraped, so its series are the whole installation's (the
same from every process that serves them: aggregate with max, not sum): events accepted,
deliveries pending and parked, runs started and ended by journey and outcome, messages by channel
and status, send decisions by decision and rule, the callback and case queues. The API serves
them on `/metrics`; a worker on `JOURNEYS_METRICS_PORT` (`serve_metrics`). The Temporal SDK's
metrics (workflow and activity task latencies, poll results, schedule-to-start, slots, sticky
cache) come from its own Prometheus endpoint on `JOURNEYS_TEMPORAL_METRICS_PORT`
(`workers.client.temporal_metrics`, set on the process's one runtime in `core_runtime`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import Any

from prometheus_client import (
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    CollectorRegistry,
    start_http_server,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from sqlalchemy.sql import ColumnElement

from store import schema
from store.store import Store

CONTENT_TYPE = CONTENT_TYPE_LATEST
CACHE_SECONDS = 5.0
OPEN_CALLBACKS = ("open", "claimed")
OPEN_CASES = ("open",)


def _label(value: Any) -> str:
    return "none" if value is None else str(value)


class StoreCollector(Collector):
    """The installation's state in the store, read on scrape (a few GROUP BYs, some over whole
    tables): at most once per `max_age` seconds, so several scrapers cost one read."""

    def __init__(self, store: Store, max_age: float = CACHE_SECONDS) -> None:
        self.store = store
        self.max_age = max_age
        self._lock = threading.Lock()
        self._cached: tuple[float, list[Metric]] | None = None

    def describe(self) -> Iterable[Metric]:
        return []  # computed on scrape: the registry must not collect to describe

    def collect(self) -> Iterator[Metric]:
        with self._lock:
            if self._cached is None or time.monotonic() - self._cached[0] >= self.max_age:
                self._cached = (time.monotonic(), list(self._read()))
            return iter(self._cached[1])

    def _read(self) -> Iterator[Metric]:
        now = datetime.now(UTC)
        with self.store.engine.connect() as conn:

            def grouped(*columns: Any, where: ColumnElement[bool] | None = None) -> list[Any]:
                query = select(*columns, func.count()).group_by(*columns)
                if where is not None:
                    query = query.where(where)
                return list(conn.execute(query))

            events = CounterMetricFamily(
                "journeys_events_accepted", "Customer events appended to the event log."
            )
            events.add_metric(
                [],
                conn.execute(select(func.count()).select_from(schema.customer_events)).scalar_one(),
            )
            yield events

            d = schema.event_deliveries
            deliveries = GaugeMetricFamily(
                "journeys_deliveries",
                "Event deliveries to runs by status: pending (not yet delivered, or retrying) "
                "and parked (gave up after repeated failures; needs an operator).",
                labels=["status"],
            )
            counts = {"pending": 0, "parked": 0}
            for status, count in grouped(d.c.status, where=d.c.status != "done"):
                counts[status] = count
            for status, count in sorted(counts.items()):
                deliveries.add_metric([status], count)
            yield deliveries
            retrying = GaugeMetricFamily(
                "journeys_deliveries_retrying", "Pending deliveries that failed at least once."
            )
            retrying.add_metric(
                [],
                conn.execute(
                    select(func.count()).where(d.c.status == "pending", d.c.attempts > 0)
                ).scalar_one(),
            )
            yield retrying
            oldest = conn.execute(
                select(func.min(d.c.created_at)).where(d.c.status == "pending")
            ).scalar_one()
            age = GaugeMetricFamily(
                "journeys_deliveries_oldest_pending_seconds",
                "Age of the oldest pending delivery (0 when none): how far runs lag the log.",
            )
            age.add_metric([], max(0.0, (now - _aware(oldest)).total_seconds()) if oldest else 0)
            yield age

            e = schema.enrollments
            started = CounterMetricFamily(
                "journeys_runs_started", "Journey runs started, by journey.", labels=["journey"]
            )
            ended = CounterMetricFamily(
                "journeys_runs_ended",
                "Journey runs ended, by journey and outcome (completed, exited, failed...).",
                labels=["journey", "outcome"],
            )
            running = GaugeMetricFamily(
                "journeys_runs_running", "Journey runs in flight, by journey.", labels=["journey"]
            )
            totals: dict[str, int] = {}
            for journey, status, count in grouped(e.c.journey_id, e.c.status):
                totals[journey] = totals.get(journey, 0) + count
                if status == "running":
                    running.add_metric([journey], count)
                else:
                    ended.add_metric([journey, status], count)
            for journey, count in sorted(totals.items()):
                started.add_metric([journey], count)
            yield started
            yield ended
            yield running

            o = schema.outbox
            messages = CounterMetricFamily(
                "journeys_messages",
                "Messages by channel and status (sent, failed, pending...).",
                labels=["channel", "status"],
            )
            for channel, status, count in grouped(o.c.channel, o.c.status):
                messages.add_metric([channel, status], count)
            yield messages

            s = schema.send_decisions
            decisions = CounterMetricFamily(
                "journeys_send_decisions",
                "Send decisions by decision (sent, deferred, skipped, suppressed, failed) and the "
                "eligibility rule behind them (none when no rule applied).",
                labels=["decision", "rule"],
            )
            for decision, rule, count in grouped(s.c.decision, s.c.rule):
                decisions.add_metric([decision, _label(rule)], count)
            yield decisions

            c = schema.callbacks
            callbacks = GaugeMetricFamily(
                "journeys_callbacks_open",
                "Callback tasks waiting for an agent, by queue and status (open, claimed).",
                labels=["queue", "status"],
            )
            for queue, status, count in grouped(
                c.c.queue, c.c.status, where=c.c.status.in_(OPEN_CALLBACKS)
            ):
                callbacks.add_metric([queue, status], count)
            yield callbacks
            overdue = GaugeMetricFamily(
                "journeys_callbacks_overdue",
                "Open or claimed callback tasks past their due time, by queue.",
                labels=["queue"],
            )
            for queue, count in grouped(
                c.c.queue, where=c.c.status.in_(OPEN_CALLBACKS) & (c.c.due_at < now)
            ):
                overdue.add_metric([queue], count)
            yield overdue

            k = schema.cases
            cases = GaugeMetricFamily(
                "journeys_cases_open",
                "Complaint cases not yet resolved, by queue.",
                labels=["queue"],
            )
            for queue, count in grouped(k.c.queue, where=k.c.status.in_(OPEN_CASES)):
                cases.add_metric([queue], count)
            yield cases
            late = GaugeMetricFamily(
                "journeys_cases_resolution_overdue",
                "Unresolved complaint cases past their resolution due time, by queue.",
                labels=["queue"],
            )
            for queue, count in grouped(
                k.c.queue, where=k.c.status.in_(OPEN_CASES) & (k.c.resolution_due < now)
            ):
                late.add_metric([queue], count)
            yield late


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def registry_for(store: Store, max_age: float = CACHE_SECONDS) -> CollectorRegistry:
    """The store's series and this process's own (process_*: CPU, memory, open files; python_*:
    garbage collection, version)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StoreCollector(store, max_age))
    for collector in (PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR):
        registry.register(collector)
    return registry


def exposition(registry: CollectorRegistry) -> bytes:
    """The registry in the Prometheus text format."""
    return generate_latest(registry)


def serve_metrics(
    port: int, store: Store, host: str = "0.0.0.0", max_age: float = CACHE_SECONDS
) -> Any:
    """Serve the store's metrics at http://host:port/metrics in a thread (a worker's endpoint);
    returns the server (shut it down with `.shutdown()`), None when `port` is 0 (off)."""
    if not port:
        return None
    try:
        server, _thread = start_http_server(port, addr=host, registry=registry_for(store, max_age))
    except OSError as exc:
        raise RuntimeError(
            f"JOURNEYS_METRICS_PORT={port}: cannot serve metrics on {host}:{port} ({exc})"
        ) from exc
    return server

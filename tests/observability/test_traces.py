"""Traces: an HTTP request's span is the parent of the workflow it starts, and that workflow's
spans are the parents of its activities' (API -> StartWorkflow -> RunWorkflow -> send_message)."""

from __future__ import annotations

import http.server
import os
import subprocess
import sys
import threading
from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from tests.api.conftest import event, eventually, new_customer
from tests.observability.conftest import Observed
from workers.settings import REPO_ROOT, Settings
from workers.tracing import configure_tracing, traces_url


class _Switched(SimpleSpanProcessor):
    """Exports while on: the process's provider keeps its processors for good."""

    on = True

    def on_end(self, span: ReadableSpan) -> None:
        if self.on:
            super().on_end(span)


@pytest.fixture(scope="module")
def spans() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    processor = _Switched(exporter)
    configure_tracing(Settings()).add_span_processor(processor)
    yield exporter
    processor.on = False
    exporter.clear()


def _parent(span: ReadableSpan, by_id: dict[int, ReadableSpan]) -> ReadableSpan | None:
    return by_id.get(span.parent.span_id) if span.parent is not None else None


def _ancestry(span: ReadableSpan, by_id: dict[int, ReadableSpan]) -> list[str]:
    names = []
    current: ReadableSpan | None = span
    while current is not None:
        names.append(current.name)
        current = _parent(current, by_id)
    return names


async def test_a_signup_request_is_the_parent_of_its_run_and_of_the_run_s_send(
    spans: InMemorySpanExporter, observed: Observed
) -> None:
    customer_id = await new_customer(observed.api)
    response = await observed.api.post("/events", json=event(customer_id, "signed_up"))
    assert response.status_code == 202, response.text

    def sent() -> list[ReadableSpan]:
        return [
            s
            for s in spans.get_finished_spans()
            if s.name == "RunActivity:send_message"
            and _mentions(s, f"journey/onboarding/{customer_id}")
        ]

    async def probe() -> list[ReadableSpan]:
        return sent()

    [send] = await eventually(probe, what="the welcome's send_message span")
    trace = [s for s in spans.get_finished_spans() if s.context.trace_id == send.context.trace_id]
    by_id = {s.context.span_id: s for s in trace}
    # Temporal's interceptor hangs the workflow's spans (its run, its activities' starts) under
    # the span of the client call that reached it, here the request's start of the run.
    assert _ancestry(send, by_id) == [
        "RunActivity:send_message",
        "StartActivity:send_message",
        "StartWorkflow:JourneyWorkflow",
        "POST /events",
    ]
    [run] = [s for s in trace if s.name == "RunWorkflow:JourneyWorkflow"]
    assert _ancestry(run, by_id)[1:] == ["StartWorkflow:JourneyWorkflow", "POST /events"]
    [request] = [s for s in trace if s.parent is None]
    assert request.name == "POST /events"
    assert (request.attributes or {}).get("http.route") == "/events"
    assert (request.attributes or {}).get("http.status_code") == 202
    # The request's own ASGI send/receive spans are left out: one span per request.
    assert [s.name for s in trace if s.name.startswith("POST /events")] == ["POST /events"]


def _mentions(span: ReadableSpan, workflow_id: str) -> bool:
    attributes = span.attributes or {}
    return attributes.get("temporalWorkflowID") == workflow_id


def test_an_endpoint_is_a_collector_base_address_or_its_traces_url() -> None:
    assert traces_url("http://otel:4318") == "http://otel:4318/v1/traces"
    assert traces_url("http://otel:4318/") == "http://otel:4318/v1/traces"
    assert traces_url("https://otel/v1/traces") == "https://otel/v1/traces"
    with pytest.raises(ValueError, match="JOURNEYS_OTEL_ENDPOINT"):
        traces_url("otel:4318")


class _Collector(http.server.BaseHTTPRequestHandler):
    received: list[tuple[str, str, bytes]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append((self.path, self.headers["Content-Type"], body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *_args: object) -> None:
        pass


def test_spans_leave_the_process_over_otlp_http_to_the_configured_endpoint() -> None:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Collector)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    script = (
        "from opentelemetry import trace\n"
        "from workers.settings import Settings\n"
        "from workers.tracing import configure_tracing\n"
        "provider = configure_tracing(Settings())\n"
        "with trace.get_tracer('test').start_as_current_span('exported-span'):\n"
        "    pass\n"
        "assert provider.force_flush(10_000)\n"
    )
    endpoint = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        subprocess.run(
            [sys.executable, "-c", script],
            env={**os.environ, "JOURNEYS_OTEL_ENDPOINT": endpoint},
            cwd=REPO_ROOT,
            check=True,
            timeout=60,
        )
    finally:
        server.shutdown()
        server.server_close()
    [(path, content_type, body)] = _Collector.received
    assert (path, content_type) == ("/v1/traces", "application/x-protobuf")
    assert b"exported-span" in body and b"journeys" in body  # the span and service.name


def test_an_endpoint_that_is_not_a_url_is_named_in_one_warning_and_exports_nothing() -> None:
    script = (
        "from workers.settings import Settings\n"
        "from workers.logging_setup import configure\n"
        "configure(Settings())\n"
        "from opentelemetry import trace\n"
        "assert not trace.get_tracer_provider()._active_span_processor._span_processors\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        env={**os.environ, "JOURNEYS_OTEL_ENDPOINT": "collector:4318"},
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip() == (
        "JOURNEYS_OTEL_ENDPOINT='collector:4318' is not an http(s) URL (an OTLP/HTTP "
        "collector, e.g. http://127.0.0.1:4318); spans are not exported"
    )

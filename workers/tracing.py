"""Tracing (OpenTelemetry), set up once per process.

Spans leave the process over OTLP/HTTP when `JOURNEYS_OTEL_ENDPOINT` is set (a collector, Jaeger,
Tempo, Honeycomb...), and print to stderr with `JOURNEYS_OTEL_CONSOLE=true`. The API makes one
span per HTTP request (FastAPI instrumentation); every Temporal client of ours carries Temporal's
`TracingInterceptor` (`workers.client.connect`), and a worker takes the interceptors of its
client, so a request's span is the parent of the workflow it starts or signals, and that
workflow's spans the parents of its activities'.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from opentelemetry import trace
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SimpleSpanProcessor,
)
from temporalio.contrib.opentelemetry import TracingInterceptor

from workers.settings import Settings

if TYPE_CHECKING:
    from fastapi import FastAPI

SERVICE = "journeys"
TRACES_PATH = "/v1/traces"
# Probes and scrapes would drown the traces that matter.
UNTRACED_URLS = "/health$,/metrics$"


def traces_url(endpoint: str) -> str:
    """The OTLP/HTTP traces URL for `endpoint`: a collector's base address (as
    OTEL_EXPORTER_OTLP_ENDPOINT takes it, http://collector:4318) or the full traces URL."""
    endpoint = endpoint.strip().rstrip("/")
    if not endpoint.startswith(("http://", "https://")):
        raise ValueError(
            f"JOURNEYS_OTEL_ENDPOINT={endpoint!r} is not an http(s) URL "
            "(an OTLP/HTTP collector, e.g. http://127.0.0.1:4318)"
        )
    return endpoint if endpoint.endswith(TRACES_PATH) else endpoint + TRACES_PATH


def configure_tracing(settings: Settings) -> TracerProvider:
    """This process's tracer provider, made once: exporting over OTLP and/or to the console as
    the settings say (spans are still made without either, for in-process exporters)."""
    current = trace.get_tracer_provider()
    if isinstance(current, TracerProvider):
        return current
    provider = TracerProvider(resource=Resource.create({SERVICE_NAME: SERVICE}))
    if settings.otel_endpoint:
        # Imported here: the exporter pulls in protobuf and requests, which only it needs.
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        try:
            url = traces_url(settings.otel_endpoint)
        except ValueError as exc:
            # As an unknown log level: the process runs, and says once why nothing is exported.
            logging.getLogger(__name__).warning("%s; spans are not exported", exc)
        else:
            provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=url)))
    if settings.otel_console:
        provider.add_span_processor(SimpleSpanProcessor(ConsoleSpanExporter()))
    trace.set_tracer_provider(provider)
    return provider


def temporal_interceptors() -> list[TracingInterceptor]:
    """The interceptors of every Temporal client (and so of every worker built on one)."""
    return [TracingInterceptor()]


def instrument_api(app: FastAPI) -> None:
    """One server span per HTTP request of `app` (none for /health and /metrics)."""
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    FastAPIInstrumentor.instrument_app(
        app, excluded_urls=UNTRACED_URLS, exclude_spans=["receive", "send"]
    )

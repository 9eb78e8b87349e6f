"""The Temporal client every process uses: pydantic data converter and tracing, set once.

Every client and test environment of ours runs on one Temporal runtime per process
(`core_runtime()`): the SDK core's own log lines go to Python logging (logger
`temporalio.core`, WARNING and above) instead of straight to stderr with terminal colour codes,
and the process waits at exit for the runtime's native threads to leave Python (`settle`).
"""

from __future__ import annotations

import atexit
import logging
import os
import sys
import threading
import time

from temporalio.client import Client, TLSConfig
from temporalio.runtime import (
    LogForwardingConfig,
    LoggingConfig,
    PrometheusConfig,
    Runtime,
    TelemetryConfig,
    TelemetryFilter,
)

from workers.data_converter import DATA_CONVERTER
from workers.settings import Settings

CORE_LOGGER = "temporalio.core"

# Core warnings addressed to whoever runs the Temporal server, about capabilities the server
# did not advertise: the embedded servers (the time-skipping test server behind `journeys
# simulate`) never advertise some of them, and a user can do nothing about it.
OPERATOR_NOTES = ("the server did not advertise",)

_runtime: tuple[int, Runtime] | None = None
_settle_registered = False


class _OperatorNotes(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.ERROR:
            return True
        message = record.getMessage()
        return not any(note in message for note in OPERATOR_NOTES)


def core_logger() -> logging.Logger:
    logger = logging.getLogger(CORE_LOGGER)
    if not any(isinstance(f, _OperatorNotes) for f in logger.filters):
        logger.addFilter(_OperatorNotes())
    return logger


def temporal_metrics(port: int, host: str = "0.0.0.0") -> PrometheusConfig | None:
    """The Temporal runtime's Prometheus endpoint at host:port, None when `port` is 0 (off)."""
    if not port:
        return None
    return PrometheusConfig(
        bind_address=f"{host}:{port}", counters_total_suffix=True, durations_as_seconds=True
    )


def telemetry(metrics_port: int = 0) -> TelemetryConfig:
    """The runtime's telemetry: core logs forwarded to Python logging; the SDK's metrics in
    Prometheus format on `metrics_port` when it is set (JOURNEYS_TEMPORAL_METRICS_PORT)."""
    forwarding = LogForwardingConfig(logger=core_logger(), append_target_to_name=False)
    logging_config = LoggingConfig(
        filter=TelemetryFilter(core_level="WARN", other_level="ERROR"), forwarding=forwarding
    )
    return TelemetryConfig(logging=logging_config, metrics=temporal_metrics(metrics_port))


def core_runtime(metrics_port: int = 0) -> Runtime:
    """This process's Temporal runtime, made on first use (a runtime does not survive a fork,
    so a forked process makes its own); `metrics_port` counts only for the first call."""
    global _runtime
    if _runtime is None or _runtime[0] != os.getpid():
        try:
            runtime = Runtime(telemetry=telemetry(metrics_port))
        except Exception as exc:  # the core raises a bare RuntimeError for a taken port
            raise RuntimeError(
                f"JOURNEYS_TEMPORAL_METRICS_PORT={metrics_port}: cannot serve the Temporal "
                f"SDK's metrics there ({exc})"
            ) from exc
        _runtime = (os.getpid(), runtime)
        settle_at_exit()
    return _runtime[1]


def settle(timeout: float = 2.0) -> bool:
    """Wait (up to `timeout` seconds) until no native Temporal thread runs Python code.

    The runtime's Rust threads complete each call by running `loop.call_soon_threadsafe` in
    Python; that call writes to a socket with the GIL released. If the interpreter starts to
    finalize meanwhile, CPython ends the thread when it asks for the GIL back, and the process
    aborts (`Fatal Python error: PyGILState_Release`, exit 134; temporalio/sdk-python#300).
    Sleeping hands the GIL over so such a thread finishes first. Returns whether all did.
    """
    deadline = time.monotonic() + timeout
    while True:
        time.sleep(0.001)  # releases the GIL: a thread waiting for it takes it now
        ours = {thread.ident for thread in threading.enumerate()}
        if all(ident in ours for ident in sys._current_frames()):
            return True
        if time.monotonic() > deadline:
            return False


def settle_at_exit() -> None:
    """Run `settle` at interpreter exit (once), before finalization: atexit handlers run while
    other threads can still take the GIL."""
    global _settle_registered
    if not _settle_registered:
        atexit.register(settle)
        _settle_registered = True


async def connect(settings: Settings) -> Client:
    from workers.tracing import temporal_interceptors  # OpenTelemetry: only for a connection

    tls: bool | TLSConfig = settings.temporal_tls
    if settings.temporal_tls_cert and settings.temporal_tls_key:
        tls = TLSConfig(
            client_cert=settings.temporal_tls_cert.read_bytes(),
            client_private_key=settings.temporal_tls_key.read_bytes(),
        )
    return await Client.connect(
        settings.temporal_address,
        namespace=settings.temporal_namespace,
        data_converter=DATA_CONVERTER,
        interceptors=temporal_interceptors(),
        tls=tls,
        api_key=settings.temporal_api_key,
        runtime=core_runtime(settings.temporal_metrics_port),
    )

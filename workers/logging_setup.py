"""Structured logging (structlog) and tracing (OpenTelemetry), set up once per process.

Every line logged from a workflow or an activity carries the journey fields (`JOURNEY_FIELDS`:
journey, version, customer, step, workflow_id): workflows pass them as `extra` to
`workflow.logger`, and the worker's `JourneyLogContext` interceptor binds them (from the
activity's input and info) as structlog context for the activity's duration, which both
structlog lines and `activity.logger`'s records pick up. With JOURNEYS_LOG_JSON=true each line,
structlog's or the standard library's, is one JSON object.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, TextIO

import structlog
from temporalio import activity, workflow
from temporalio.worker import (
    ActivityInboundInterceptor,
    ExecuteActivityInput,
    Interceptor,
)

from workers.settings import Settings
from workers.tracing import configure_tracing

JOURNEY_FIELDS = ("journey", "version", "customer", "step", "workflow_id")
# Where an activity's input names each journey field (pydantic models: SendMessage, ...).
INPUT_FIELDS = (
    ("journey_id", "journey"),
    ("version", "version"),
    ("customer_id", "customer"),
    ("step_id", "step"),
    ("workflow_id", "workflow_id"),
)
# A LogRecord's own attributes; any other attribute came from `extra` and is logged too.
RECORD_ATTRIBUTES = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime"}
TEMPORAL_EXTRAS = ("temporal_activity", "temporal_workflow")

# Loggers of our own code (stdlib logging; the product's own lines go through structlog), and
# the two temporalio loggers our activities and workflows log through ("message sent"). Every
# other logger is a library's (aiosmtpd's `mail.log` logs each SMTP connection, Alembic each
# migration, uvicorn, httpx, the Temporal SDK): at INFO those are noise, logged from WARNING.
OWN_LOGGERS = (
    "temporalio.activity",
    "temporalio.workflow",
    "journeys",
    "domain",
    "store",
    "activities",
    "workflows",
    "workers",
    "entrypoints",
    "app",
)
LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def levels(name: str) -> tuple[int, int]:
    """The level of our own logs and of the libraries' for JOURNEYS_LOG_LEVEL=`name`:
    INFO keeps libraries at WARNING, DEBUG shows everything, WARNING and above apply to all."""
    level = logging.getLevelName(name.strip().upper())
    if not isinstance(level, int):
        raise ValueError(f"JOURNEYS_LOG_LEVEL={name!r} is not one of {', '.join(LEVELS)}")
    libraries = level if level <= logging.DEBUG else max(level, logging.WARNING)
    return level, libraries


def configure(settings: Settings, stream: TextIO | None = None) -> None:
    """Set up logging (to `stream`, stderr by default) and tracing as `settings` say."""
    try:
        level, libraries = levels(settings.log_level)
        unknown = ""
    except ValueError as exc:
        (level, libraries), unknown = levels("INFO"), str(exc)
    _install_handler(settings.log_json, stream)
    logging.getLogger().setLevel(libraries)
    # In JSON the run's details are fields of their own, not text appended to the message.
    activity.logger.activity_info_on_message = not settings.log_json
    workflow.logger.workflow_info_on_message = not settings.log_json
    for name in OWN_LOGGERS:
        logging.getLogger(name).setLevel(level)
    renderer = (
        structlog.processors.JSONRenderer()
        if settings.log_json
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(file=stream or sys.stderr),
    )
    configure_tracing(settings)
    if unknown:
        log().warning(f"{unknown}; logging at INFO")


def log() -> structlog.stdlib.BoundLogger:
    return structlog.get_logger("journeys")


# --- the journey fields on every line ----------------------------------------------------------


def _install_handler(json_lines: bool, stream: TextIO | None) -> None:
    """Our one handler on the root logger (replacing the one an earlier call installed). As
    logging.basicConfig, none is added where the host already set handlers (pytest, an
    embedding application), unless a stream is asked for."""
    root = logging.getLogger()
    for handler in [h for h in root.handlers if getattr(h, "journeys", False)]:
        root.removeHandler(handler)
    if root.handlers and stream is None:
        return
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.journeys = True  # type: ignore[attr-defined]
    handler.setFormatter(JourneyFormatter(json_lines=json_lines))
    root.addHandler(handler)


def record_fields(record: logging.LogRecord) -> dict[str, Any]:
    """The journey fields of a standard-library record: its `extra`, else the structlog context
    bound where it was logged, else the workflow id Temporal's loggers attach."""
    context = structlog.contextvars.get_contextvars()
    fields = {name: record.__dict__.get(name, context.get(name)) for name in JOURNEY_FIELDS}
    if fields["workflow_id"] is None:
        for extra in TEMPORAL_EXTRAS:
            temporal = record.__dict__.get(extra)
            if isinstance(temporal, dict) and temporal.get("workflow_id"):
                fields["workflow_id"] = temporal["workflow_id"]
    return _from_workflow_id(fields)


def _from_workflow_id(fields: dict[str, Any]) -> dict[str, Any]:
    """Fill journey and customer from a journey run's id (journey/{journey}/{customer}[/...])."""
    parts = str(fields.get("workflow_id") or "").split("/")
    if len(parts) >= 3 and parts[0] == "journey":
        fields["journey"] = fields["journey"] or parts[1]
        fields["customer"] = fields["customer"] or parts[2]
    return fields


def _is_temporal(record: logging.LogRecord) -> bool:
    return any(extra in record.__dict__ for extra in TEMPORAL_EXTRAS)


class JourneyFormatter(logging.Formatter):
    """Standard-library records as structlog renders its own: a JSON object per line (level,
    logger, timestamp, the message as `event`, the journey fields, any other `extra`), or the
    message with the journey fields appended as key=value."""

    def __init__(self, *, json_lines: bool) -> None:
        super().__init__("%(message)s")
        self.json_lines = json_lines

    def format(self, record: logging.LogRecord) -> str:
        fields = record_fields(record)
        if not self.json_lines:
            text = super().format(record)
            known = {k: v for k, v in fields.items() if v is not None}
            if not known or not (_is_temporal(record) or "journey" in known):
                return text
            return text + "".join(f" {name}={value}" for name, value in known.items())
        document: dict[str, Any] = {
            "event": record.getMessage(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "timestamp": datetime.fromtimestamp(record.created, UTC).isoformat(),
        }
        if _is_temporal(record) or any(v is not None for v in fields.values()):
            document.update(fields)
        for name, value in record.__dict__.items():
            if name not in RECORD_ATTRIBUTES and name not in document:
                document[name] = value
        if record.exc_info:
            document["exception"] = self.formatException(record.exc_info)
        return json.dumps(document, default=str, ensure_ascii=False)


def activity_fields(info: activity.Info, args: Sequence[Any]) -> dict[str, Any]:
    """The journey fields of an activity run: from its input where it names them, else from
    its journey run's workflow id (journey/{journey}/{customer}[/...])."""
    fields: dict[str, Any] = dict.fromkeys(JOURNEY_FIELDS)
    fields["workflow_id"] = info.workflow_id
    for arg in args:
        for source, name in INPUT_FIELDS:
            value = getattr(arg, source, None)
            if isinstance(value, str | int) and not isinstance(value, bool):
                fields[name] = value
    return _from_workflow_id(fields)


@contextmanager
def journey_context(fields: dict[str, Any]) -> Iterator[None]:
    with structlog.contextvars.bound_contextvars(**fields):
        yield


class JourneyLogContext(Interceptor):
    """Binds each activity's journey fields as log context while it runs (a worker interceptor;
    sync activities run in a thread that copies the context)."""

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _ActivityLogContext(next)


class _ActivityLogContext(ActivityInboundInterceptor):
    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        with journey_context(activity_fields(activity.info(), input.args)):
            return await super().execute_activity(input)
